"""gunicorn settings, read from the working directory: run ``gunicorn jewelrec_site.wsgi``
from the project root (or pass ``-c gunicorn.conf.py``).

Each worker builds its serving state (catalog snapshot, active model) before it accepts a
request, so no storefront request waits seconds for it after a deploy, a worker restart or
a crash (recommender/serving/warmup.py).
"""
import threading

# The longest request line gunicorn takes (its maximum). The app answers URLs over 7,168
# characters under /api/ with a JSON 414 itself (jewelrec_site/middleware.py), so only lines
# beyond this get gunicorn's own HTML 414; a feed cursor fits well inside either.
limit_request_line = 8190
limit_request_field_size = 8190


def post_worker_init(worker):
    """Warm in a helper thread while telling the master the worker is alive: at 100k items
    the build can outlast the worker timeout, and a silent worker would be killed."""
    from django.db import connection

    from recommender.serving.warmup import serving_warm

    done = threading.Event()

    def warm():
        try:
            serving_warm()
        finally:
            connection.close()  # this helper thread's own connection
            done.set()

    threading.Thread(target=warm, name="serving-warmup", daemon=True).start()
    while not done.wait(1.0):
        worker.notify()
