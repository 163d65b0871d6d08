"""1.2万 / 3.4亿 counts and 刚刚 / N分钟前 … times, in Asia/Shanghai."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
from django.template import engines

from articles.text.formatting import zh_count, zh_datetime, zh_time

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 11, 19, 12, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"), (9, "9"), (9999, "9999"), (10000, "1万"), (12000, "1.2万"), (109391, "10.9万"),
        (99999, "10万"), (5570, "5570"), (1234567, "123.5万"), (99_999_999, "1亿"), (100_000_000, "1亿"),
        (340_000_000, "3.4亿"), (1_234_567_890_123, "12345.7亿"), (None, "0"), ("", "0"), ("20000", "2万"),
        (-15000, "-1.5万"), ("abc", "abc"), (12.7, "13"),
    ],
)
def test_zh_count(value, expected):
    assert zh_count(value) == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=0), "刚刚"), (timedelta(seconds=59), "刚刚"), (timedelta(seconds=-30), "刚刚"),
        (timedelta(minutes=1), "1分钟前"), (timedelta(minutes=59, seconds=59), "59分钟前"),
        (timedelta(hours=1), "1小时前"), (timedelta(hours=23, minutes=59), "23小时前"),
        (timedelta(days=1), "1天前"), (timedelta(days=3, hours=23), "3天前"),
        (timedelta(days=4), "11-15 12:00"), (timedelta(days=300), "01-23 12:00"), (timedelta(days=400), "2024-10-15"),
    ],
)
def test_zh_time(delta, expected):
    assert zh_time(NOW - delta, now=NOW) == expected


def test_zh_time_uses_shanghai_local_time_for_utc_values():
    utc_value = datetime(2025, 1, 2, 20, 30, tzinfo=dt_timezone.utc)  # = 01-03 04:30 in Shanghai
    assert zh_time(utc_value, now=NOW) == "01-03 04:30"
    # Still 2024 in UTC, already 2025 in Shanghai: "this year" is the local year.
    assert zh_time(datetime(2024, 12, 31, 17, 0, tzinfo=dt_timezone.utc), now=NOW) == "01-01 01:00"


def test_zh_time_far_future_shows_the_date():
    assert zh_time(NOW + timedelta(days=2), now=NOW) == "11-21 12:00"


def test_zh_time_naive_and_none():
    assert zh_time(None) == ""
    naive = (NOW - timedelta(days=10)).replace(tzinfo=None)  # taken as project time
    assert zh_time(naive, now=NOW) == "11-09 12:00"


def test_zh_datetime():
    assert zh_datetime(datetime(2025, 3, 4, 23, 5, tzinfo=dt_timezone.utc)) == "2025-03-05 07:05"
    assert zh_datetime(None) == ""


def test_template_filters():
    # The site's templates (Jinja2, newsroom/jinja2.py) have them as filters.
    template = engines["jinja2"].from_string("{{ n|zh_count }} · {{ dt|zh_datetime }} · {{ recent|zh_time }}")
    now = datetime.now(dt_timezone.utc)
    out = template.render({"n": 109391, "dt": datetime(2025, 3, 4, 23, 5, tzinfo=dt_timezone.utc), "recent": now - timedelta(minutes=5)})
    assert out == "10.9万 · 2025-03-05 07:05 · 5分钟前"
