"""The web entry point limits every compute thread pool before serving code loads numpy."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, jewelrec_site.wsgi
import numpy, recommender.ml.models.xdeepfm_scorer  # what serving loads lazily, later
from threadpoolctl import threadpool_info
import torch
print(json.dumps({"pools": [[p["internal_api"], p["num_threads"]] for p in threadpool_info()],
                  "torch": torch.get_num_threads()}))
"""


def _probe(threads: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["DJANGO_SETTINGS_MODULE"] = "jewelrec_site.settings.test"
    if threads is not None:
        env["JEWELREC_WEB_COMPUTE_THREADS"] = threads
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_web_processes_run_numpy_blas_and_torch_on_one_thread():
    found = _probe(None)
    assert ["openblas", 1] in found["pools"], found  # numpy's own BLAS, loaded after the wsgi import
    assert all(n == 1 for _, n in found["pools"]) and found["torch"] == 1


def test_the_limit_is_configurable():
    found = _probe("2")
    # OpenBLAS never runs more threads than the cores it sees; the OpenMP pool takes the value as set
    wanted = {"openblas": min(2, os.cpu_count() or 1)}
    assert found["torch"] == 2, found
    assert all(n == wanted.get(api, 2) for api, n in found["pools"]), found
