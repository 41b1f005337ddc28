// The web client: plain JavaScript against the REST API and the event stream (no build step).
// Tokens stay in this tab's sessionStorage and in Authorization headers; the stream URL
// carries only a single-use ticket.
"use strict";

const state = {
  access: sessionStorage.getItem("access"),
  refresh: sessionStorage.getItem("refresh"),
  me: null,
  chat: "all",            // "all" or a conversation id
  lastEventId: null,      // the last seq received: where a new stream resumes
  source: null,           // the EventSource
  retryTimer: null,
};
const $ = (selector) => document.querySelector(selector);

function setStatus(text) {
  $("#status").textContent = text;
  $("#status").dataset.state = text;
}

// --- REST ------------------------------------------------------------------------------------

async function refreshAccess() {
  const response = await fetch("/api/auth/token/refresh/", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({refresh: state.refresh}),
  });
  if (!response.ok) { logout(); throw new Error("session expired"); }
  state.access = (await response.json()).access;
  sessionStorage.setItem("access", state.access);
}

async function api(method, path, body, extraHeaders = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const response = await fetch(path, {
      method,
      headers: {"Content-Type": "application/json", Authorization: `Bearer ${state.access}`,
                ...extraHeaders},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && attempt === 0 && state.refresh) { await refreshAccess(); continue; }
    const data = response.status === 204 ? null : await response.json();
    if (!response.ok) throw Object.assign(new Error(JSON.stringify(data)), {status: response.status});
    return data;
  }
}

// --- Rendering -------------------------------------------------------------------------------

function belongsHere(message) {
  return state.chat === "all" || message.conversation === Number(state.chat);
}

function upsertMessage(message) {
  if (!belongsHere(message)) return;
  let item = document.querySelector(`.message[data-id="${message.id}"]`);
  if (!item) {
    item = document.createElement("li");
    item.className = "message";
    item.dataset.id = message.id;
    item.innerHTML = '<div class="meta"></div><div class="content"></div>';
    item.addEventListener("click", () => markRead(item));
    // keep the list in id order (ids grow with time), whatever order things arrive in
    const after = [...$("#messages").children].find((li) => Number(li.dataset.id) > message.id);
    $("#messages").insertBefore(item, after || null);
  }
  const mine = message.sender === state.me.id;
  item.classList.toggle("mine", mine);
  item.classList.toggle("unread", !mine && !message.read);
  item.querySelector(".meta").textContent =
    `${message.sender_username} → ${message.receiver_username || "conversation " + message.conversation}` +
    ` · ${new Date(message.timestamp).toLocaleTimeString()}` + (message.edited ? " · edited" : "") +
    (!mine && !message.read ? " · unread" : "");
  item.querySelector(".content").textContent = message.content;
  item.querySelector(".content").classList.toggle("edited", message.edited);
  $("#messages").scrollTop = $("#messages").scrollHeight;
}

function addChat(conversation) {
  if (document.querySelector(`[data-chat="${conversation.id}"]`)) return;
  const li = document.createElement("li");
  const names = conversation.participants.map((p) => p.username).join(", ");
  li.innerHTML = `<a href="#" class="chat" data-chat="${conversation.id}"></a>`;
  li.firstChild.textContent = names;
  $("#chats").appendChild(li);
}

async function loadLists() {
  const conversations = await api("GET", "/api/conversations/?page_size=100");
  conversations.results.forEach(addChat);
  await openChat(state.chat);
}

async function openChat(chat) {
  state.chat = chat;
  document.querySelectorAll(".chat").forEach((a) => a.classList.toggle("selected", a.dataset.chat === String(chat)));
  $("#chat-title").textContent = chat === "all" ? "All messages" : document.querySelector(`[data-chat="${chat}"]`).textContent;
  $("#to-label").hidden = chat !== "all";
  const path = chat === "all" ? "/api/messaging/messages/?page_size=100"
                              : `/api/conversations/${chat}/messages/?page_size=100`;
  const page = await api("GET", path);
  $("#messages").replaceChildren();
  page.results.reverse().forEach(upsertMessage);
}

async function markRead(item) {
  if (!item.classList.contains("unread")) return;
  upsertMessage(await api("POST", `/api/messaging/messages/${item.dataset.id}/read/`));
}

// --- Sending: safe to retry with the same Idempotency-Key ------------------------------------

async function send(content, receiver) {
  const key = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now();
  const [path, body] = state.chat === "all"
    ? ["/api/messaging/messages/", {receiver: Number(receiver), content}]
    : [`/api/conversations/${state.chat}/messages/`, {content}];
  for (let attempt = 0; ; attempt++) {
    try {
      return await api("POST", path, body, {"Idempotency-Key": key});
    } catch (error) {
      if (error.status || attempt >= 4) throw error;  // an answer: do not retry
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));  // no answer
    }
  }
}

// --- The event stream ------------------------------------------------------------------------

const handlers = {
  "message.created": upsertMessage,
  "message.updated": upsertMessage,
  "message.read": upsertMessage,
  "message.deleted": (data) => document.querySelector(`.message[data-id="${data.id}"]`)?.remove(),
  "notification.created": () => {},
  "conversation.added": addChat,
  "conversation.removed": (data) => document.querySelector(`[data-chat="${data.id}"]`)?.parentElement.remove(),
  "account.deleted": () => logout(),
  "reset": () => loadLists(),  // too far behind: start over from the lists
};

function closeStream() {
  if (state.source) { state.source.close(); state.source = null; }
  clearTimeout(state.retryTimer);
}

function scheduleReconnect(delay = 1000) {
  clearTimeout(state.retryTimer);
  if (navigator.onLine && state.me) state.retryTimer = setTimeout(connectStream, delay);
}

async function connectStream() {
  closeStream();
  if (!navigator.onLine) { setStatus("offline"); return; }
  setStatus("reconnecting");
  let ticket;
  try {
    ticket = (await api("POST", "/api/events/ticket/")).ticket;
  } catch (error) { scheduleReconnect(2000); return; }
  let url = `/api/events/?ticket=${encodeURIComponent(ticket)}`;
  if (state.lastEventId !== null) url += `&last_event_id=${state.lastEventId}`;
  const source = new EventSource(url);
  state.source = source;
  for (const [type, handle] of Object.entries(handlers)) {
    source.addEventListener(type, (event) => {
      state.lastEventId = event.lastEventId;
      handle(JSON.parse(event.data));
    });
  }
  source.addEventListener("ready", (event) => { state.lastEventId = event.lastEventId; setStatus("live"); });
  source.addEventListener("close", () => { closeStream(); scheduleReconnect(100); });
  // A ticket opens one stream only: reconnect ourselves, with a fresh one and Last-Event-ID.
  source.onerror = () => { if (state.source === source) { closeStream(); setStatus("reconnecting"); scheduleReconnect(); } };
}

window.addEventListener("offline", () => { closeStream(); setStatus("offline"); });
window.addEventListener("online", () => scheduleReconnect(0));

// --- Session ---------------------------------------------------------------------------------

async function start() {
  state.me = await api("GET", "/api/auth/me/");
  $("#me").textContent = `${state.me.username} (#${state.me.id})`;
  $("#login").hidden = true; $("#app").hidden = false; $("#logout").hidden = false;
  await loadLists();
  await connectStream();
}

function logout() {
  closeStream();
  sessionStorage.clear();
  Object.assign(state, {access: null, refresh: null, me: null, lastEventId: null});
  $("#login").hidden = false; $("#app").hidden = true; $("#logout").hidden = true;
  setStatus("signed-out");
}

$("#login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch("/api/auth/token/", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({username: form.get("username"), password: form.get("password")}),
  });
  if (!response.ok) { $("#login-error").textContent = "Wrong username or password."; return; }
  const tokens = await response.json();
  Object.assign(state, {access: tokens.access, refresh: tokens.refresh});
  sessionStorage.setItem("access", tokens.access);
  sessionStorage.setItem("refresh", tokens.refresh);
  $("#login-error").textContent = "";
  await start();
});

$("#compose").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const content = form.content.value;
  form.content.value = "";  // at once: the next message can be typed while this one is sent
  try {
    upsertMessage(await send(content, form.receiver.value));
    $("#send-error").textContent = "";
  } catch (error) {
    $("#send-error").textContent = error.message;
    if (!form.content.value) form.content.value = content;
  }
});

$("#chats").addEventListener("click", (event) => {
  const link = event.target.closest(".chat");
  if (link) { event.preventDefault(); openChat(link.dataset.chat); }
});
$("#logout").addEventListener("click", logout);

if (state.access) start().catch(logout);
