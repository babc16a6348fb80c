import os


def _one_compute_thread_per_request() -> None:
    """A web process already runs requests in parallel (workers x threads); BLAS and torch
    thread pools on top of that oversubscribe the cores and spin. Measured on the 100k-item
    benchmark (docs/benchmarks.md): per-request CPU dropped once these were 1.

    Runs before Django loads anything: numpy's OpenBLAS reads its thread count when it is
    first loaded, and serving imports numpy lazily, after a limit set on the libraries
    loaded so far would have been applied (it was not: numpy kept 2 threads)."""
    threads = int(os.environ.get("JEWELREC_WEB_COMPUTE_THREADS", "1"))
    if threads <= 0:
        return
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import numpy  # noqa: F401 - load its BLAS now, so the limit below reaches it too
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    torch.set_num_threads(threads)


_one_compute_thread_per_request()

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after the thread limits

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelrec_site.settings.base")
application = get_wsgi_application()
