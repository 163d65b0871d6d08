"""Tests run against real PostgreSQL and Redis (defaults on 127.0.0.1)."""
import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/newsroom")
# Several test runs may share one machine (developers, helpers, CI): each run
# gets its own Redis database and test database unless told otherwise.
os.environ.setdefault("REDIS_URL", f"redis://127.0.0.1:6379/{8 + os.getpid() % 8}")
os.environ.setdefault("NEWSROOM_ALLOW_PRIVATE_FETCH", "1")
os.environ.setdefault("NEWSROOM_VAR_DIR", "/tmp/newsroom-test-var")

from .base import *  # noqa: E402,F401,F403

DATABASES["default"]["TEST"] = {"NAME": os.environ.get("NEWSROOM_TEST_DB", f"test_newsroom_{os.getpid()}")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
NEWSROOM_FETCH_DEADLINE = 8.0
NEWSROOM_FETCH_TIMEOUT = 3.0
NEWSROOM_FULLTEXT = False
