"""Test settings: the same configuration as base, isolated state and fast hashing."""
import os
import tempfile
from pathlib import Path

os.environ.setdefault("JEWELREC_VAR_DIR", tempfile.mkdtemp(prefix="jewelrec-test-"))

from .base import *  # noqa: E402,F401,F403
from .base import VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", Path(VAR_DIR) / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

from .base import DATABASES  # noqa: E402

# A file, not ":memory:", so that a real Celery worker process started by a test can open
# the same test database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(Path(VAR_DIR) / "test.sqlite3")}

# Tests roll back rows without signals; every request reads rules and settings afresh.
# (tests/serving/test_serving_scale.py turns the cache on to test it.)
JEWELREC_SERVING_CONFIG_SECONDS = 0.0

# Tests roll rows back without signals: contexts are read from the database unless a test
# turns the shared context cache on (tests/serving/test_context_cache.py).
JEWELREC_CONTEXT_CACHE_SECONDS = 0

# Tests build and check serving state in the request's own thread and transaction (the
# housekeeping thread would read through its own connection, outside the test's transaction).
JEWELREC_BACKGROUND_REFRESH = False

# Tests write and roll up in one thread: the rollup counts rows at once (tests/impressions sets it).
JEWELREC_ROLLUP_SETTLE_SECONDS = 0.0
