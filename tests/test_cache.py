"""The Redis cache backend (core.cache): Django's, holding one client per connection pool."""

from __future__ import annotations

import uuid

import pytest

from config.env import cache_config
from core.cache import RedisCache
from tests.support.redis_server import redis_answers


def test_a_redis_cache_url_gets_the_backend_reusing_its_client(monkeypatch):
    monkeypatch.setenv("PARTYLINE_TEST_CACHE", "redis://127.0.0.1:6379/7")
    assert cache_config("PARTYLINE_TEST_CACHE", default="locmemcache://")["BACKEND"] == (
        "core.cache.RedisCache"
    )
    monkeypatch.delenv("PARTYLINE_TEST_CACHE")
    assert cache_config("PARTYLINE_TEST_CACHE", default="locmemcache://")["BACKEND"] == (
        "django.core.cache.backends.locmem.LocMemCache"
    )


@pytest.mark.skipif(not redis_answers(), reason="no Redis on 127.0.0.1:6379")
def test_every_call_uses_the_same_client_and_counts_as_django_s_does():
    cache = RedisCache("redis://127.0.0.1:6379/7", {})
    key = f"test-{uuid.uuid4().hex}"

    assert cache.add(key, 1, 60)
    assert not cache.add(key, 1, 60)
    assert cache.incr(key) == 2
    assert cache.get(key) == 2
    client = cache._cache.get_client(key, write=True)
    assert cache._cache.get_client(key) is client
    cache.delete(key)
