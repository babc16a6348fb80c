import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelrec_site.settings.base")
application = get_wsgi_application()


def _one_compute_thread_per_request() -> None:
    """A web process already runs requests in parallel (workers x threads); BLAS and torch
    thread pools on top of that oversubscribe the cores and spin. Measured on the 100k-item
    benchmark (docs/benchmarks.md): per-request CPU dropped once these were 1."""
    threads = int(os.environ.get("JEWELREC_WEB_COMPUTE_THREADS", "1"))
    if threads <= 0:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    import torch

    torch.set_num_threads(threads)


_one_compute_thread_per_request()
