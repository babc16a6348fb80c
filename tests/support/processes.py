"""Stopping the server and worker processes that tests start in their own sessions."""
from __future__ import annotations

import os
import signal
import subprocess


def process_group_stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM the process group (a server and its forked workers), SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
