"""Run the app under gunicorn with the production settings, as it is deployed.

The server is a separate process (like a Celery worker started by ``running_worker``), so
tests that use it must commit their rows: ``@pytest.mark.django_db(transaction=True)``.
"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.net import free_port
from tests.support.processes import process_group_stop

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    json: dict | None = field(default=None)


@dataclass
class WebServer:
    port: int
    proc: subprocess.Popen
    log_path: Path

    def request(self, method: str, path: str, *, token: str | None = None, body: dict | None = None,
                timeout: float = 10.0, cookies: dict[str, str] | None = None) -> Reply:
        """One request on a fresh connection; raises OSError if the server does not answer."""
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Authorization": f"Token {token}"} if token else {}
            if cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data,
                          time.monotonic() - started)
        finally:
            conn.close()
        if reply.headers.get("content-type", "").startswith("application/json"):
            reply.json = json.loads(data)
        return reply

    def worker_pids(self) -> set[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True, check=False)
        return {int(pid) for pid in out.stdout.split()}


# Tests that sign something the server must accept (a session cookie) use the same key.
SECRET_KEY = "fault-test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


@contextmanager
def running_web_server(database_url: str, var_dir: Path, *, workers: int = 2, threads: int = 4,
                       timeout: float = 60.0, collectstatic: bool = False) -> Iterator[WebServer]:
    """gunicorn with the production settings. HTML pages need ``collectstatic=True`` (the
    production static storage serves only collected, hashed files, as a deployment would)."""
    port = free_port()
    var_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="jewelrec_site.settings.production",
        DJANGO_SECRET_KEY=SECRET_KEY,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_COOKIES="0",
        DATABASE_URL=database_url,
        JEWELREC_VAR_DIR=str(var_dir),
        DJANGO_MEDIA_ROOT=str(var_dir / "media"),
        JEWELREC_API_RATE="100000000/min",  # the test is about the database, not the throttle
        DJANGO_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.pop("CACHE_URL", None)
    if collectstatic:
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                       check=True, capture_output=True)
    log_path = var_dir / f"gunicorn-{port}.log"
    with open(log_path, "w") as log:  # the server process keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "jewelrec_site.wsgi:application", "-b", f"127.0.0.1:{port}",
             "-w", str(workers), "-k", "gthread", "--threads", str(threads), "--timeout", "30",
             "--graceful-timeout", "5"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = WebServer(port, proc, log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log_path.read_text()[-3000:]}")
            try:
                # No key: a 401 proves a worker loaded the app and answers.
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/ping")
                if conn.getresponse().status == 401:
                    conn.close()
                    break
                conn.close()
            except OSError:
                pass
            time.sleep(0.2)
        yield server
    finally:
        process_group_stop(proc)
