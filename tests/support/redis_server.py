"""A private redis-server process a test may kill, and pointing Celery at it.

The shared Redis on 6379 is never touched: each test gets its own server on a free port,
with no persistence (``--save "" --appendonly no``), so a restart loses every message, as a
real broker restart without persistence would.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.net import free_port, port_open


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start (or restart, on the same port) with an empty dataset."""
        assert self.proc is None, "already running"
        with open(self.workdir / f"redis-{self.port}.log", "a") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--daemonize", "no", "--dir", str(self.workdir)],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on {self.port}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without a goodbye to its clients."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        assert not port_open(self.port), "the broker still answers"

    def queue_length(self, queue: str) -> int:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, db=0, socket_connect_timeout=2)
        try:
            return int(client.llen(queue))
        finally:
            client.close()


@contextmanager
def private_redis(workdir: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: the broker-outage test needs a private Redis it can kill")
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _celery_reset_connections(app) -> None:
    # Celery caches a connection pool and a producer pool per process (kombu keeps them in a
    # registry keyed by broker); drop them all so the next publish uses the broker now configured.
    from kombu import pools

    pools.reset()
    app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None


@contextmanager
def celery_broker(url: str, settings) -> Iterator[None]:
    """Point this process's Celery app, and the workers that ``running_worker`` starts, at ``url``."""
    from jewelrec_site.celery import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    saved_env = os.environ.get("CELERY_BROKER_URL")
    settings.CELERY_BROKER_URL = url  # running_worker hands this to the worker process
    # Celery's conf.broker_url prefers the environment variable over the configured value.
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    app.conf.broker_transport_options = {}  # the embedded filesystem transport's folders mean nothing to Redis
    _celery_reset_connections(app)
    assert app.conf.broker_url == url
    try:
        yield
    finally:
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        app.conf.broker_url, app.conf.broker_transport_options = saved
        _celery_reset_connections(app)
