"""core/redis_cache.py: Django's Redis cache with one client per connection pool, and one MSET
for a timeout-less set_many."""

from __future__ import annotations

import pytest
from django.core.cache import cache, caches

from testkit import clear_cache


@pytest.fixture
def redis_cache(shared_cache):
    assert type(caches["default"]).__module__ == "core.redis_cache"
    return cache._cache.get_client(write=True)


def test_one_client_serves_every_call(redis_cache):
    assert cache._cache.get_client(write=True) is redis_cache
    assert cache._cache.get_client("some-key") is redis_cache  # one server: reads use it too


def test_set_many_without_a_timeout_is_one_mset_and_keeps_the_keys(redis_cache, monkeypatch):
    commands = []
    execute = redis_cache.execute_command
    monkeypatch.setattr(
        redis_cache, "execute_command", lambda *a, **kw: commands.append(a[0]) or execute(*a, **kw)
    )
    cache.set_many({"a": "token-a", "b": 7}, timeout=None)
    assert commands == ["MSET"]
    assert cache.get_many(["a", "b"]) == {"a": "token-a", "b": 7}
    assert redis_cache.ttl(cache.make_key("a")) == -1  # no expiry


def test_set_many_with_a_timeout_still_expires_the_keys(redis_cache):
    cache.set_many({"a": 1, "b": "x"}, timeout=30)
    assert cache.get_many(["a", "b"]) == {"a": 1, "b": "x"}
    assert 0 < redis_cache.ttl(cache.make_key("b")) <= 30
    clear_cache()
