"""Start a real Celery worker process against the test database and broker.

The worker runs in its own process (as in production), so tests that use it must commit
their rows: mark them ``@pytest.mark.django_db(transaction=True)``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.support.processes import process_group_stop

ROOT = Path(__file__).resolve().parents[2]


def _test_database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{auth}{host}{port}/{db['NAME']}"


@contextmanager
def running_worker(queues: str = "default,embedding,training", timeout: float = 60.0) -> Iterator[subprocess.Popen]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="jewelrec_site.settings.test",
        DATABASE_URL=_test_database_url(),
        JEWELREC_VAR_DIR=str(settings.VAR_DIR),
        # Tests give each test its own media folder; the worker must read the same photos.
        DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT),
        JEWELREC_ARTIFACT_DIR=str(settings.JEWELREC_ARTIFACT_DIR),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        PYTHONUNBUFFERED="1",
    )
    log_path = Path(settings.VAR_DIR) / f"worker-{time.time_ns()}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "jewelrec_site", "worker", "-Q", queues, "-c", "1",
         "--pool", "solo", "--without-gossip", "--without-mingle", "--loglevel", "INFO", "-n", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while "ready." not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Celery worker did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        proc.log_path = log_path  # type: ignore[attr-defined]
        yield proc
    finally:
        process_group_stop(proc)
        log.close()
