"""Section 2: the per-user list cache on a 50-message page, hit vs miss vs GET /api/auth/me/.

Interleaved rounds: each round invalidates the caller's lists the way a write does (a version
bump), then times a miss, a hit and `me`, in an order that alternates between rounds so that
drift on a shared machine touches all three alike. Medians of each, then their ratios.
Measured with LocMemCache (the default) and with the Redis cache (CACHE_URL), side by side.
"""

from __future__ import annotations

import os
import time

import django.test.signals  # noqa: F401 - resets the cache handlers on override_settings(CACHES)
from django.core.cache import cache
from django.test.utils import override_settings

from bench import data
from bench.harness import Results, Sizes, median, ms, section_header
from messaging import cache as list_cache
from testkit import client_for

SECTION = "2 cache"

BACKENDS = {
    "LocMemCache": lambda: {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "bench",
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    },
    "Redis cache": lambda: {
        "default": {
            "BACKEND": "core.redis_cache.RedisCache",
            "LOCATION": os.environ["BENCH_CACHE_URL"],
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    },
}


def _timed_get(client, url: str, expect_cache: str | None) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise AssertionError(f"GET {url}: {response.status_code}")
    if expect_cache and response.get("X-Cache") != expect_cache:
        raise AssertionError(f"GET {url}: X-Cache {response.get('X-Cache')}, not {expect_cache}")
    return elapsed


def _measure(backend: str, rounds: int, page: int) -> dict[str, list[float]]:
    user, other = data.make_users(2, "cache")
    data.bulk_messages(
        [
            {
                "sender_id": (user if i % 2 else other).pk,
                "receiver_id": (other if i % 2 else user).pk,
            }
            for i in range(page + 10)
        ]
    )
    client = client_for(user)
    url = f"/api/messaging/messages/?page_size={page}"
    if len(client.get(url).json()["results"]) != page:
        raise AssertionError(f"the page does not hold {page} messages")
    me = "/api/auth/me/"
    times: dict[str, list[float]] = {"miss": [], "hit": [], "me": []}
    for r in range(rounds + 5):
        list_cache.bump_users([user.pk])  # what a write does (outside a transaction: at once)
        steps = [("miss", url, "MISS"), ("hit", url, "HIT")]
        steps = [("me", me, None), *steps] if r % 2 else [*steps, ("me", me, None)]
        for name, step_url, expect in steps:
            elapsed = _timed_get(client, step_url, expect)
            if r >= 5:  # the first rounds warm up code paths and connections
                times[name].append(elapsed)
    return times


def run(results: Results, sizes: Sizes) -> None:
    section_header(
        f"2. List cache on a {sizes.cache_page}-message page ({sizes.cache_rounds} rounds)"
    )
    for backend, caches in BACKENDS.items():
        with override_settings(CACHES=caches()):
            cache.clear()
            times = _measure(backend, sizes.cache_rounds, sizes.cache_page)
            cache.clear()
        miss, hit, me = (median(times[k]) for k in ("miss", "hit", "me"))
        results.add(SECTION, f"{backend}: miss (median)", ms(miss), "ms")
        results.add(SECTION, f"{backend}: hit (median)", ms(hit), "ms")
        results.add(SECTION, f"{backend}: GET /api/auth/me/ (median)", ms(me), "ms")
        results.add(SECTION, f"{backend}: hit / miss", hit / miss, target=("<=", 0.2))
        results.add(SECTION, f"{backend}: hit / me", hit / me, target=("<=", 1.5))
