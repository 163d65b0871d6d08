"""Hostile servers through the whole pipeline: `fetch --all` with the SSRF guard on.

Every source sits on a "public" host name (fake DNS → a loopback address the
guard is told to treat as public), so the real address policy applies to every
hop. Each bad source ends as a recorded error of the right kind; the good one
in the same run is ingested.
"""
from __future__ import annotations

import io
import json
from urllib.parse import quote

import pytest
from django.core.management import call_command
from prometheus_client import REGISTRY

from articles.models import Article
from feeds.models import FetchLog, Source
from feeds.services import source_create
from tests.conftest import corpus_path
from tests.feeds.hostile import HostileServer

RUANYF = ("real-feeds", "rssant", "well", "www-ruangyifeng-com-blog-atom.xml")
BROKEN_FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x<b></title></chan></rss>'
DEADLINE = 2.0


def fetched(kind: str, status: str = "error") -> float:
    return REGISTRY.get_sample_value("newsroom_fetch_total", {"status": status, "kind": kind}) or 0.0


@pytest.mark.django_db(transaction=True)
def test_hostile_sources_are_recorded_errors_and_the_good_one_is_ingested(
    public_server: HostileServer, fake_dns, pretend_public, settings
) -> None:
    settings.NEWSROOM_ALLOW_PRIVATE_FETCH = False
    settings.NEWSROOM_FETCH_DEADLINE = DEADLINE
    settings.NEWSROOM_FETCH_MAX_BYTES = 2 * 1024 * 1024
    fake_dns["news.example.com"] = [pretend_public]
    host = "news.example.com"

    good = public_server.add("good.atom", corpus_path(*RUANYF).read_bytes(), "application/atom+xml")
    cases = {
        "drip": (public_server.url("/drip", host), "timeout"),
        "bomb": (public_server.url("/gzip-bomb", host), "too_large"),
        "metadata": (public_server.url("/redirect?to=" + quote("http://169.254.169.254/latest/meta-data/", safe=""), host),
                     "refused_address"),
        "rebind": (public_server.url("/redirect?to=" + quote("http://127.0.0.1:6379/", safe=""), host), "refused_address"),
        "status": (public_server.url("/status/500", host), "http_status"),
        "html": (public_server.add("parked.html", b"<html><body><h1>Domain for sale</h1></body></html>", "text/html"),
                 "not_a_feed"),
        "broken": (public_server.add("broken.xml", BROKEN_FEED, "application/rss+xml"), "parse_error"),
    }
    ids = {name: source_create(url=url.replace(public_server.host, host)).pk for name, (url, _kind) in cases.items()}
    good_id = source_create(url=good.replace(public_server.host, host)).pk
    before = {kind: fetched(kind) for _url, kind in cases.values()}
    ok_before = fetched("", "ok")

    out = io.StringIO()
    call_command("fetch", "--all", "--json", stdout=out)
    lines = {o["source"]: o for o in map(json.loads, out.getvalue().splitlines())}

    assert len(lines) == len(cases) + 1
    assert lines[good_id]["status"] == "ok" and lines[good_id]["new"] == 3
    assert Article.objects.filter(source_id=good_id).count() == 3
    for name, (_url, kind) in cases.items():
        line = lines[ids[name]]
        assert (line["status"], line["error_kind"]) == ("error", kind), (name, line)
        assert line["health"] == "warning"
        source = Source.objects.get(pk=ids[name])
        assert source.last_error_kind == kind and source.last_error and source.consecutive_errors == 1
        assert source.next_fetch_at > source.last_fetched_at and source.leased_until is None
        log = FetchLog.objects.get(source_id=ids[name])
        assert log.status == "error" and log.error_kind == kind
        assert log.duration_ms < (DEADLINE + 5) * 1000, (name, log.duration_ms)  # bounded by the deadline
        assert not Article.objects.filter(source_id=ids[name]).exists()
    assert "deadline" in Source.objects.get(pk=ids["drip"]).last_error
    assert "169.254.169.254" in Source.objects.get(pk=ids["metadata"]).last_error
    # Counted for Prometheus by status and kind.
    for kind in {k for _u, k in cases.values()}:
        expected = sum(1 for _u, k in cases.values() if k == kind)
        assert fetched(kind) - before[kind] == expected, kind
    assert fetched("", "ok") - ok_before == 1
