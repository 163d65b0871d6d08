"""Statements the site runs many times with new values: prepared once per connection.

``statement_cursor()`` is Django's cursor (health checks, the query log, execute
wrappers) with a server-side-binding psycopg cursor inside that prepares what it
runs. The values travel as parameters instead of being escaped into the SQL text
by Python and parsed back by PostgreSQL, and PostgreSQL plans each statement once
per connection (psycopg names and tracks it). Planning the article page's query
cost four times running it.

With ``NEWSROOM_DB_PREPARED`` off (``DATABASE_PREPARED_STATEMENTS=0``, e.g. behind
PgBouncer in transaction mode) it is Django's plain cursor.
"""
from __future__ import annotations

import psycopg
from django.conf import settings
from django.db import connection

__all__ = ["statement_cursor"]

_TIMESTAMPTZ = psycopg.adapters.types["timestamptz"].oid


class _PreparedCursor(psycopg.Cursor):
    def execute(self, query, params=None, **kwargs):
        super().execute(query, params, prepare=True, **kwargs)
        # Django's query log (last_executed_query, as in CaptureQueriesContext and the debug
        # toolbar) reads the text of a client-binding cursor's ``_query``: give it ours.
        self._query = _Executed(query.encode() if isinstance(query, str) else query)
        return self


class _Executed:
    __slots__ = ("query",)

    def __init__(self, query: bytes) -> None:
        self.query = query


def statement_cursor():
    """A Django cursor for one of the site's repeated statements (see the module docstring)."""
    cursor = connection.cursor()
    if not settings.NEWSROOM_DB_PREPARED:
        return cursor
    inner, raw = cursor.cursor, _PreparedCursor(connection.connection)
    tz_loader = inner.adapters.get_loader(_TIMESTAMPTZ, psycopg.pq.Format.TEXT)
    if tz_loader is not connection.connection.adapters.get_loader(_TIMESTAMPTZ, psycopg.pq.Format.TEXT):
        raw.adapters.register_loader(_TIMESTAMPTZ, tz_loader)  # as Django's own cursor reads time zones
    inner.close()
    cursor.cursor = raw
    return cursor
