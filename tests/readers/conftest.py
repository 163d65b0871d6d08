"""Reader fixtures: articles stored through the real pipeline (ingest), a logged-in reader."""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from articles.ingest import ingest
from articles.models import Article
from feeds.models import Source
from newsroom.entry import EntryData

_ids = itertools.count(1)


def make_source(name: str = "芯片快讯", slug: str = "chips", tags: str = "") -> Source:
    return Source.objects.create(name=name, slug=slug, url=f"https://example.com/{slug}.xml",
                                 site_url=f"https://example.com/{slug}/", default_tags=tags)


def store(source: Source, title: str, body: str, *, hours_ago: float = 1, categories=(), summary: str = "") -> Article:
    """One article through articles.ingest (clean → … → tag → store → search index)."""
    n = next(_ids)
    entry = EntryData(
        guid=f"urn:test:{n}", link=f"https://example.com/{source.slug}/{n}.html", title=title,
        content=body if body.lstrip().startswith("<") else f"<p>{body}</p>", summary=summary,
        published=timezone.now() - timedelta(hours=hours_ago), categories=list(categories),
    )
    result = ingest(source, [entry])
    assert not result.errors, result.errors
    return Article.objects.get(guid=entry.guid, source=source)


@pytest.fixture
def source(db) -> Source:
    return make_source()


@pytest.fixture
def reader(db, client):
    user = get_user_model().objects.create_user("duzhe", password="pw-duzhe-12345")
    client.force_login(user)
    return user


@pytest.fixture
def steady_clock(monkeypatch):
    """Pins the rate limiter's clock inside one window, so a test's burst never
    straddles a window boundary however slow the machine is."""
    from types import SimpleNamespace

    from newsroom import ratelimit

    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: 1_800_000_030.0))
