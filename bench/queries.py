"""Section 1: SQL queries per request of every list endpoint, as the data grows.

Each request goes through the real URL, authentication and serializer (the test client), with
the list cache cleared first so that the endpoint really reads; the page must hold exactly the
number of items the size says, or the figure would lie. Flat (no growth) is the target.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench import data
from bench.harness import Results, Sizes, section_header
from messaging.models import Message, Notification
from testkit import client_for

SECTION = "1 queries"


def _count(client, url: str, expect_items: int, items: Callable[[dict], int]) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    if response.status_code != 200:
        raise AssertionError(f"GET {url}: {response.status_code} {response.content[:200]!r}")
    got = items(response.json())
    if got != expect_items:
        raise AssertionError(f"GET {url}: {got} items, expected {expect_items}")
    return len(ctx.captured_queries)


def _results(body: dict) -> int:
    return len(body["results"])


def _thread_size(node: dict) -> int:
    return 1 + sum(_thread_size(child) for child in node["replies"])


Cases = dict[str, list[tuple[int, Callable[[], int]]]]


def _direct_cases(cases: Cases, n: int) -> None:
    sender, receiver = data.make_users(2, "q")
    data.direct_messages(sender, receiver, n)
    Notification.objects.bulk_create(
        Notification(user=receiver, message=m) for m in Message.objects.filter(sender=sender)
    )
    s_client, r_client = client_for(sender), client_for(receiver)
    page = f"?page_size={n}"
    for name, client, url in (
        ("message list", s_client, f"/api/messaging/messages/{page}"),
        ("unread", r_client, f"/api/messaging/messages/unread/{page}"),
        ("notifications", r_client, f"/api/messaging/notifications/{page}"),
    ):
        cases[name].append((n, partial(_count, client, url, n, _results)))


def _conversation_cases(cases: Cases, n: int) -> None:
    member, *others = data.make_users(3, "c")
    for _ in range(n):
        data.make_conversation([member, *others])
    m_client = client_for(member)
    page = f"?page_size={n}"
    cases["conversation list"].append(
        (n, partial(_count, m_client, f"/api/conversations/{page}", n, _results))
    )
    conversation = data.make_conversation([member, *others])
    data.bulk_messages(
        [{"sender_id": others[i % 2].pk, "conversation_id": conversation.pk} for i in range(n)]
    )
    url = f"/api/conversations/{conversation.pk}/messages/{page}"
    cases["conversation messages"].append((n, partial(_count, m_client, url, n, _results)))


def _cases(sizes: Sizes) -> Cases:
    """Endpoint name -> [(size, measure)], the data built up front."""
    names = ("message list", "unread", "notifications", "conversation list")
    cases: Cases = {name: [] for name in (*names, "conversation messages", "thread (depth)")}
    for n in sizes.query_sizes:
        _direct_cases(cases, n)
        _conversation_cases(cases, n)
    for depth in sizes.thread_depths:
        sender, receiver = data.make_users(2, "t")
        root = data.reply_chain(sender, receiver, depth)
        url = f"/api/messaging/messages/{root.pk}/thread/"
        cases["thread (depth)"].append(
            (depth, partial(_count, client_for(sender), url, depth + 1, _thread_size))
        )
    return cases


def run(results: Results, sizes: Sizes) -> None:
    section_header("1. Queries per request (list cache cleared before each request)")
    for endpoint, measures in _cases(sizes).items():
        measures[0][1]()  # warm-up: first-request costs (content types, etc.) are not growth
        counts = {n: measure() for n, measure in measures}
        label = "items" if "depth" not in endpoint else "deep"
        for n, count in counts.items():
            results.add(SECTION, f"{endpoint}: queries at {n} {label}", count, "q")
        first, last = counts[min(counts)], counts[max(counts)]
        results.add(
            SECTION,
            f"{endpoint}: growth {min(counts)} -> {max(counts)} {label}",
            last - first,
            "q",
            target=("==", 0),
        )
