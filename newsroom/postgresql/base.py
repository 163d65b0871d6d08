"""Django's PostgreSQL backend, with a cheaper health check.

With CONN_HEALTH_CHECKS a persistent connection is checked before its first
query in each request or task. Django's check is a ``SELECT 1``: one round trip
for every page that reads the database, which on a page rendered from one
statement (the article page) was a second statement. A connection that sat idle
between requests has nothing to say: if the server closed it (a restart, an
administrator, an idle timeout), its termination notice or the end of the
stream is waiting on the socket. So the check looks at the socket first, with
no wait: nothing there, the connection is as it was left; anything there (or a
connection psycopg already knows is broken, or one left inside a transaction),
Django's ``SELECT 1`` decides, and a dead connection is replaced as before.
The full check still runs after a query failed (``close_if_unusable_or_obsolete``).

The socket can be quiet for a moment after the server decided to close the
connection: a request that comes within milliseconds of PostgreSQL terminating
its backend (a restart, ``pg_terminate_backend``) passes the check before the
notice arrives, and its first statement meets the closed connection. Django's
``SELECT 1`` would have caught that; so the first statement on a connection the
quiet check trusted is run again once, on a new connection, when it failed
because the connection is gone (``replace_if_gone``). Only a ``SELECT`` outside
a transaction, which is safe to run twice; anything else fails as before, and
Django replaces the connection at the end of the request.

Timestamps are read by Django's loader (the connection's time zone) with a fast
path: a value PostgreSQL wrote at offset +00 (the session zone is UTC, as Django
sets it with ``USE_TZ``) is parsed by ``datetime.fromisoformat`` in C instead of
psycopg's regular expression and arithmetic in Python: 3.3 → 1.1 µs a value,
forty on a list page of twenty cards. Anything else (another offset, BC, years
past 9999, infinity) goes to Django's loader as before.
"""
from __future__ import annotations

import select
from datetime import datetime
from functools import lru_cache

from django.db.backends import utils
from django.db.backends.postgresql import base
from django.db.utils import InterfaceError, OperationalError
from psycopg import adapt, pq

_TIMESTAMPTZ = "timestamptz"


class DatabaseWrapper(base.DatabaseWrapper):
    # The connection was trusted by the quiet check and has run nothing since: its next
    # statement is the first to find out whether the server still holds it.
    unconfirmed = False

    def get_connection_params(self):
        params = super().get_connection_params()
        if params.get("context") is not None:
            params["context"] = _with_fast_timestamps(params["context"])
        return params

    def close_if_health_check_failed(self) -> None:
        if (self.connection is not None and self.health_check_enabled and not self.health_check_done
                and not self.pool and self._quiet()):
            self.health_check_done = True
            self.unconfirmed = True
            return
        self.unconfirmed = False
        super().close_if_health_check_failed()

    def take_unconfirmed(self) -> bool:
        """Is the statement about to run the first on a connection the quiet check trusted?
        (True once: the next statement is not the first.)"""
        first, self.unconfirmed = self.unconfirmed, False
        return first

    def replace_if_gone(self, sql) -> bool:
        """After the first statement on a connection the quiet check trusted failed: if the
        connection is gone and the statement may run again (a ``SELECT`` outside a
        transaction), open a new connection and say so; otherwise leave everything as it is."""
        if self.in_atomic_block or not _reads_only(sql):
            return False
        if self.connection is not None and not self.connection.closed:
            return False  # the statement's own error, not a lost connection
        self.close()
        self.ensure_connection()
        return True

    def make_cursor(self, cursor):
        return _CursorWrapper(cursor, self)

    def make_debug_cursor(self, cursor):
        return _CursorDebugWrapper(cursor, self)

    def _quiet(self) -> bool:
        """Idle, not known broken, and nothing from the server waiting to be read."""
        conn = self.connection
        try:
            if conn.closed or conn.broken or conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                return False
            poller = select.poll()  # poll, not select: no limit on the descriptor's number
            poller.register(conn.pgconn.socket, select.POLLIN)
            waiting = poller.poll(0)
        except Exception:  # no socket any more, no poll (Windows), anything unexpected: the full check decides
            return False
        return not waiting


def _reads_only(sql) -> bool:
    head = (sql.decode(errors="replace") if isinstance(sql, (bytes, bytearray)) else str(sql))[:64].lstrip()
    return head[:6].upper() == "SELECT"


class _RunsAgainOnce:
    """Django's cursor: the first statement on a connection the quiet check trusted runs
    again on a new connection if it found that connection gone (see the module docstring)."""

    def _execute(self, sql, params, *ignored_wrapper_args):
        db = self.db
        if not db.take_unconfirmed():
            return super()._execute(sql, params, *ignored_wrapper_args)
        try:
            return super()._execute(sql, params, *ignored_wrapper_args)
        except (OperationalError, InterfaceError):  # psycopg's, as Django's cursor raises them
            if getattr(self.cursor, "name", None) or not db.replace_if_gone(sql):
                raise  # a server-side cursor, or the statement's own error: as Django would
        self.cursor = db.create_cursor()
        return super()._execute(sql, params, *ignored_wrapper_args)

    def _executemany(self, sql, param_list, *ignored_wrapper_args):
        self.db.unconfirmed = False
        return super()._executemany(sql, param_list, *ignored_wrapper_args)


class _CursorWrapper(_RunsAgainOnce, utils.CursorWrapper):
    pass


class _CursorDebugWrapper(_RunsAgainOnce, utils.CursorDebugWrapper):
    pass


@lru_cache
def _with_fast_timestamps(template: adapt.AdaptersMap) -> adapt.AdaptersMap:
    """Django's adapters for this time zone (one map per zone, as Django keeps them), with
    its timestamp loader given the fast path."""
    context = adapt.AdaptersMap(template)
    django_loader = template.get_loader(template.types[_TIMESTAMPTZ].oid, pq.Format.TEXT)

    class FastTzLoader(django_loader):  # keeps Django's ``timezone``, which it compares
        def load(self, data):
            if data[-3:] == b"+00":
                try:
                    return datetime.fromisoformat(bytes(data[:-3]).decode()).replace(tzinfo=self.timezone)
                except ValueError:  # years past 9999, BC, infinity: as Django reads them
                    pass
            return super().load(data)

    context.register_loader(_TIMESTAMPTZ, FastTzLoader)
    return context
