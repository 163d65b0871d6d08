"""Tests run against real PostgreSQL and Redis (defaults on 127.0.0.1)."""
import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/newsroom")
# Several test runs may share one machine (developers, helpers, CI): each run
# gets its own Redis database and test database unless told otherwise.
TEST_RUN_LOCK = "newsroom:test-run-owner"


def _claim_redis_db() -> str:
    """The first Redis database (1-15) no other live test run holds."""
    try:
        import redis

        for db in range(15, 0, -1):
            client = redis.Redis(host="127.0.0.1", port=6379, db=db, socket_connect_timeout=2)
            if client.set(TEST_RUN_LOCK, os.getpid(), nx=True, ex=3 * 3600):
                return f"redis://127.0.0.1:6379/{db}"
            owner = client.get(TEST_RUN_LOCK)
            if owner and not _alive(int(owner)):
                client.set(TEST_RUN_LOCK, os.getpid(), ex=3 * 3600)
                return f"redis://127.0.0.1:6379/{db}"
    except Exception:
        pass  # Redis down: make test's service check says so
    return "redis://127.0.0.1:6379/15"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if "REDIS_URL" not in os.environ:
    os.environ["REDIS_URL"] = _claim_redis_db()
os.environ.setdefault("NEWSROOM_ALLOW_PRIVATE_FETCH", "1")
os.environ.setdefault("NEWSROOM_VAR_DIR", "/tmp/newsroom-test-var")

from .base import *  # noqa: E402,F401,F403

DATABASES["default"]["TEST"] = {"NAME": os.environ.get("NEWSROOM_TEST_DB", f"test_newsroom_{os.getpid()}")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
NEWSROOM_FETCH_DEADLINE = 8.0
NEWSROOM_FETCH_TIMEOUT = 3.0
NEWSROOM_FULLTEXT = False
