"""/metrics and /healthz: what an operator scrapes and what a load balancer asks."""
from __future__ import annotations

import re
import socket
import threading

import pytest
from django.db import connection
from django.test import override_settings

from articles import counters
from feeds.models import Source
from feeds.services import source_create, source_fetch
from newsroom import ops
from tests.conftest import corpus_path

pytestmark = pytest.mark.django_db

FEED = ("real-feeds", "rssant", "well", "www-ruangyifeng-com-blog-atom.xml")


def sample(text: str, name: str, **labels: str) -> float | None:
    """The sum of the samples of `name` whose labels include `labels` (None if none)."""
    total = None
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0] if "{" not in line else line[: line.rindex("}")]))
        if all(got.get(k) == v for k, v in labels.items()):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


def scrape(client) -> str:
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    return response.content.decode()


def test_metrics_refused_to_other_addresses(client):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_metrics_count_fetches_entries_and_requests(client, feed_server):
    url = feed_server.add_file("/blog.atom", corpus_path(*FEED), content_type="application/atom+xml")
    source = source_create(url=url)
    before = scrape(client)
    outcome = source_fetch(source=source)
    assert outcome.status == "ok" and outcome.new == 3
    feed_server.routes["/blog.atom"].status = 500
    Source.objects.filter(pk=source.pk).update(etag="")
    source.refresh_from_db()
    assert source_fetch(source=source).status == "error"
    client.get("/")
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return (sample(after, name, **labels) or 0) - (sample(before, name, **labels) or 0)

    assert delta("newsroom_entries_total", outcome="new") == 3
    assert delta("newsroom_fetch_total", status="ok") == 1
    assert delta("newsroom_fetch_total", status="error") == 1
    assert delta("newsroom_fetch_seconds_count", status="ok") == 1
    assert (sample(after, "newsroom_request_seconds_count", view="home", method="GET") or 0) >= 1
    assert (sample(after, "newsroom_responses_total", view="home", status="2xx") or 0) >= 1


def test_metrics_count_page_cache_hits_and_misses(client, monkeypatch):
    from django.test import Client

    source = Source.objects.create(name="s", slug="s", url="https://example.com/s.xml")
    before = scrape(client)
    Client().get("/")  # rendered, not kept: nobody asked for it before
    Client().get("/")  # rendered and kept
    Client().get("/")  # served from the cache
    Client().get("/")
    monkeypatch.setattr(counters, "lua_script", lambda script: (_ for _ in ()).throw(ConnectionError("down")))
    Client().get(f"/sources/{source.slug}/")  # Redis unreachable: rendered without the cache
    after = scrape(client)

    def delta(outcome: str) -> float:
        return (sample(after, "newsroom_page_cache_total", outcome=outcome) or 0) - (
            sample(before, "newsroom_page_cache_total", outcome=outcome) or 0)

    assert (delta("first"), delta("miss"), delta("hit"), delta("unavailable")) == (1, 1, 2, 1)


def test_metrics_gauges_read_shared_state(client):
    from datetime import timedelta

    from django.utils import timezone

    source_create(url="https://example.com/late.xml")
    Source.objects.update(next_fetch_at=timezone.now() - timedelta(seconds=300))
    client_redis = counters.redis_client()
    client_redis.rpush("fetch", "a", "b", "c")
    counters.flush_reads()
    text = scrape(client)
    assert sample(text, "newsroom_scheduler_lag_seconds") >= 300
    assert sample(text, "newsroom_queue_length", queue="fetch") == 3
    assert sample(text, "newsroom_queue_length", queue="process") == 0
    assert 0 <= sample(text, "newsroom_counter_flush_lag_seconds") < 60


def test_healthz_ready_and_live(client):
    ready = client.get("/healthz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "broker": "ok", "cache": "ok"}
    assert client.get("/healthz?live=1").json()["status"] == "ok"


class SilentServer:
    """Accepts TCP connections and never answers: a stuck PostgreSQL or Redis."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def _readiness_in_thread(seconds: float) -> dict | None:
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(ops.readiness()), daemon=True)
    thread.start()
    thread.join(seconds)
    return box or None


def test_readiness_fails_fast_when_database_and_broker_hang():
    silent = SilentServer()
    saved = dict(connection.settings_dict)
    try:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(silent.port))
        with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{silent.port}/0"):
            result = _readiness_in_thread(15)
    finally:
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        silent.close()
    assert result is not None, "readiness hung on a stuck database / broker"
    assert result["database"].startswith("error")
    assert result["broker"].startswith("error")
    assert result["cache"] == "ok"


def test_healthz_503_when_broker_refuses(client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{closed_port}/0"):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["broker"].startswith("error") and body["database"] == "ok"


def test_bench_view_only_when_enabled(client):
    assert client.get("/bench/minimal").status_code == 404
