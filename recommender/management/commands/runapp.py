"""Run the whole app in one terminal: web server, Celery worker and beat scheduler.

Ctrl-C stops all three. Meant for a laptop and the demo; in production each runs under
its own supervisor (see README, "Scaling out").

The web server is gunicorn (gunicorn.conf.py), as deployed, not Django's development server:
``make run`` may be reached from the network. DEBUG stays off unless DJANGO_DEBUG=1; static
files come through WhiteNoise, photos through Django (settings/base.py).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run web + Celery worker + Celery beat together (Ctrl-C stops all)."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("JEWELREC_ADDR", "127.0.0.1:8000"))
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("JEWELREC_WORKER_CONCURRENCY", "2")))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("JEWELREC_WEB_WORKERS", "2")))

    def handle(self, *args, addr: str, concurrency: int, web_workers: int, **options):
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "jewelrec_site"]
        commands = {
            "web": [python, "-m", "gunicorn", "jewelrec_site.wsgi:application", "-c", "gunicorn.conf.py",
                    "-b", addr, "-w", str(web_workers), "--threads", "4", "--access-logfile", "-"],
            "worker": celery + ["worker", "-Q", "default,embedding,training", "-c", str(concurrency),
                                "--loglevel", "INFO", "-n", "embedded@%h"],
            "beat": celery + ["beat", "--loglevel", "INFO", "-S", "django",
                              "--pidfile", str(settings.VAR_DIR / "celerybeat.pid")],
        }
        procs: dict[str, subprocess.Popen] = {}
        for name, cmd in commands.items():
            procs[name] = subprocess.Popen(cmd, cwd=settings.BASE_DIR, start_new_session=True)
        self.stdout.write(self.style.SUCCESS(f"JewelRec is running at http://{addr}/  (Ctrl-C to stop)"))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping the others.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    # The parent only: Celery then shuts its pool children down warmly.
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            self.stdout.write("Stopped.")
