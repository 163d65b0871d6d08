"""Fixtures for the operations tests: a real gunicorn serving the test database,
and the machine's PostgreSQL / Redis restarted for real (always brought back)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import app_env

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Gunicorn:
    def __init__(self, workers: int = 2) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.metrics_dir = tempfile.mkdtemp(prefix="newsroom-prom-")
        self.log = tempfile.NamedTemporaryFile("w+", prefix="gunicorn-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "newsroom.wsgi", "-c", "ops/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--threads", "2"],
            cwd=REPO, env=app_env(PROMETHEUS_MULTIPROC_DIR=self.metrics_dir, CONN_MAX_AGE="60"),
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if get(self.base + "/healthz?live=1", timeout=2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("gunicorn did not start:\n" + self.output())

    def url(self, path: str) -> str:
        return self.base + path

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)


@pytest.fixture
def gunicorn_server():
    server = Gunicorn()
    yield server
    server.stop()


# --- the machine's services -------------------------------------------------------

PG_CLUSTER = (sorted(os.listdir("/etc/postgresql"))[0] if os.path.isdir("/etc/postgresql") else "")
REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
    "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]


def redis_up() -> bool:
    return subprocess.run(["redis-cli", "-p", "6379", "ping"], capture_output=True, text=True).stdout.strip() == "PONG"


def pg_up() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode == 0


def wait_for(check, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def redis_start() -> None:
    if redis_up():
        return
    os.makedirs("/var/lib/redis", exist_ok=True)
    os.makedirs("/var/log/redis", exist_ok=True)
    subprocess.run(REDIS_START, check=True)
    assert wait_for(redis_up), "redis did not come back"


def redis_restart() -> None:
    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True)
    wait_for(lambda: not redis_up(), 10)
    redis_start()


def pg_ctl(action: str) -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", PG_CLUSTER, "main", action], check=True,
                   capture_output=True)


def pg_restart() -> None:
    pg_ctl("restart")
    assert wait_for(pg_up), "postgresql did not come back"


def services_ensure_up() -> None:
    """Whatever happened in a test, leave PostgreSQL and Redis running."""
    if not redis_up():
        redis_start()
    if not pg_up():
        try:
            pg_ctl("start")
        except subprocess.CalledProcessError:
            pass
        wait_for(pg_up)
