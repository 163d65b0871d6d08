"""The database health check (newsroom/postgresql/base.py): a quiet connection is
trusted without a round trip; one the server closed is noticed and replaced."""
from __future__ import annotations

import time

import psycopg
import pytest
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connection, connections

pytestmark = pytest.mark.django_db(transaction=True)


def _next_request() -> None:
    close_old_connections()  # what Django does when a request (or a task) starts
    assert connection.health_check_done is False or connection.connection is None


def test_the_site_uses_the_backend_with_the_quiet_check():
    assert type(connections[DEFAULT_DB_ALIAS]).__module__ == "newsroom.postgresql.base"
    assert connection.health_check_enabled and connection.vendor == "postgresql"


def test_a_quiet_connection_is_kept_without_asking_the_server(monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    kept = connection.connection
    asked = []
    monkeypatch.setattr(type(connections[DEFAULT_DB_ALIAS]), "is_usable", lambda self: asked.append(1) or True)
    for _ in range(3):
        _next_request()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 2")
            assert cursor.fetchone() == (2,)
    assert asked == []  # no SELECT 1 before each request's first query
    assert connection.connection is kept


def test_a_connection_the_server_closed_is_replaced_before_the_query():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    old = connection.connection
    settings = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in settings.items() if k in ("host", "port", "user", "dbname", "password")},
                         autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and connection._quiet():
        time.sleep(0.02)  # the termination notice and the end of the stream arrive
    assert not connection._quiet()  # the socket tells, without a query
    _next_request()
    with connection.cursor() as cursor:  # would raise "server closed the connection" without the check
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid
    assert connection.connection is not old


def test_a_connection_left_in_a_transaction_gets_the_full_check(monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.connection.pgconn.exec_(b"BEGIN")  # behind Django's back: not idle any more
    try:
        assert not connection._quiet()
    finally:
        connection.connection.pgconn.exec_(b"ROLLBACK")
    assert connection._quiet()


# --- the moment between the server closing a connection and the notice arriving ---------------


def _terminate(pid: int) -> None:
    settings = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in settings.items() if k in ("host", "port", "user", "dbname", "password")},
                         autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _closed_but_trusted(monkeypatch) -> int:
    """The server closed this connection, and the next request's check comes before its
    notice does: the socket still looks quiet (as it does for a few milliseconds)."""
    pid = _backend_pid()
    _terminate(pid)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and connection._quiet():
        time.sleep(0.02)
    monkeypatch.setattr(type(connections[DEFAULT_DB_ALIAS]), "_quiet", lambda self: True)
    _next_request()
    return pid


def test_a_first_select_that_meets_a_closed_connection_runs_again_on_a_new_one(monkeypatch):
    pid = _closed_but_trusted(monkeypatch)
    assert _backend_pid() != pid  # answered, not "terminating connection due to administrator command"
    assert connection.connection is not None and not connection.connection.closed
    assert _backend_pid() == _backend_pid()  # the new connection stays


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "unnamed"])
@pytest.mark.parametrize("prefer_index", [False, True], ids=["statement", "pipeline"])
def test_a_page_statement_sent_without_waiting_runs_again_on_a_new_connection(monkeypatch, settings, prefer_index,
                                                                             prepared):
    """Prepared, the closed connection shows when the statement is prepared (its first use on
    the connection); unnamed, when its result is read. Either way it runs again, once."""
    from newsroom import db
    from newsroom.db import statement_rows

    settings.NEWSROOM_DB_PREPARED = prepared
    resent, on_read = [], []
    real_send, real_read_again = db.send_statement, db.SentStatement._resend_on_new_connection
    monkeypatch.setattr(db, "send_statement", lambda *a, **k: resent.append(1) or real_send(*a, **k))
    monkeypatch.setattr(db.SentStatement, "_resend_on_new_connection",
                        lambda self: on_read.append(1) or real_read_again(self))
    pid = _closed_but_trusted(monkeypatch)
    rows = statement_rows("SELECT pg_backend_pid(), %s::int, current_setting('enable_seqscan')", [7],
                          prefer_index=prefer_index)  # a search window goes in a pipeline with its SET LOCAL
    assert rows[0][0] != pid and rows[0][1:] == (7, "off" if prefer_index else "on")
    assert not connection.connection.pgconn.pipeline_status
    assert len(resent) == 2  # the statement_rows call, and the one sent again
    assert on_read == ([] if prepared else [1])  # found while preparing it, or when reading its result


def test_only_the_first_statement_and_only_a_select_runs_again(monkeypatch):
    from django.db import OperationalError

    pid = _closed_but_trusted(monkeypatch)
    with pytest.raises(OperationalError):  # a write may have run before the connection went: never twice
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE t_retry (x int)")
    close_old_connections()  # the end of the request: Django replaces the broken connection
    assert _backend_pid() != pid

    pid = _backend_pid()
    _terminate(pid)
    time.sleep(0.2)
    with pytest.raises(OperationalError):  # the second statement of a request: as Django always did
        _backend_pid()
    close_old_connections()  # and replaced at the end of that request
    assert _backend_pid() != pid


def test_a_statements_own_error_is_not_run_again(monkeypatch):
    from django.db import OperationalError

    monkeypatch.setattr(type(connections[DEFAULT_DB_ALIAS]), "_quiet", lambda self: True)
    _backend_pid()
    kept = connection.connection
    kept.pgconn.exec_(b"SET statement_timeout = 50")  # behind Django's back, not a statement of the request
    try:
        _next_request()
        asked = []
        original = type(connections[DEFAULT_DB_ALIAS]).replace_if_gone
        monkeypatch.setattr(type(connections[DEFAULT_DB_ALIAS]), "replace_if_gone",
                            lambda self, sql: asked.append(sql) or original(self, sql))
        with pytest.raises(OperationalError, match="statement timeout"):  # an OperationalError of its own
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(2)")
        assert asked == ["SELECT pg_sleep(2)"]  # asked, and the connection was not gone: not run again
        assert connection.connection is kept
    finally:
        kept.pgconn.exec_(b"RESET statement_timeout")
