"""gunicorn settings shared by scripts/run-embedded.sh, docker-compose, the Dockerfile and `make bench`.

Prometheus multi-process mode: every worker writes its metrics to files in
PROMETHEUS_MULTIPROC_DIR (emptied by whoever starts gunicorn); a worker that
exits is marked dead so its live gauges stop counting.
"""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers for a CPU-bound Django app: about two per core; threads only for slow clients.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", 1))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak never becomes an outage.
# Off by default: recycling a worker resets the connections it holds (seen under load as
# ConnectionResetError); set GUNICORN_MAX_REQUESTS to bound a leaking deployment.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 0))
max_requests_jitter = 500
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
