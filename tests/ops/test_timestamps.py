"""Timestamps read from PostgreSQL (newsroom.postgresql.base): the fast path for values
at offset +00 reads exactly what Django's own loader reads, and everything else is
left to Django's loader — over a real connection, and value by value."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from django.utils import timezone as dj_timezone
from psycopg import pq

from articles.models import Article
from feeds.models import Source

pytestmark = pytest.mark.django_db


def _loaders():
    connection.ensure_connection()
    conn = connection.connection
    oid = conn.adapters.types["timestamptz"].oid
    fast_class = conn.adapters.get_loader(oid, pq.Format.TEXT)
    assert fast_class.__name__ == "FastTzLoader"
    django_class = fast_class.__mro__[1]  # the loader Django registered for the connection's zone
    return fast_class(oid, conn), django_class(oid, conn)


def _outcome(loader, data):
    try:
        value = loader.load(data)
    except Exception as exc:  # what Django's loader refuses, the fast one must refuse too
        return type(exc)
    return value, value.tzinfo


@pytest.mark.parametrize("text", [
    "2025-12-01 08:00:00+00", "2025-12-01 08:00:00.5+00", "2025-12-01 08:00:00.12345+00",
    "2025-12-01 08:00:00.123456+00", "0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00",
    "2024-02-29 23:59:59+00",
    # Not the fast path: other offsets, BC, past 9999, infinity, nonsense.
    "2025-12-01 16:00:00+08", "2025-12-01 13:30:00+05:30", "1900-01-01 00:00:00+00:17:30",
    "2025-12-01 08:00:00+00 BC", "10000-01-01 00:00:00+00", "infinity", "-infinity", "2025-13-01 00:00:00+00",
])
def test_each_value_is_read_as_djangos_loader_reads_it(text):
    fast, django_loader = _loaders()
    for data in (text.encode(), memoryview(text.encode())):
        assert _outcome(fast, data) == _outcome(django_loader, data)


def test_times_stored_and_read_back_are_the_same_instants():
    source = Source.objects.create(name="时刻", slug="shike", url="https://example.com/feed.xml")
    base = datetime(2025, 12, 1, 8, 0, tzinfo=timezone.utc)
    whens = [base, base + timedelta(microseconds=1), base + timedelta(microseconds=500_000),
             datetime(1, 1, 1, tzinfo=timezone.utc), datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone.utc),
             dj_timezone.now()]
    for n, when in enumerate(whens):
        Article.objects.create(source=source, title=f"第 {n} 篇", url=f"https://example.com/{n}", guid=f"g{n}",
                               guid_hash=f"{n:040d}",
                               published_at=when)
    read = list(Article.objects.filter(source=source).order_by("title").values_list("published_at", flat=True))
    assert read == whens
    assert all(value.utcoffset() == timedelta(0) for value in read)


def test_a_value_at_offset_zero_never_reaches_the_slow_parser(monkeypatch):
    fast, django_loader = _loaders()

    def refuse(self, data):
        raise AssertionError(f"the slow parser was asked for {bytes(data)!r}")

    monkeypatch.setattr(type(django_loader), "load", refuse)
    assert fast.load(b"2025-12-01 08:00:00.25+00") == datetime(2025, 12, 1, 8, 0, 0, 250_000, tzinfo=timezone.utc)
    with pytest.raises(AssertionError):
        fast.load(b"2025-12-01 16:00:00+08")  # another offset: Django's loader reads it
