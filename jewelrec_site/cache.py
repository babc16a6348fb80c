"""The shared cache: Django's Redis backend with one client per pool, and a window counter.

Two costs of Django's stock backend show on every storefront request:
- it builds a new ``redis.Redis`` for each cache call, and the constructor copies ~170
  response callbacks into a fresh dict (~0.2-0.3 ms per call); the client is thread-safe
  and only wraps its connection pool, so one per pool serves every call;
- its ``incr`` is two round trips (EXISTS, then INCRBY) and opening a counter is two more,
  while the API throttle needs one atomic "count this request in the current window".
"""
from __future__ import annotations

import time

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}  # id(pool) -> client; Django never drops a pool

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:  # two threads racing here build two clients; either serves
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient

    def window_increment(self, key: str, seconds: int) -> tuple[int, float]:
        """Count one hit in the window ``key`` (opened by its first hit, ``seconds`` long):
        (hits so far, seconds until the window closes), atomically, in one round trip."""
        key = self.make_and_validate_key(key)
        with self._cache.get_client(key, write=True).pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, seconds, nx=True)  # only the hit that opens the window sets it
            pipe.ttl(key)
            count, _, left = pipe.execute()
        return int(count), float(left if left > 0 else seconds)


def window_increment(cache: BaseCache, key: str, seconds: int) -> tuple[int, float]:
    """``RedisCache.window_increment`` on any cache backend (the embedded default is a
    per-process memory cache): one atomic round trip on Redis, a few operations elsewhere.

    Looked up by name, not by ``isinstance``: callers hold ``django.core.cache.cache``, a
    proxy that forwards attributes to the backend but is no ``RedisCache`` itself (an
    ``isinstance`` check sent every storefront request down the three-round-trip path)."""
    atomic = getattr(cache, "window_increment", None)
    if atomic is not None:
        return atomic(key, seconds)
    now = time.time()
    try:
        count = cache.incr(key)  # keeps the window's expiry
    except ValueError:  # no window yet: open one (a concurrent request may win the race)
        if cache.add(key, 1, seconds):
            cache.set(key + ":start", now, seconds)
            return 1, float(seconds)
        count = cache.incr(key)
    started = cache.get(key + ":start") or now
    return count, max(0.0, seconds - (now - started))
