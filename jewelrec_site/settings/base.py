"""Settings shared by every environment.

Everything is driven by environment variables with safe local defaults: with no
environment at all the app runs embedded (SQLite, a filesystem Celery broker) so a
laptop needs no server. ``DATABASE_URL`` and ``CELERY_BROKER_URL`` switch it to
PostgreSQL and Redis.
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


# Runtime state (SQLite file, media, broker folders, model artifacts) lives here by default.
VAR_DIR = Path(os.environ.get("JEWELREC_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
# Off unless asked for: `make run` may be reached from the network, and the debug pages show
# settings, the URLconf and tracebacks. DJANGO_DEBUG=1 turns them on for development.
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "django_celery_beat",
    "recommender",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "jewelrec_site.middleware.SecurityHeadersMiddleware",
    "jewelrec_site.middleware.ApiRequestLimitsMiddleware",  # its JSON 414/431 get the headers above
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "recommender.dashboard.timezones.MerchandiserTimeZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "jewelrec_site.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "jewelrec_site.urls"
WSGI_APPLICATION = "jewelrec_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'jewelrec.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and scheduler share one file: WAL lets readers run beside the writer,
    # IMMEDIATE transactions avoid "database is locked" upgrade deadlocks.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database host that drops packets instead of refusing must fail a request in seconds
    # (a clean 503), not hang it until the web server's worker timeout.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5")))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media files ----------------------------------------------------------
STATIC_URL = "/static/"
# plotly.js is served from the installed plotly package (no CDN, no vendored copy).
import plotly as _plotly  # noqa: E402

STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/plotly", Path(_plotly.__file__).parent / "package_data")]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# WhiteNoise serves static files with DEBUG off too. The embedded setup serves them straight
# from the app folders (no collectstatic step); production collects them into STATIC_ROOT.
WHITENOISE_USE_FINDERS = env_bool("JEWELREC_STATIC_FROM_FINDERS", True)
# Uploaded photos: Django serves them in the embedded setup; production leaves them to a web
# server or object store (settings/production.py).
JEWELREC_SERVE_MEDIA = env_bool("JEWELREC_SERVE_MEDIA", True)
# Uploads larger than this are refused before they reach an image decoder.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
_broker_dir = VAR_DIR / "celery-broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("in", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    # kombu's filesystem transport: one folder is both inbox and outbox for every process.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "django-db")
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a killed worker leaves its task for the next one
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "recommender.tasks.embedding.*": {"queue": "embedding"},
    "recommender.tasks.training.*": {"queue": "training"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # Jobs whose worker died (killed, machine lost) are requeued or failed, never left "running".
    "recover-stale-jobs": {"task": "recommender.tasks.maintenance.recover_stale_jobs_task", "schedule": 60.0},
    # The heuristic blend (served while no trained version is active) reads fresh statistics.
    "heuristic-blend-refresh": {"task": "recommender.tasks.maintenance.heuristic_blend_refresh_task",
                                "schedule": 24 * 3600.0},
    # Late-written impressions matched to their events, then the live metrics rolled up.
    "impression-metrics-refresh": {"task": "recommender.tasks.maintenance.impression_metrics_refresh_task",
                                   "schedule": 60.0},
    # Raw impressions older than JEWELREC_IMPRESSION_RETENTION_DAYS go; the daily figures stay.
    "impressions-prune": {"task": "recommender.tasks.maintenance.impressions_prune_task", "schedule": 24 * 3600.0},
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "recommender.api.errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"api_key": os.environ.get("JEWELREC_API_RATE", "6000/min")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["recommender.api.parsers.LimitedJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "JewelRec storefront API",
    "DESCRIPTION": "Jewelry recommendations with cross-category transfer learning.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets come from the installed sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Cache (throttling, serving freshness checks) -------------------------------------
_cache_url = os.environ.get("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "jewelrec_site.cache.RedisCache", "LOCATION": _cache_url}
        if _cache_url.startswith("redis")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "jewelrec"}
    )
}

# Largest JSON body the storefront API accepts (an events batch of ~1,000 events fits).
JEWELREC_API_MAX_BODY_BYTES = int(os.environ.get("JEWELREC_API_MAX_BODY_BYTES", 1024 * 1024))
# A feed cursor is signed and expires after this many seconds (docs/api.md, "Feed").
JEWELREC_FEED_CURSOR_MAX_AGE = int(os.environ.get("JEWELREC_FEED_CURSOR_MAX_AGE", 24 * 3600))

# --- JewelRec ------------------------------------------------------------------------
# Where the sample data lives; never copied into the repository.
JEWELREC_DATA_DIR = Path(
    os.environ.get("JEWELREC_DATA_DIR", BASE_DIR.parent / "shared" / "datasets")
)
# The H&M sample's prices are normalised (a week's prices divided by one constant). The import
# multiplies them by this scale and rounds to the cent: 590 turns the week's most common values
# into retail prices ending in .99 (0.016932 -> 9.99, 0.033881 -> 19.99), the scale the H&M
# competition community worked out; the retailer never said which currency, so it is a setting.
JEWELREC_SAMPLE_PRICE_SCALE = float(os.environ.get("JEWELREC_SAMPLE_PRICE_SCALE", "590"))
JEWELREC_SAMPLE_CURRENCY = os.environ.get("JEWELREC_SAMPLE_CURRENCY", "EUR").strip().upper()
# Trained model and embedding artifacts (weights + JSON metadata, never pickles).
JEWELREC_ARTIFACT_DIR = Path(os.environ.get("JEWELREC_ARTIFACT_DIR", VAR_DIR / "artifacts"))
# "minilm" (English all-MiniLM-L6-v2) or "use-multilingual" (Chinese and mixed text).
JEWELREC_TEXT_ENCODER = os.environ.get("JEWELREC_TEXT_ENCODER", "minilm")
# Text search and the assistant embed queries and item texts with this encoder; the
# multilingual one puts Chinese and English in one space.
JEWELREC_SEARCH_TEXT_ENCODER = os.environ.get("JEWELREC_SEARCH_TEXT_ENCODER", "use-multilingual")
# Torch CPU threads for encoders and training; 0 means torch's default.
JEWELREC_TORCH_THREADS = int(os.environ.get("JEWELREC_TORCH_THREADS", "0"))
# Customer contexts (tier + recent events) kept in the shared cache for this long, stamped and
# invalidated by every write (recommender/serving/customers.py). Only a cache every process
# shares can be invalidated for all of them, so the embedded default (per-process memory) is off.
JEWELREC_CONTEXT_CACHE_SECONDS = int(os.environ.get(
    "JEWELREC_CONTEXT_CACHE_SECONDS", "600" if _cache_url.startswith("redis") else "0"))

# A housekeeping thread per serving process keeps the catalog snapshot, the active model, the
# rules and settings current and flushes the API traffic counters, so storefront requests never
# wait for a check or a write (recommender/serving/housekeeping.py).
JEWELREC_BACKGROUND_REFRESH = os.environ.get("JEWELREC_BACKGROUND_REFRESH", "1") == "1"

# Serving processes re-read merchandising rules and recommender settings at most this often
# (a change in the same process is seen at once); see recommender/serving/snapshots.py.
JEWELREC_SERVING_CONFIG_SECONDS = float(os.environ.get("JEWELREC_SERVING_CONFIG_SECONDS", "2"))
# How long a process reuses an API key's row (hash, scopes, expiry, revocation); a key revoked
# in another process stops working within this many seconds (recommender/serving/api_keys.py).
# Impressions and attribution (docs/api.md, "Recommendation ids and attribution").
JEWELREC_IMPRESSIONS = env_bool("JEWELREC_IMPRESSIONS", True)
JEWELREC_ATTRIBUTION_WINDOW_HOURS = float(os.environ.get("JEWELREC_ATTRIBUTION_WINDOW_HOURS", "24"))
JEWELREC_ATTRIBUTION_PENDING_SECONDS = float(os.environ.get("JEWELREC_ATTRIBUTION_PENDING_SECONDS", "120"))
# The live-metrics rollup leaves rows of the last few seconds for its next run (ids committed out of order).
JEWELREC_ROLLUP_SETTLE_SECONDS = float(os.environ.get("JEWELREC_ROLLUP_SETTLE_SECONDS", "10"))
JEWELREC_IMPRESSION_RETENTION_DAYS = int(os.environ.get("JEWELREC_IMPRESSION_RETENTION_DAYS", "90"))
JEWELREC_API_KEY_CACHE_SECONDS = float(os.environ.get("JEWELREC_API_KEY_CACHE_SECONDS", "5"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
