"""Shared fixtures: a real HTTP server for feeds, clean Redis and cache per test."""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; the ORM calls in
# the same tests are synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"


def corpus_path(*parts: str) -> Path:
    path = CORPORA.joinpath(*parts)
    if not CORPORA.is_dir():
        pytest.skip(f"third-party corpora not present at {CORPORA} (they live in ../shared beside the repo)")
    return path


@dataclass
class Route:
    body: bytes
    content_type: str = "application/xml; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class FeedServer:
    """A real threaded HTTP server on 127.0.0.1 with ETag / Last-Modified / 304."""

    LAST_MODIFIED = "Wed, 25 Nov 2026 08:00:00 GMT"

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet tests
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                server.hits[path] = server.hits.get(path, 0) + 1
                route = server.routes.get(path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                etag = '"' + hashlib.sha1(route.body).hexdigest()[:16] + '"'
                if route.status == 200 and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", server.LAST_MODIFIED)
                for k, v in route.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(route.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes | str, **kwargs) -> str:
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.routes[path] = Route(body=body, **kwargs)
        return self.url(path)

    def add_file(self, path: str, file: Path, **kwargs) -> str:
        return self.add(path, file.read_bytes(), **kwargs)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed_server():
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _clean_redis_and_cache(settings):
    """Each test starts with an empty Redis test database and cache."""
    from django.core.cache import cache

    from articles.counters import redis_client

    client = redis_client()
    if client is not None:
        client.flushdb()  # this run's own database (see settings/test.py)
    cache.clear()
    yield


def app_env(**extra: str) -> dict:
    """Environment for a gunicorn or Celery subprocess on this test run's database and Redis."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "newsroom.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "NEWSROOM_VAR_DIR": str(Path(settings.VAR_DIR) / "ops"),
        **extra,
    }


def page_text(html: str | bytes) -> str:
    """What a reader sees: the page's text with whitespace collapsed."""
    import re as _re

    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    return _re.sub(r"\s+", " ", soup.get_text(" ")).strip()


def card_ids(html: str | bytes) -> list[int]:
    """The articles a list page shows, in order: the ids its cards link to."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    return [int(a["href"].split("/")[2]) for a in soup.select("li.card .card-title a")]


def card_times(html: str | bytes) -> list:
    """The publish times (their <time datetime> attributes) of a list page's cards, in order."""
    from datetime import datetime

    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    return [datetime.fromisoformat(t["datetime"]) for t in soup.select("li.card p.meta time")]
