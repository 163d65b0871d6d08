"""Fail early, and say how to fix it, when the test services are not reachable."""
import os
import shutil
import socket
import sys

CHECKS = [
    ("PostgreSQL", os.environ.get("PG_HOST", "127.0.0.1"), int(os.environ.get("PG_PORT", "5432"))),
    ("Redis", os.environ.get("REDIS_HOST", "127.0.0.1"), int(os.environ.get("REDIS_PORT", "6379"))),
]

problems = []
for name, host, port in CHECKS:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        problems.append(f"{name} is not reachable on {host}:{port} ({exc}).")
if not (os.path.exists("/usr/bin/chromium") or shutil.which("chromium")):
    problems.append("Chromium is missing: the browser tests drive Debian's /usr/bin/chromium "
                    "(sudo apt-get install -y chromium).")
if problems:
    print("make test needs these services:", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    print("Start PostgreSQL and Redis with:  docker compose up -d postgres redis\n"
          "(or your system's services; tests use DATABASE_URL / REDIS_URL if set, "
          "defaults postgres://postgres@127.0.0.1:5432/newsroom and redis://127.0.0.1:6379/15).",
          file=sys.stderr)
    sys.exit(1)
