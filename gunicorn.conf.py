"""gunicorn settings, read from the working directory: run ``gunicorn jewelrec_site.wsgi``
from the project root (or pass ``-c gunicorn.conf.py``).

The master loads the app and builds the serving state (catalog snapshot, nearest-neighbour
index, active model, rules) once, before it forks the workers (``preload_app``): the workers
share those pages read-only instead of each building and holding its own copy
(recommender/serving/warmup.py, ``serving_warm_before_fork``). ``JEWELREC_PRELOAD=0`` goes
back to one build per worker. Either way each worker finishes warming (its own threads and
connections) before it accepts a request, so no storefront request waits seconds for it after
a deploy, a worker restart or a crash.
"""
import os
import threading

# The longest request line gunicorn takes (its maximum). The app answers URLs over 7,168
# characters under /api/ with a JSON 414 itself (jewelrec_site/middleware.py), so only lines
# beyond this get gunicorn's own HTML 414; a feed cursor fits well inside either.
limit_request_line = 8190
limit_request_field_size = 8190

preload_app = os.environ.get("JEWELREC_PRELOAD", "1") != "0"


def when_ready(server):
    """In the master, after the app is loaded and before the first worker is forked. A
    nearest-neighbour index file that is refused (recommender/serving/similarity_index.py)
    stops the server here, with its log line, before any worker serves from it."""
    if not server.cfg.preload_app:
        return
    from recommender.ml.search.ann import AnnIndexError
    from recommender.serving.warmup import serving_warm_before_fork

    try:
        timings = serving_warm_before_fork()
    except AnnIndexError as exc:
        server.log.error("refusing to start: %s", exc)
        raise SystemExit(1) from exc
    server.log.info("serving state built once in the master, shared by the workers: %s",
                    {k: round(v, 2) for k, v in timings.items()})


def post_worker_init(worker):
    """Warm in a helper thread while telling the master the worker is alive: at 100k items
    the build can outlast the worker timeout, and a silent worker would be killed. After a
    preload this only starts the worker's own housekeeping and connections."""
    from django.db import connection

    from recommender.serving.warmup import serving_warm

    done = threading.Event()
    failed: list[BaseException] = []

    def warm():
        try:
            serving_warm()
        except BaseException as exc:  # noqa: BLE001 - a refused index file: reported below
            failed.append(exc)
        finally:
            connection.close()  # this helper thread's own connection
            done.set()

    threading.Thread(target=warm, name="serving-warmup", daemon=True).start()
    while not done.wait(1.0):
        worker.notify()
    if failed:
        worker.log.error("worker refuses to start: %s", failed[0])
        raise failed[0]
