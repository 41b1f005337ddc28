"""The API description of live delivery: the ticket's shape, and the stream with its event types
(the stream is served in front of Django, by live/asgi.py, where drf-spectacular does not see
it: a postprocessing hook adds it, referring to the REST resources' own component schemas)."""

from __future__ import annotations

from rest_framework import serializers

EVENTS_PATH = "/api/events/"


class TicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Single use; open `GET /api/events/?ticket=...`.")
    expires_at = serializers.DateTimeField(help_text="The ticket is refused after this.")
    stream_until = serializers.DateTimeField(
        help_text="The stream it opens closes then (the access token's expiry)."
    )


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(description: str, properties: dict, required: list[str]) -> dict:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
    }


_ID = {"type": "integer"}
# (event type, component name, schema of its `data`, when it is sent)
EVENT_TYPES = [
    (
        "message.created",
        "LiveMessageCreated",
        _ref("Message"),
        "A message the user sent (from any device) or received, direct or in a conversation.",
    ),
    (
        "message.updated",
        "LiveMessageUpdated",
        _ref("Message"),
        "A message the user sees was edited: its current state.",
    ),
    (
        "message.deleted",
        "LiveMessageDeleted",
        _object(
            "The message is gone.",
            {"id": _ID, "conversation": {**_ID, "nullable": True}},
            ["id", "conversation"],
        ),
        "A message the user saw was deleted by its sender.",
    ),
    (
        "message.read",
        "LiveMessageRead",
        _ref("Message"),
        "The user marked a message read (from this or another device).",
    ),
    (
        "notification.created",
        "LiveNotificationCreated",
        _ref("Notification"),
        "A notification of a received message.",
    ),
    (
        "conversation.added",
        "LiveConversationAdded",
        _ref("Conversation"),
        "The user was added to a conversation (or started one).",
    ),
    (
        "conversation.removed",
        "LiveConversationRemoved",
        _object("The conversation the user left.", {"id": _ID}, ["id"]),
        "The user was removed from a conversation.",
    ),
    (
        "account.deleted",
        "LiveAccountDeleted",
        _object("The account.", {"id": _ID}, ["id"]),
        "The account was deleted; the stream ends.",
    ),
    (
        "reset",
        "LiveReset",
        _object("The newest seq; resume from it.", {"last_event_id": _ID}, ["last_event_id"]),
        "The client is behind the replay window: refetch every list, then carry on.",
    ),
    (
        "ready",
        "LiveReady",
        _object(
            "The stream is live.",
            {
                "last_event_id": _ID,
                "transport": {"type": "string", "enum": ["redis", "poll"]},
                "heartbeat_seconds": {"type": "number"},
            },
            ["last_event_id", "transport", "heartbeat_seconds"],
        ),
        "Sent once the missed events are replayed; its id is the last seq so far.",
    ),
    (
        "close",
        "LiveClose",
        _object(
            "Why the server ends the stream (no id).",
            {"reason": {"type": "string", "enum": ["expired", "overflow"]}},
            ["reason"],
        ),
        "The token or ticket expired (reconnect with a fresh one), or the client read too slowly.",
    ),
]

STREAM_DESCRIPTION = (
    "A `text/event-stream` of everything that changes what the caller sees. Authenticate with "
    "`?ticket=` (from `POST /api/events/ticket/`; browsers' EventSource cannot send headers) or "
    "`Authorization: Bearer <access JWT>`. Each event has `id:` (the caller's seq, increasing "
    "by one), `event:` (its type) and `data:` (JSON, shaped like the REST resource as the "
    "caller sees it). Reconnect with the `Last-Event-ID` header or `?last_event_id=`: the "
    "missed events come first, in order, exactly once, then live ones. Comment lines (`:`) are "
    "heartbeats. The stream ends when the token or ticket expires (reconnect with a fresh one) "
    "or the account is deleted.\n\n"
    + "\n".join(f"- `{kind}`: {when} Data: `{name}`." for kind, name, _, when in EVENT_TYPES)
)


def _operation() -> dict:
    params = [
        ("ticket", "string", "A ticket from POST /api/events/ticket/."),
        ("last_event_id", "integer", "Resume after this seq (the Last-Event-ID header wins)."),
    ]
    error = {"application/json": {"schema": _ref("Error")}}
    return {
        "operationId": "events_stream",
        "summary": "Server-Sent Events: everything that changes what the caller sees",
        "description": STREAM_DESCRIPTION,
        "tags": ["events"],
        "parameters": [
            {"in": "query", "name": n, "schema": {"type": t}, "description": d}
            for n, t, d in params
        ]
        + [{"in": "header", "name": "Last-Event-ID", "schema": {"type": "integer"}}],
        "security": [{"jwtAuth": []}, {}],
        "responses": {
            "200": {
                "description": "The stream.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            "400": {"description": "Last-Event-ID is not a seq.", "content": error},
            "401": {"description": "No valid ticket or token.", "content": error},
            "429": {"description": "Too many open streams for this account.", "content": error},
            "405": {"description": "Only GET.", "content": error},
            "503": {
                "description": "Reached Django's handler (a WSGI server): streams are served by "
                "the project's ASGI application.",
                "content": error,
            },
        },
    }


def document_stream(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the stream and one schema per event type."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for _, name, data, when in EVENT_TYPES:
        schemas[name] = (
            {**data, "description": when}
            if "$ref" not in data
            else {"description": when, "allOf": [data]}
        )
    result.setdefault("paths", {})[EVENTS_PATH] = {"get": _operation()}
    return result
