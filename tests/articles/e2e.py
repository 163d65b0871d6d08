"""Helpers for the end-to-end pipeline tests: RSS built in the test, served by
FeedServer, fetched through the real `fetch` command, read back as pages."""
from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape

from django.core.management import call_command
from django.test import TestCase

from feeds.models import Source
from feeds.services import source_create

BASE_TIME = datetime(2025, 11, 19, 8, 0, tzinfo=timezone.utc)


def after_commit():
    """Run what the pipeline defers to commit (page-cache generation bump, related
    posts) even inside pytest-django's per-test transaction, as production would."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def item(title: str, content: str = "", *, link: str, guid: str | None = None, categories=(),
         description: str = "", minutes: int = 0) -> dict:
    return {"title": title, "content": content, "link": link, "guid": guid or link, "categories": list(categories),
            "description": description, "published": BASE_TIME + timedelta(minutes=minutes)}


def rss(items: list[dict], *, title: str = "测试科技源", link: str = "https://news.example.cn/") -> str:
    parts = []
    for it in items:
        cats = "".join(f"<category>{escape(c)}</category>" for c in it["categories"])
        content = it["content"].replace("]]>", "]]]]><![CDATA[>")
        parts.append(
            f"<item><title>{escape(it['title'])}</title><link>{escape(it['link'])}</link>"
            f"<guid isPermaLink=\"false\">{escape(it['guid'])}</guid>"
            f"<pubDate>{format_datetime(it['published'])}</pubDate>{cats}"
            f"<description>{escape(it['description'])}</description>"
            f"<content:encoded><![CDATA[{content}]]></content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link><description>测试</description>"
        + "".join(parts)
        + "</channel></rss>"
    )


def serve_feed(feed_server, path: str, items: list[dict], **kwargs) -> str:
    return feed_server.add(path, rss(items, **kwargs), content_type="application/rss+xml; charset=utf-8")


def make_source(url: str, *, name: str = "", tags: list[str] | None = None, convert_traditional: bool = True) -> Source:
    source = source_create(url=url, name=name, tags=tags)
    if not convert_traditional:
        Source.objects.filter(pk=source.pk).update(convert_traditional=False)
        source.refresh_from_db()
    return source


def fetch(source: Source) -> dict:
    """`manage.py fetch --source ID --json` → its one JSON line."""
    Source.objects.filter(pk=source.pk).update(etag="", last_modified="")  # a changed feed, not a 304
    out = io.StringIO()
    with after_commit():
        call_command("fetch", "--source", str(source.pk), "--json", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1, out.getvalue()
    assert lines[0]["status"] == "ok", lines[0]
    return lines[0]


def import_article(url: str) -> int:
    out = io.StringIO()
    with after_commit():
        call_command("import_article", url, stdout=out)
    return int(out.getvalue().strip())


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


def section(html: str, tag: str, cls: str | None = None) -> str:
    """Inner HTML of the first <tag class="cls …"> … </tag> (no nesting of the same tag)."""
    attr = rf'[^>]*class="[^"]*\b{re.escape(cls)}\b[^"]*"' if cls else ""
    m = re.search(rf"<{tag}\b{attr}[^>]*>(.*?)</{tag}>", html, re.S)
    assert m, f"no <{tag} class={cls}> in page"
    return m.group(1)


def article_body(html: str) -> str:
    return section(html, "article", "article-body")


def attribution_block(html: str) -> str:
    return section(html, "section", "attribution")


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()
