"""Structured logs: JSON lines carrying the Celery task id and the source id."""
from __future__ import annotations

import io
import json
import logging

import pytest

from feeds.services import source_create
from feeds.tasks import fetch_source
from newsroom.logging import ContextFilter, JsonFormatter, log_context
from tests.conftest import corpus_path


@pytest.fixture
def json_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_json_lines_with_extra_and_context(json_lines):
    log = logging.getLogger("newsroom.test")
    with log_context(source_id=42):
        log.warning("抓取失败 %s", "超时", extra={"http_status": 504})
    log.info("outside")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("crashed")
    first, second, third = json_lines()
    assert first["message"] == "抓取失败 超时" and first["level"] == "WARNING" and first["logger"] == "newsroom.test"
    assert first["source_id"] == 42 and first["http_status"] == 504
    assert "source_id" not in second
    assert "ValueError: boom" in third["exc_info"]


@pytest.mark.django_db
def test_task_log_records_carry_task_and_source_ids(json_lines, feed_server):
    url = feed_server.add_file("/t.atom", corpus_path("real-feeds", "rssant", "well", "www-ruangyifeng-com-blog-atom.xml"),
                               content_type="application/atom+xml")
    source = source_create(url=url)
    result = fetch_source.apply(args=[source.pk], task_id="task-abc-123")
    assert result.successful()
    records = [r for r in json_lines() if r["logger"] == "feeds.tasks"]
    assert records, "fetch_source logged nothing"
    assert all(r["task_id"] == "task-abc-123" and r["source_id"] == source.pk for r in records)
    assert records[0]["task_name"] == "feeds.tasks.fetch_source"


def test_plain_format_shows_ids():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    with log_context(source_id=7):
        ContextFilter().filter(record)
    formatted = logging.Formatter("%(levelname)s %(name)s%(context)s %(message)s").format(record)
    assert formatted == "INFO x [source_id=7] hello"


def test_pages_the_extractor_cannot_use_leave_no_error_lines(json_lines):
    """trafilatura logs ERROR for every page it gives up on; our extractor falls back, so those
    lines would only bury real errors in a worker's log."""
    from feeds.extract import extract_article

    for page in (b"<html><body></body></html>", b"\x00\x01 not html", b"<p>x"):
        extract_article(page, url="https://www.example.com/a/1.html")
    assert [line for line in json_lines() if line.get("logger", "").startswith("trafilatura")] == []
