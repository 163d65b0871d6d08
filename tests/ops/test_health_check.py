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
