#!/usr/bin/env bash
# Web + worker + beat in one terminal. Embedded default: SQLite and a
# file-system broker under ./var; with DATABASE_URL / REDIS_URL set, those.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-newsroom.settings.local}
# /metrics adds up every process (gunicorn workers, celery pool): they all write here.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$VENV/bin/celery" -A newsroom worker -Q fetch,process,maintenance --pool threads --concurrency 8 \
  --loglevel INFO --hostname "worker@%h" &
pids+=($!)
"$VENV/bin/celery" -A newsroom beat --loglevel INFO --schedule var/celerybeat-schedule &
pids+=($!)
echo "Newsroom: http://$HOST:$PORT/  (admin: /admin/, demo editor: editor / newsroom-demo)"
"$VENV/bin/gunicorn" newsroom.wsgi -c ops/gunicorn.conf.py --bind "$HOST:$PORT" --workers 2 --threads 4 --access-logfile - &
pids+=($!)
wait -n "${pids[@]}"
