"""Tests run against real PostgreSQL and Redis (defaults on 127.0.0.1)."""
import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/newsroom")
# Several test runs may share one machine (developers, helpers, CI): each run
# gets its own Redis database and test database unless told otherwise.
def _claim_redis_db() -> str:
    """The first Redis database (1-15) no other live test run holds. The claims
    live in database 0, which no test flushes."""
    try:
        import redis

        registry = redis.Redis(host="127.0.0.1", port=6379, db=0, socket_connect_timeout=2)
        for db in range(15, 0, -1):
            key = f"newsroom:test-db-owner:{db}"
            if registry.set(key, os.getpid(), nx=True, ex=3 * 3600):
                return f"redis://127.0.0.1:6379/{db}"
            owner = registry.get(key)
            if owner and not _alive(int(owner)):
                registry.set(key, os.getpid(), ex=3 * 3600)
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
