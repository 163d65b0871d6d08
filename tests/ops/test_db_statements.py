"""newsroom.db.send_statement: a statement PostgreSQL runs while this process goes
on, over a real connection — its row, its errors as Django raises them, and a
connection that is free again afterwards, whatever happened."""
from __future__ import annotations

import time

import pytest
from django.db import DataError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from newsroom.db import send_statement

pytestmark = pytest.mark.django_db(transaction=True)


def _prepared_count(prefix: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [prefix + "%"])
        return cursor.fetchone()[0]


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "unnamed"])
def test_the_server_runs_it_while_the_caller_computes(prepared, settings):
    settings.NEWSROOM_DB_PREPARED = prepared
    connection.close()
    sent = send_statement("SELECT %s::int + 1, pg_sleep(0.3)::text, '100%%'", [41])
    started = time.monotonic()
    time.sleep(0.3)  # the caller's own work: the statement runs meanwhile
    assert sent.fetchone() == (42, "", "100%")
    assert time.monotonic() - started < 0.55  # not 0.3 + 0.3 (generous: a loaded machine)
    # Values of other types and sizes go to the same statement (one plan per parameter types).
    for value in (7, 2**40, None):
        assert send_statement("SELECT %s::bigint + 1, pg_sleep(0)::text, '100%%'", [value]).fetchone() == (
            None if value is None else value + 1, "", "100%")
    assert (_prepared_count("SELECT $1::int + 1") == 1) is prepared
    with connection.cursor() as cursor:  # the connection is free for Django again
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)


def test_a_long_value_is_sent_whole_and_the_query_log_shows_the_statement():
    body = "英伟达" * 2_000_000  # 18 MB: more than a socket buffer holds
    with CaptureQueriesContext(connection) as queries:
        assert send_statement("SELECT length(%s)", [body]).fetchone() == (len(body),)
    assert [q["sql"] for q in queries.captured_queries] == ["SELECT length(%s)"]


def test_its_errors_are_djangos_with_the_sqlstate_and_the_connection_recovers():
    with pytest.raises(DataError) as caught:
        send_statement("SELECT 1 / %s", [0]).fetchone()
    assert caught.value.__cause__.sqlstate == "22012"
    deadlock = "DO $$ BEGIN RAISE EXCEPTION 'victim %%', 1 USING ERRCODE = '40P01'; END $$"
    with pytest.raises(OperationalError) as caught:
        send_statement(deadlock, []).fetchone()
    assert caught.value.__cause__.sqlstate == "40P01"  # what ingest's deadlock retry looks for
    assert send_statement("SELECT %s", ["still here"]).fetchone() == ("still here",)


def test_it_commits_on_its_own_and_is_not_used_inside_a_transaction():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE zz_sent (a int)")
    try:
        assert send_statement("INSERT INTO zz_sent VALUES (%s) RETURNING a", [5]).fetchone() == (5,)
        connection.close()  # another connection sees the row: it was committed
        with connection.cursor() as cursor:
            cursor.execute("SELECT a FROM zz_sent")
            assert cursor.fetchall() == [(5,)]
        with transaction.atomic():
            assert send_statement("SELECT 1", []) is None  # its statement must stay in the caller's transaction
        transaction.set_autocommit(False)
        try:
            assert send_statement("SELECT 1", []) is None  # the same for a transaction managed by hand
        finally:
            transaction.set_autocommit(True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE zz_sent")


def test_a_server_that_forgot_its_prepared_statements_prepares_it_again(settings):
    settings.NEWSROOM_DB_PREPARED = True
    connection.close()
    assert send_statement("SELECT %s::int * 2", [4]).fetchone() == (8,)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a pooler's DISCARD ALL would
    assert send_statement("SELECT %s::int * 2", [5]).fetchone() == (10,)
    assert _prepared_count("SELECT $1::int * 2") == 1


class TimeUp(BaseException):
    pass


def _interrupt_the_first_wait(monkeypatch) -> None:
    """A task's time limit (a signal) arrives while the result is awaited."""
    from newsroom import db

    real_wait, calls = db._wait, []

    def wait_interrupted(pgconn, *, write):
        calls.append(write)
        if not write and len(calls) == 1:
            raise TimeUp()
        return real_wait(pgconn, write=write)

    monkeypatch.setattr(db, "_wait", wait_interrupted)


def test_interrupted_while_waiting_the_statement_is_cancelled_and_the_connection_free(monkeypatch):
    """A task's time limit (a signal) may arrive while the result is awaited."""
    sent = send_statement("SELECT pg_sleep(%s)", [30])
    _interrupt_the_first_wait(monkeypatch)
    started = time.monotonic()
    with pytest.raises(TimeUp):
        sent.fetchone()
    assert time.monotonic() - started < 10  # cancelled, not waited out
    with connection.cursor() as cursor:
        cursor.execute("SELECT 3")
        assert cursor.fetchone() == (3,)


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "unnamed"])
def test_statement_rows_through_libpq_are_the_cursors_rows(prepared, settings):
    """statement_rows (the site's list, page and search statements) reads through send_statement
    outside a transaction: the same rows, types and time zones as a cursor, none, its errors as
    Django's, and the query log still shows it; inside a transaction the cursor reads them."""
    from datetime import datetime, timezone as dt_timezone

    from newsroom.db import statement_rows

    settings.NEWSROOM_DB_PREPARED = prepared
    sql = ("SELECT n, 'α' || n, %s::timestamptz + n * interval '1 hour', json_build_array(n, 'x') "
           "FROM generate_series(1, %s) AS n ORDER BY n")
    at = datetime(2026, 1, 1, 8, 0, tzinfo=dt_timezone.utc)
    with connection.cursor() as cursor:
        cursor.execute(sql, [at, 3])
        expected = cursor.fetchall()
    with CaptureQueriesContext(connection) as queries:
        rows = statement_rows(sql, [at, 3])
    assert rows == expected and len(rows) == 3 and rows[2][3] == [3, "x"]
    assert rows[0][2] == at.replace(hour=9) and rows[0][2].utcoffset().total_seconds() == 0
    assert [q["sql"] for q in queries.captured_queries] == [sql]
    assert statement_rows(sql, [at, 0]) == []
    with pytest.raises(DataError):
        statement_rows("SELECT 1 / %s", [0])
    assert statement_rows("SELECT %s", ["again"]) == [("again",)]
    with transaction.atomic():
        assert statement_rows(sql, [at, 2]) == expected[:2]


def test_a_connection_the_server_dropped_is_replaced_at_a_requests_first_statement():
    """With CONN_HEALTH_CHECKS a request's first statement checks the connection, as Django's
    cursor does: after PostgreSQL dropped it (a restart), the page is read on a new one."""
    import psycopg

    from newsroom.db import statement_rows

    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    connection.ensure_connection()
    dropped = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [dropped])
        # pg_terminate_backend only signals: the backend goes (and says so on the socket) a
        # moment later. A request arriving after a restart finds it gone; so does this one.
        for _ in range(100):
            if not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [dropped]).fetchone():
                break
            time.sleep(0.05)
    connection.health_check_done = False  # what close_old_connections does as a request begins
    assert statement_rows("SELECT %s::int + 1", [41]) == [(42,)]
    assert connection.connection.info.backend_pid != dropped


def test_past_max_prepared_a_new_statement_is_sent_unnamed(settings, monkeypatch):
    """Every page, list and search statement goes through send_statement: what it prepares stays
    prepared for the connection's life, so a connection keeps at most MAX_PREPARED; the rest run
    unnamed, with the same rows, and the prepared ones stay prepared."""
    from newsroom import db

    settings.NEWSROOM_DB_PREPARED = True
    monkeypatch.setattr(db, "MAX_PREPARED", 2)
    connection.close()
    for n in range(5):
        assert send_statement(f"SELECT %s::int + {n}", [1]).fetchone() == (1 + n,)
    assert _prepared_count("SELECT $1::int + ") == 2
    assert send_statement("SELECT %s::int + 0", [5]).fetchone() == (5,)  # the first two, still prepared
    assert send_statement("SELECT %s::int + 4", [5]).fetchone() == (9,)
    assert _prepared_count("SELECT $1::int + ") == 2


def _seqscan_now() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_seqscan')")
        return cursor.fetchone()[0]


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "unnamed"])
def test_prefer_index_prices_out_sequential_scans_for_that_statement_only(prepared, settings, monkeypatch):
    """statement_rows(prefer_index=True) (search, related posts) sends SET LOCAL enable_seqscan = off
    in the same pipeline as its statement: in force for it, gone after it, whatever happened;
    inside a transaction the same through the cursor, and the transaction gets its planner back."""
    from newsroom.db import statement_rows

    settings.NEWSROOM_DB_PREPARED = prepared
    setting = "SELECT current_setting('enable_seqscan'), %s::int"
    assert statement_rows(setting, [1], prefer_index=True) == [("off", 1)]
    assert statement_rows(setting, [2]) == [("on", 2)] and _seqscan_now() == "on"
    with pytest.raises(DataError):
        statement_rows("SELECT 1 / %s", [0], prefer_index=True)
    assert _seqscan_now() == "on" and not connection.connection.pgconn.pipeline_status
    assert statement_rows(setting, [3], prefer_index=True) == [("off", 3)]
    with transaction.atomic():
        assert statement_rows(setting, [4], prefer_index=True) == [("off", 4)]
        assert _seqscan_now() == "on"
    sent = send_statement("SELECT pg_sleep(%s)", [30], prefer_index=True)
    with monkeypatch.context() as interrupted:
        _interrupt_the_first_wait(interrupted)
        with pytest.raises(TimeUp):
            sent.fetchone()
    assert not connection.connection.pgconn.pipeline_status and _seqscan_now() == "on"
    assert statement_rows(setting, [5], prefer_index=True) == [("off", 5)]


def test_prefer_index_keeps_a_text_search_on_the_gin_index():
    """What prefer_index is for: a match the planner expects often still reads the index."""
    from newsroom.db import statement_rows

    sql = "EXPLAIN SELECT article_id FROM articles_searchdoc WHERE vector @@ %s::tsquery"
    plan = " ".join(row[0] for row in statement_rows(sql, ["a | b | c"], prefer_index=True))
    assert "searchdoc_vector_gin" in plan and "Seq Scan" not in plan
