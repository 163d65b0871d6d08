"""Settings shared by every environment; values come from the environment.

Embedded default (nothing set): SQLite in ./var, a file-system Celery broker
and a file cache, so `make run` works on a fresh machine with no services.
Production: DATABASE_URL (PostgreSQL) and REDIS_URL (broker, cache, counters).
"""
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("NEWSROOM_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-newsroom-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.postgres",
    "taggit",
    "feeds",
    "articles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "newsroom.middleware.RequestMetricsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "newsroom.middleware.SecurityHeadersMiddleware",
    "newsroom.middleware.RejectNulMiddleware",
    # Cached anonymous pages are served from here: the per-reader middleware below has nothing to add.
    "articles.pagecache.PageCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "newsroom.middleware.ConditionalGetMiddleware",  # no ETag on pages the page cache fills in
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "newsroom.urls"
WSGI_APPLICATION = "newsroom.wsgi.application"

TEMPLATES = [
    {
        # The site's own pages (templates/**): Jinja2, see newsroom/jinja2.py.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "newsroom.jinja2.environment",
            "context_processors": [
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "articles.context_processors.site",
            ],
        },
    },
    {
        # django.contrib.admin's templates.
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'newsroom.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, with a health check that asks the server only when its socket has
    # something to say (newsroom/postgresql/base.py): no SELECT 1 before every page's query.
    DATABASES["default"]["ENGINE"] = "newsroom.postgresql"
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Web, worker and beat share one SQLite file: wait on locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
IS_POSTGRES = "postgresql" in DATABASES["default"]["ENGINE"]
# The statements the site repeats with new values (the article page's query, ingest's
# one-statement insert and lookups, a page of a list and its tags, search's cards) are prepared,
# planned once per connection (planning the page query cost PostgreSQL four times running
# it). Off behind a pooler that cannot keep prepared statements per client (PgBouncer in
# transaction mode before 1.21).
NEWSROOM_DB_PREPARED = IS_POSTGRES and env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
if NEWSROOM_DB_PREPARED:
    # Let psycopg keep prepared statements (Django turns them off). Django's own queries bind
    # their parameters client-side, which psycopg never prepares: only a server-binding cursor
    # that asks for it is (newsroom.db.statement_cursor / send_statement).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
# Ingest sends a new entry's INSERT and prepares the next entry while PostgreSQL runs it
# (newsroom.db.send_statement). Off: each INSERT is waited for before the next entry.
NEWSROOM_INGEST_OVERLAP = IS_POSTGRES and env.bool("INGEST_OVERLAP", default=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT.mkdir(exist_ok=True)
# Serve from the app folders too when collectstatic has not run (make test, dev).
WHITENOISE_USE_FINDERS = True

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "newsroom",
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
                # A Redis outage degrades to uncached pages, never to errors.
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Celery -----------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # An unacked message (worker killed mid-task, acks_late) is redelivered after this many seconds;
    # keep it above CELERY_TASK_TIME_LIMIT or long tasks run twice.
    NEWSROOM_BROKER_VISIBILITY_TIMEOUT = env.int("NEWSROOM_BROKER_VISIBILITY_TIMEOUT", default=600)
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": NEWSROOM_BROKER_VISIBILITY_TIMEOUT}
else:
    _broker_dir = VAR_DIR / "celery"
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # kombu's default is ./control
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
CELERY_TASK_DEFAULT_QUEUE = "process"
CELERY_TASK_ROUTES = {
    "feeds.tasks.fetch_source": {"queue": "fetch"},
    "feeds.tasks.schedule_due_sources": {"queue": "maintenance"},
    "articles.tasks.*": {"queue": "process"},
    "articles.tasks.flush_counters": {"queue": "maintenance"},
    "articles.tasks.merge_search_index": {"queue": "maintenance"},
}
CELERY_BEAT_SCHEDULE = {
    "schedule-due-sources": {
        "task": "feeds.tasks.schedule_due_sources",
        "schedule": env.float("NEWSROOM_SCHEDULE_SECONDS", default=30.0),
    },
    "flush-counters": {"task": "articles.tasks.flush_counters", "schedule": 60.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Newsroom ---------------------------------------------------------------
NEWSROOM_SITE_NAME = env.str("NEWSROOM_SITE_NAME", default="新闻室 Newsroom")
NEWSROOM_ALLOW_PRIVATE_FETCH = env.bool("NEWSROOM_ALLOW_PRIVATE_FETCH", default=False)
NEWSROOM_USER_AGENT = env.str(
    "NEWSROOM_USER_AGENT",
    default="NewsroomBot/0.1 (+https://github.com/newsroom; self-hosted news aggregator)",
)
NEWSROOM_FETCH_TIMEOUT = env.float("NEWSROOM_FETCH_TIMEOUT", default=10.0)
NEWSROOM_FETCH_DEADLINE = env.float("NEWSROOM_FETCH_DEADLINE", default=30.0)
NEWSROOM_FETCH_MAX_BYTES = env.int("NEWSROOM_FETCH_MAX_BYTES", default=10 * 1024 * 1024)
NEWSROOM_FETCH_MAX_REDIRECTS = env.int("NEWSROOM_FETCH_MAX_REDIRECTS", default=5)
NEWSROOM_FETCH_CONCURRENCY = env.int("NEWSROOM_FETCH_CONCURRENCY", default=32)
# Politeness: at most this many requests in flight per host inside one fetch batch, and at most
# NEWSROOM_PER_HOST_PER_TICK sources of one host leased per scheduler tick.
NEWSROOM_PER_HOST_CONCURRENCY = env.int("NEWSROOM_PER_HOST_CONCURRENCY", default=4)
NEWSROOM_PER_HOST_PER_TICK = env.int("NEWSROOM_PER_HOST_PER_TICK", default=10)
NEWSROOM_SCHEDULE_BATCH = env.int("NEWSROOM_SCHEDULE_BATCH", default=200)
# A leased source whose worker died is picked again by the scheduler after this many seconds.
NEWSROOM_FETCH_LEASE_SECONDS = env.int("NEWSROOM_FETCH_LEASE_SECONDS", default=600)
NEWSROOM_METRICS_ALLOWED = env.list("NEWSROOM_METRICS_ALLOWED", default=["127.0.0.1", "::1"])
NEWSROOM_FULLTEXT = env.bool("NEWSROOM_FULLTEXT", default=True)
# `make bench` only: serves /bench/minimal, the baseline the page benchmarks are measured against.
NEWSROOM_BENCH = env.bool("NEWSROOM_BENCH", default=False)

TAGGIT_CASE_INSENSITIVE = True

# LOG_FORMAT=json: one JSON object per line (newsroom.logging.JsonFormatter). Both
# formats carry the Celery task id and the source id when known (ContextFilter).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "newsroom.logging.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s%(context)s %(message)s"},
        "json": {"()": "newsroom.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT.lower() == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # httpx logs every request at INFO; our fetch log and metrics already say it.
    "loggers": {
        "httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"},
        # trafilatura logs ERROR ("empty HTML tree", "discarding data") for every page it can't use;
        # feeds.extract then falls back to its own extractor, so those lines would only bury real errors.
        "trafilatura": {"level": "CRITICAL"},
    },
}
