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


def test_escape_is_markupsafes():
    """What every {{ value }} goes through: markupsafe's escape, the same text and type, built faster."""
    from django.utils.safestring import mark_safe
    from jinja2 import Undefined
    from markupsafe import Markup, escape

    from articles.templating import markup_escape

    rng = random.Random(11)
    alphabet = "<>&\"'ab 中文\u3000\x00\n;#x"
    samples = ["", "英伟达 <script>alert('x')</script> & \"引号\"", 0, -7, 2**70, True, None, 1.5, b"<b>",
               Markup("<b>safe</b>"), mark_safe("<i>safe</i>"), Undefined(), ["<"], {"a": "<"}]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))) for _ in range(2000)]
    for value in samples:
        ours, theirs = markup_escape(value), escape(value)
        assert ours == theirs and type(ours) is type(theirs) is Markup, value


def test_follow_chips_html():
    """The follow chips, as the reader's pages show them: escaped names and slugs, URL-encoded
    links, the counts as Chinese readers read them, a login link or a follow form."""
    from markupsafe import Markup

    from articles.models import Tag
    from articles.templating import source_chip, tag_chip
    from feeds.models import Source

    tag = Tag(pk=7, slug='芯片"<x>', name="芯片 & <GPU>", followers_count=12_345, articles_count=7, views_count=123_456_789)
    anonymous = {"signed_in": False, "full_path": "/articles/1/?a=1&b=2", "login_next": "/articles/1/%3Fa%3D1%26b%3D2",
                 "csrf_input": ""}
    assert str(tag_chip(tag, anonymous, set())) == (
        '<div class="tagchip" data-tag="芯片&#34;&lt;x&gt;">\n'
        '  <a class="chip" href="/tags/%E8%8A%AF%E7%89%87%22%3Cx%3E/">芯片 &amp; &lt;GPU&gt;</a>\n'
        '  <span class="tagstats">关注 <span class="followers" data-followers>1.2万</span> · 文章 7 · 浏览量 1.2亿</span>\n'
        '  <a class="btn" href="/accounts/login/?next=/articles/1/%3Fa%3D1%26b%3D2" aria-label="登录后关注 芯片 &amp; &lt;GPU&gt;">'
        '+ 关注</a>\n</div>\n')
    reader = {**anonymous, "signed_in": True, "csrf_input": Markup('<input type="hidden" name="csrfmiddlewaretoken" value="t">')}
    followed = str(tag_chip(tag, reader, {7}))
    assert ('<form method="post" action="/tags/%E8%8A%AF%E7%89%87%22%3Cx%3E/follow/" class="inline js-toggle" '
            "data-kind=\"follow\" data-scope='.tagchip[data-tag=\"芯片&#34;&lt;x&gt;\"]'>"
            '<input type="hidden" name="csrfmiddlewaretoken" value="t">\n'
            '    <input type="hidden" name="next" value="/articles/1/?a=1&amp;b=2">\n') in followed
    assert 'value="unfollow"' in followed and 'aria-pressed="true" aria-label="取消关注 芯片 &amp; &lt;GPU&gt;">已关注' in followed
    assert 'value="follow"' in str(tag_chip(tag, reader, set())) and "login" not in str(tag_chip(tag, reader, set()))

    source = Source(slug="s'1", name="来源<i>", followers_count=3, article_count=0)
    chip = str(source_chip(source, anonymous, False))
    assert chip.startswith('<div class="tagchip sourcechip" data-source="s&#39;1">\n'
                           '  <a class="chip source" href="/sources/s%271/">来源&lt;i&gt;</a>\n'
                           '  <span class="tagstats">关注 <span class="followers" data-followers>3</span></span>\n')
    source.article_count = 10_000
    assert "</span> · 文章 1万</span>" in str(source_chip(source, reader, True))


def test_template_globals_are_the_environments_then_its_own():
    """SiteEnvironment keeps a template's globals in one dict: the environment's (chips, reads,
    static …), then the template's own on top of them, and the environment's stay as they were."""
    from django.template import engines

    env = engines["jinja2"].env
    template = env.from_string("{{ tag_chip is defined }} {{ SITE }}|{{ reads is defined }}", globals={"SITE": "新闻"})
    assert template.render() == "True 新闻|True"
    assert "SITE" not in env.globals and type(template.globals) is dict
    assert env.from_string("{{ SITE is defined }}").render() == "False"
