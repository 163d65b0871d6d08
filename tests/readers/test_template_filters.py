"""The site's Jinja2 filters (newsroom/jinja2.py) give what Django's filters of the same name gave."""
from __future__ import annotations

import random
from datetime import date as a_date, datetime, timezone as dt_timezone

import pytest
from django.template import defaultfilters
from django.utils import translation
from django.utils.timezone import template_localtime

from newsroom import jinja2


@pytest.mark.parametrize("language", ["zh-hans", "en"])  # zh-hans truncates with "...", English with "…"
def test_truncatechars_is_djangos(language):
    rng = random.Random(7)
    alphabet = "ab 中文字符…e\u0301\u0300\u3099か" + "x" * 5  # combining marks do not count as characters
    samples = ["", "短", "英伟达发布新一代推理芯片" * 3, "https://example.com/news/1.html", None, 12345]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    with translation.override(language):
        for text in samples:
            for length in (0, 1, 2, 3, 4, 5, 10, 20, 29, 30, 31, 120):
                assert jinja2.truncatechars(text, length) == defaultfilters.truncatechars(text, length), (text, length)


def test_date_is_djangos_with_local_time():
    utc = datetime(2025, 12, 31, 17, 5, 9, 123456, tzinfo=dt_timezone.utc)  # already 2026 in Shanghai
    for fmt in ("c", "Y-m-d", "Y-m-d H:i"):
        assert jinja2.date(utc, fmt) == defaultfilters.date(template_localtime(utc), fmt)
    assert jinja2.date(utc, "c") == "2026-01-01T01:05:09.123456+08:00"
    assert jinja2.date(a_date(2025, 3, 4), "Y-m-d") == "2025-03-04"
    assert jinja2.date(None, "Y-m-d") == ""
