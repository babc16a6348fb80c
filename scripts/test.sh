#!/usr/bin/env bash
# Runs the whole suite on the embedded defaults (SQLite + filesystem broker), then again on
# PostgreSQL + Redis (broker and shared cache) when they are reachable. In CI (CI=true) both
# runs are required.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# Browser tests drive Debian's chromium (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "!! could not install chromium"
  fi
fi
if [ "${CI:-}" = "true" ]; then export JEWELREC_REQUIRE_BROWSER=1; fi

status=0
echo "== test run 1/2: embedded (SQLite + filesystem broker)"
env -u DATABASE_URL -u CELERY_BROKER_URL -u CACHE_URL $PY -m pytest "$@" || status=1

PG_URL="${JEWELREC_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/jewelrec}"
REDIS_URL="${JEWELREC_TEST_BROKER_URL:-redis://127.0.0.1:6379/15}"
# The shared cache (API throttle, customer contexts) on Redis too, in its own database:
# tests clear the cache, which must not flush the broker's queues.
CACHE_REDIS_URL="${JEWELREC_TEST_CACHE_URL:-redis://127.0.0.1:6379/13}"
if $PY - "$PG_URL" "$REDIS_URL" <<'PYEOF'
import sys
import psycopg, redis
try:
    psycopg.connect(sys.argv[1].rsplit("/", 1)[0] + "/postgres", connect_timeout=3).close()
    redis.Redis.from_url(sys.argv[2], socket_connect_timeout=3).ping()
except Exception as exc:
    print(f"services not reachable: {exc}")
    sys.exit(1)
PYEOF
then
  echo "== test run 2/2: PostgreSQL + Redis"
  DATABASE_URL="$PG_URL" CELERY_BROKER_URL="$REDIS_URL" CACHE_URL="$CACHE_REDIS_URL" $PY -m pytest "$@" || status=1
elif [ "${CI:-}" = "true" ]; then
  echo "!! CI requires PostgreSQL and Redis for the second run"; status=1
else
  echo "== skipped run 2/2: PostgreSQL + Redis not reachable (set JEWELREC_TEST_DATABASE_URL / JEWELREC_TEST_BROKER_URL)"
fi
exit $status
