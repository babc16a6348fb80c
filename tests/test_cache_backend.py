"""The shared cache backend: one Redis client per pool, and the throttle's window counter."""
import time

import pytest
from django.core.cache.backends.locmem import LocMemCache

from jewelrec_site.cache import RedisCache, window_increment
from tests.support.redis_server import private_redis


@pytest.fixture
def redis_cache(tmp_path):
    with private_redis(tmp_path) as server:
        yield RedisCache(server.url, {})


def test_one_client_per_pool_serves_every_call(redis_cache):
    client = redis_cache._cache.get_client("a")
    assert redis_cache._cache.get_client("b", write=True) is client
    redis_cache.set("k", {"v": 1}, 30)
    assert redis_cache.get_many(["k", "missing"]) == {"k": {"v": 1}}
    assert redis_cache.incr(redis_cache.add("n", 1, 30) and "n") == 2


@pytest.mark.parametrize("backend", ["redis", "locmem"])
def test_window_counts_every_hit_and_keeps_the_expiry_of_its_first(backend, redis_cache):
    cache = redis_cache if backend == "redis" else LocMemCache("window-test", {})
    counts = [window_increment(cache, "w", 30) for _ in range(5)]
    assert [c for c, _ in counts] == [1, 2, 3, 4, 5]
    assert all(0 < left <= 30 for _, left in counts)
    time.sleep(1.1)
    count, left = window_increment(cache, "w", 30)
    assert count == 6 and left <= 29  # a later hit does not extend the window
    assert window_increment(cache, "other", 30)[0] == 1  # one counter per key


@pytest.mark.parametrize("backend", ["redis", "locmem"])
def test_a_new_window_opens_when_the_last_one_ends(backend, redis_cache):
    cache = redis_cache if backend == "redis" else LocMemCache("window-test-2", {})
    assert window_increment(cache, "w", 1)[0] == 1
    assert window_increment(cache, "w", 1)[0] == 2
    time.sleep(2.1)  # Redis expires with up to a second of rounding
    assert window_increment(cache, "w", 1)[0] == 1


def test_the_default_cache_proxy_takes_the_one_round_trip_path(redis_cache, monkeypatch):
    """Callers hold ``django.core.cache.cache`` (a proxy, not a RedisCache): the window must
    still be counted by the backend's atomic pipeline, one round trip per request."""
    from django.core import cache as cache_module
    from django.core.cache import caches

    caches._connections.default = redis_cache  # this thread's default backend, as the settings would build it
    proxy = cache_module.cache
    assert not isinstance(proxy, RedisCache)
    commands = []
    client = redis_cache._cache.get_client("w", write=True)
    pipeline_execute = type(client.pipeline()).execute
    monkeypatch.setattr(type(client), "execute_command",
                        lambda self, *a, **k: commands.append(a[0]) or pytest.fail(f"single command {a[0]}"))
    monkeypatch.setattr(type(client.pipeline()), "execute",
                        lambda self, *a, **k: commands.append("MULTI") or pipeline_execute(self, *a, **k))
    try:
        assert [window_increment(proxy, "w", 30)[0] for _ in range(3)] == [1, 2, 3]
    finally:
        del caches._connections.default
    assert commands == ["MULTI"] * 3
