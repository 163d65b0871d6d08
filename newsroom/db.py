"""Statements the site runs many times with new values: prepared once per connection.

``statement_cursor()`` is Django's cursor (health checks, the query log, execute
wrappers) with a server-side-binding psycopg cursor inside that prepares what it
runs. The values travel as parameters instead of being escaped into the SQL text
by Python and parsed back by PostgreSQL, and PostgreSQL plans each statement once
per connection (psycopg names and tracks it). Planning the article page's query
cost four times running it.

With ``NEWSROOM_DB_PREPARED`` off (``DATABASE_PREPARED_STATEMENTS=0``, e.g. behind
PgBouncer in transaction mode) it is Django's plain cursor.

``send_statement()`` sends such a statement and returns at once (libpq's
asynchronous API): PostgreSQL runs it while this process goes on computing, and
``fetchone()`` then waits for what is left of it. Ingest prepares the next entry
while the last one is being written.

``prefer_index=True`` runs the statement with sequential scans priced out
(``SET LOCAL enable_seqscan = off``), for text matches over SearchDoc: the
planner prices a sequential scan by SearchDoc's small heap, not by the vectors
every row would read back from TOAST, so for a query it expects to match often
(an OR of many keyword pairs) it picks the scan, and 0.03 s becomes 0.4 s at
100k articles. The setting and the statement go in one pipeline (libpq's
pipeline mode), in one implicit transaction that ends with them, so it costs no
round trip of its own; through a cursor that would be four (BEGIN, SET LOCAL,
the statement, COMMIT). Statements that must run through a cursor (inside a
transaction, or not prepared) get the same with ``index_scans()``.
"""
from __future__ import annotations

import itertools
import re
import select
import time
import weakref
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from functools import cache, lru_cache
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.db.utils import InterfaceError, OperationalError
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer

__all__ = ["SentStatement", "from_row", "send_statement", "statement_cursor", "statement_rows"]

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


def statement_rows(sql: str, params: Sequence, *, prefer_index: bool = False) -> list[tuple]:
    """All rows of one of the site's repeated statements: sent and read through libpq
    (``send_statement``), which costs a quarter less CPU than a cursor (psycopg's cursor
    runs a few dozen Python calls a statement: 90 against 67 µs for the article page's);
    where that can't be done (SQLite, inside a transaction), ``statement_cursor``.
    ``prefer_index``: see the module docstring (PostgreSQL only)."""
    sent = send_statement(sql, params, prefer_index=prefer_index)
    if sent is not None:
        return sent.fetchall()
    planner = index_scans() if prefer_index and connection.vendor == "postgresql" else nullcontext()
    with planner, statement_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@contextmanager
def index_scans():
    """PostgreSQL: sequential scans priced out for the statements run inside (see the
    module docstring), in a transaction (``SET LOCAL``); inside an enclosing transaction,
    which goes on after, its planner is given back."""
    enclosed = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_SEQSCAN_OFF)
        yield
        if enclosed:
            cursor.execute("SET LOCAL enable_seqscan = on")


def from_row(model, names: tuple[str, ...], values):
    """What the ORM makes of a row (``model.from_db``: a loaded instance, the fields not
    read deferred) for ``values`` in ``names`` order.

    A list page builds a hundred of these (cards, their sources, their tags), and
    ``Model.__init__`` walks every field of the model for each: 10–27 µs an instance.
    Where nothing can tell the difference — the model keeps Django's ``__init__`` and
    ``from_db``, no receiver listens to its ``pre_init``/``post_init``, and no named
    field has a descriptor that acts on assignment — the instance is filled as
    ``__init__`` would leave it (the values in ``__dict__``, the fields not named
    absent, so deferred) in about 1 µs. Otherwise ``from_db`` itself."""
    if _plain_model(model, names) and not _init_listened(model):
        new = _new(model)
        state = new.__dict__["_state"] = ModelState()
        state.adding, state.db = False, "default"
        new.__dict__.update(zip(names, values))
        return new
    order = _model_order(model, names)
    return model.from_db("default", names, [values[i] for i in order])


_new = object.__new__


def _init_listened(model) -> bool:
    """Does a receiver listen to this model's pre_init or post_init? (Usually no model's.)"""
    if not pre_init.receivers and not post_init.receivers:
        return False
    return pre_init.has_listeners(model) or post_init.has_listeners(model)


@cache
def _plain_model(model, names: tuple[str, ...]) -> bool:
    """Is filling ``__dict__`` what ``from_db`` would do for this model and these fields?"""
    if model.__init__ is not Model.__init__ or model.from_db.__func__ is not Model.from_db.__func__:
        return False
    if model._meta.abstract or len(set(names)) != len(names):
        return False
    attnames = {f.attname for f in model._meta.concrete_fields}
    return all(name in attnames and _inert(getattr(model, name, None)) for name in names)


def _inert(descriptor) -> bool:
    """Does assigning through this class attribute on a new instance only store the value?
    A foreign key's id does more only when the related object is cached (never, here)."""
    return type(descriptor) is ForeignKeyDeferredAttribute or not hasattr(type(descriptor), "__set__")


@cache
def _model_order(model, names: tuple[str, ...]) -> tuple[int, ...]:
    position = {f.attname: i for i, f in enumerate(model._meta.concrete_fields)}
    return tuple(sorted(range(len(names)), key=lambda i: position[names[i]]))


# Names of the statements send_statement prepared, per libpq connection: (SQL, parameter types) → name.
# Each one stays prepared on the server for the connection's life (CONN_MAX_AGE, maybe for ever):
# past MAX_PREPARED, a new statement's text (a rare search's shape) is sent unnamed instead.
MAX_PREPARED = 100
_prepared: weakref.WeakKeyDictionary[Any, dict[tuple[bytes, tuple[int, ...]], bytes]] = weakref.WeakKeyDictionary()
_names = itertools.count()  # never a name twice in a process, whatever a server forgot
_PLACEHOLDER_RE = re.compile(r"%%|%s")


@lru_cache(maxsize=32)
def _numbered(sql: str) -> bytes:
    """Django's ``%s`` placeholders as PostgreSQL's ``$1, $2, …`` (``%%`` is a literal ``%``)."""
    count = 0

    def number(m: re.Match) -> str:
        nonlocal count
        if m.group() == "%%":
            return "%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER_RE.sub(number, sql).encode()


class SentStatement:
    """A statement PostgreSQL is running while the caller goes on. ``fetchone()`` or
    ``fetchall()`` must be called before anything else uses the connection: it waits
    for the result, reads all of it (the connection is free again) and returns the
    first row or all of them, or raises the statement's error as Django's cursor would."""

    def __init__(self, sql: str, params: Sequence, transformer: Transformer, started: float, *, again: bool,
                 unconfirmed: bool = False, prefer_index: bool = False) -> None:
        self._sql = sql
        self._params = params
        self._again = again  # may it be sent again once (its prepared statement gone)?
        self._unconfirmed = unconfirmed  # the first on a connection nobody asked the server about
        self._prefer_index = prefer_index
        self._tx = transformer
        self._started = started
        self._done = False

    def fetchone(self) -> tuple | None:
        rows = self._read(first=True)
        return rows[0] if rows else None

    def fetchall(self) -> list[tuple]:
        """Every row (the statement's result is read whole either way)."""
        return self._read(first=False)

    def _read(self, *, first: bool) -> list[tuple]:
        if self._done:
            raise RuntimeError("the result was read already")
        self._done = True
        pgconn = connection.connection.pgconn
        try:
            with connection.wrap_database_errors:
                results = _collect(pgconn)
        except (OperationalError, InterfaceError):
            if not self._again_on_new_connection():
                raise
            return self._resend_on_new_connection()._read(first=first)
        _log(self._sql, self._started)
        error = next((r for r in results if r.status == pq.ExecStatus.FATAL_ERROR), None)
        if error is not None and self._again_on_new_connection():
            return self._resend_on_new_connection()._read(first=first)
        if error is not None:
            if error.error_field(pq.DiagnosticField.SQLSTATE) == b"26000" and self._again:
                # The server forgot its prepared statements (DEALLOCATE/DISCARD ALL): nothing ran; again, once.
                _prepared.pop(pgconn, None)
                again = self._resend(again=False)
                if again is not None:
                    return again._read(first=first)
            with connection.wrap_database_errors:
                raise psycopg.errors.error_from_result(error, encoding=connection.connection.info.encoding)
        rows = next((r for r in results if r.status == pq.ExecStatus.TUPLES_OK), None)
        if rows is None or not rows.ntuples:
            return []
        self._tx.set_pgresult(rows)
        return [self._tx.load_row(0, tuple)] if first else self._tx.load_rows(0, rows.ntuples, tuple)

    def _resend(self, *, again: bool) -> SentStatement | None:
        return send_statement(self._sql, self._params, prefer_index=self._prefer_index, _again=again)

    def _again_on_new_connection(self) -> bool:
        """The statement failed: was it the first on a connection the quiet check trusted, found
        closed by the server, and safe to run again? Then a new connection is open for it."""
        if not self._unconfirmed:
            return False
        self._unconfirmed = False
        return connection.replace_if_gone(self._sql)

    def _resend_on_new_connection(self) -> SentStatement:
        again = self._resend(again=self._again)
        if again is None:  # cannot happen on a new autocommit connection; never silently
            raise OperationalError("the connection was lost and the statement could not be sent again")
        return again


def _wait(pgconn, *, write: bool) -> None:
    fd = pgconn.socket
    select.select([] if write else [fd], [fd] if write else [], [])


def _flush(pgconn) -> None:
    while pgconn.flush():  # 1: more to send (a long body on a non-blocking connection)
        _wait(pgconn, write=True)


def _results(pgconn) -> list:
    """Every result of the statement in flight (libpq returns None after the last); in
    pipeline mode, every result of every statement up to the sync, and the pipeline ends."""
    if pgconn.pipeline_status:
        return _pipeline_results(pgconn)
    results = []
    while (result := _next_result(pgconn)) is not None:
        results.append(result)
    return results


def _next_result(pgconn):
    """The next result as libpq gives it (None: the end of one statement's results), waited for."""
    pgconn.consume_input()
    while pgconn.is_busy():
        _wait(pgconn, write=False)
        pgconn.consume_input()
    return pgconn.get_result()


def _pipeline_results(pgconn) -> list:
    results = []
    while True:
        result = _next_result(pgconn)
        if result is None:  # the end of one statement's results
            if pgconn.status == pq.ConnStatus.BAD:  # nothing more will come
                try:
                    pgconn.exit_pipeline_mode()
                except Exception:
                    pass
                raise psycopg.OperationalError("the connection was closed by the server")
            continue
        if result.status == pq.ExecStatus.PIPELINE_SYNC:
            pgconn.exit_pipeline_mode()
            return results
        if result.status != pq.ExecStatus.COMMAND_OK:  # the SET's own "done" is of no interest
            results.append(result)


def _collect(pgconn) -> list:
    """_results; interrupted while waiting (e.g. a task's time limit, a signal), the
    statement is abandoned so that the connection is free for whoever comes next."""
    try:
        return _results(pgconn)
    except BaseException:
        _abandon(pgconn)
        raise


def _abandon(pgconn) -> None:
    """Cancel the statement in flight and read what is left of it, so whoever uses the
    connection next finds it free (a broken connection is Django's to replace)."""
    try:
        pgconn.get_cancel().cancel()
        _results(pgconn)
    except Exception:
        pass


def _log(sql: str, started: float) -> None:
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})


def send_statement(sql: str, params: Sequence, *, prefer_index: bool = False,
                   _again: bool = True) -> SentStatement | None:
    """Send one statement (autocommit: it is its own transaction) without waiting
    for it; None where that can't be done (not PostgreSQL, inside a transaction),
    and the caller runs it the usual way. ``prefer_index``: see the module docstring."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    # As Django's cursor does: with CONN_HEALTH_CHECKS, the first statement of a request
    # finds out whether the connection still works (PostgreSQL restarted) and opens a new one.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    if not connection.get_autocommit():
        return None  # the caller manages a transaction by hand: its statements belong in it
    # The first statement on a connection the quiet check trusted may meet it closed by the
    # server a moment ago; it then runs again on a new connection (newsroom.postgresql.base).
    unconfirmed = getattr(connection, "take_unconfirmed", bool)()
    conn = connection.connection
    pgconn = conn.pgconn
    if pgconn.transaction_status != pq.TransactionStatus.IDLE or pgconn.pipeline_status:
        return None
    started = time.monotonic()
    tx = Transformer(conn)
    query = _numbered(sql)
    try:
        _send(conn, tx, query, params, prefer_index)
    except (OperationalError, InterfaceError):
        if not (unconfirmed and connection.replace_if_gone(sql)):
            raise
        return send_statement(sql, params, prefer_index=prefer_index, _again=_again)
    return SentStatement(sql, params, tx, started, again=_again, unconfirmed=unconfirmed, prefer_index=prefer_index)


_SEQSCAN_OFF = "SET LOCAL enable_seqscan = off"


def _send(conn, tx: Transformer, query: bytes, params: Sequence, prefer_index: bool) -> None:
    pgconn = conn.pgconn
    with connection.wrap_database_errors:
        values = tx.dump_sequence(list(params), [PyFormat.AUTO] * len(params))
        types, formats = tx.types, tx.formats
        prepare = settings.NEWSROOM_DB_PREPARED
        names = _prepared.setdefault(pgconn, {}) if prepare else {}
        name = names.get((query, types))
        if name is None and prepare and len(names) < MAX_PREPARED:
            name = f"newsroom_{next(_names)}".encode()
            pgconn.send_prepare(name, query, param_types=types)
            _flush(pgconn)
            failed = [r for r in _collect(pgconn) if r.status == pq.ExecStatus.FATAL_ERROR]
            if failed:
                raise psycopg.errors.error_from_result(failed[0], encoding=conn.info.encoding)
            names[(query, types)] = name
        if prefer_index:  # the setting, the statement and a sync: one implicit transaction
            pgconn.enter_pipeline_mode()
            pgconn.send_query_params(_SEQSCAN_OFF.encode(), None)
        if name is not None:
            pgconn.send_query_prepared(name, values, param_formats=formats)
        else:
            pgconn.send_query_params(query, values, param_types=types, param_formats=formats)
        if prefer_index:
            pgconn.pipeline_sync()
        _flush(pgconn)
