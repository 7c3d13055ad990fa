"""Django's Redis cache, holding one client per connection pool.

Django's own backend builds a new `redis.Redis` for every cache call, and building one costs
more than the call itself (redis-py fills its table of response callbacks each time): a
public signup makes six rate-limit calls, so that was about a millisecond of every signup.
A client is safe to share between threads; the pool under it is Django's, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient
from redis import ConnectionPool, Redis


class RedisCacheClient(DjangoRedisCacheClient):
    # Set up by Django's client, and not part of its stubs.
    _client: Callable[..., Redis]
    _get_connection_pool: Callable[[bool], ConnectionPool]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Redis] = {}  # by id() of the pool, which lives as long

    def get_client(
        self, key: str | bytes | memoryview | None = None, *, write: bool = False
    ) -> Redis:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
