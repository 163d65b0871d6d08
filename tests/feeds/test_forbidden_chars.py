"""Characters XML 1.0 forbids, as feeds carry them: character references (``&#8;``, and
``&amp;#x0b;`` inside escaped HTML) that parsers decode into control characters. Each entry is
stored all the same, without them, and every feed and page the site serves stays readable."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest

from articles.models import Article, Tag
from articles.text.normalize import normalize_html
from articles.text.sanitize import clean_html, html_to_text
from feeds.models import FetchLog, Source
from feeds.services import source_create
from feeds.tasks import fetch_source

ITEM = "<item><title>{title}</title><link>http://news.example.com/c/{n}.html</link><guid>urn:ctrl:{n}</guid>" \
       "<category>芯片</category><pubDate>Wed, 25 Nov 2026 0{n}:00:00 GMT</pubDate>{body}</item>"
BODY = "国产芯片厂商今天发布了新一代处理器，性能大幅提升，功耗明显下降，面向数据中心与大模型推理。"
ITEMS = [
    # A reference in the XML itself: the strict parser refuses it, the loose one decodes it.
    ("英伟达发布&#8;新芯片", f"<description>&lt;p&gt;{BODY}第一&amp;#x0b;篇。&lt;/p&gt;</description>"),
    # References inside escaped HTML: decoded when the HTML is parsed.
    ("华为昇腾&amp;#8;新品", f"<description>&lt;p&gt;{BODY}&amp;#12;第二篇。&lt;/p&gt;"
                         f"&lt;pre&gt;print(1)&amp;#11;&lt;/pre&gt;&lt;img src=x alt=\"图&amp;#1;\"&gt;</description>"),
    ("龙芯新品&#14;上市", f"<content:encoded><![CDATA[<p>{BODY}第三篇&#8;。</p><p>次段&#xFFFE;落。</p>]]></content:encoded>"),
    # A title that is a whole HTML document whose <title> never closes (lxml finds no body in it).
    ("&lt;!DOCTYPE html&gt;&lt;html&gt;&lt;head&gt;&lt;title&gt;奇怪的标题",
     f"<description>&lt;p&gt;{BODY}第四篇。&lt;/p&gt;</description>"),
    ("正常的一条新闻", f"<description>&lt;p&gt;{BODY}第五篇。&lt;/p&gt;</description>"),
]
FEED = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        "<channel><title>控制&#1;字符源</title><link>http://news.example.com/</link><language>zh-cn</language>"
        + "".join(ITEM.format(n=n, title=t, body=b) for n, (t, b) in enumerate(ITEMS)) + "</channel></rss>")


# What XML 1.0 forbids (https://www.w3.org/TR/xml/#charsets), written out here as the check.
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(value: str) -> bool:
    return not FORBIDDEN.search(value or "")


@pytest.mark.django_db(transaction=True)
def test_forbidden_characters_are_dropped_and_no_entry_or_feed_is_lost(feed_server, client) -> None:
    source = source_create(url=feed_server.add("/ctrl.xml", FEED))
    outcome = fetch_source.run(source.pk)

    assert outcome["status"] == "ok" and outcome["new"] == len(ITEMS), outcome
    log = FetchLog.objects.filter(source=source).latest("id")
    assert log.status == "ok" and "invalid character" in log.error  # the editor is told the feed is not well-formed
    articles = {a.guid: a for a in Article.objects.filter(source=source)}
    assert len(articles) == len(ITEMS)
    for a in articles.values():
        for field in ("title", "summary", "body", "author", "keywords"):
            assert _clean(str(getattr(a, field))), (a.guid, field, getattr(a, field))
    assert articles["urn:ctrl:0"].title == "英伟达发布新芯片"
    assert articles["urn:ctrl:1"].title == "华为昇腾新品"
    assert articles["urn:ctrl:2"].title == "龙芯新品上市"
    assert "第一篇" in articles["urn:ctrl:0"].body and "第二篇" in articles["urn:ctrl:1"].body
    assert "<pre>print(1)</pre>" in articles["urn:ctrl:1"].body and 'alt="图"' in articles["urn:ctrl:1"].body
    assert "第三篇。" in articles["urn:ctrl:2"].body and "次段落" in articles["urn:ctrl:2"].body
    assert "奇怪的标题" in articles["urn:ctrl:3"].title and "第四篇" in articles["urn:ctrl:3"].body
    source.refresh_from_db()
    assert source.name == "控制字符源"

    tag = Tag.objects.get(name="芯片")
    feeds = [f"/feeds/latest.xml", "/feeds/latest.atom", f"/tags/{quote(tag.slug)}/feed.xml",
             f"/tags/{quote(tag.slug)}/feed.atom", f"/sources/{source.slug}/feed.xml", "/search/feed.xml?q=%E8%8A%AF%E7%89%87"]
    for url in feeds:
        response = client.get(url)
        assert response.status_code == 200, url
        text = ET.tostring(ET.fromstring(response.content), encoding="unicode")  # well-formed XML
        assert "英伟达发布新芯片" in text and "华为昇腾新品" in text, url
    for url in ("/", f"/tags/{quote(tag.slug)}/", f"/articles/{articles['urn:ctrl:1'].pk}/"):
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db(transaction=True)
def test_feeds_stay_readable_with_forbidden_characters_in_a_query_or_an_old_article(feed_server, client) -> None:
    source = source_create(url=feed_server.add("/ok.xml", FEED.replace("&#", "")))
    fetch_source.run(source.pk)
    # An article stored before ingest dropped them (or written by hand): the feeds drop them on the way out.
    Article.objects.filter(guid="urn:ctrl:4").update(title="旧文章\x08标题", summary="摘要\x0b", body="<p>正文\x01</p>")
    for url in ("/feeds/latest.xml", "/feeds/latest.atom", f"/sources/{source.slug}/feed.xml",
                "/search/feed.xml?q=%08%E8%8A%AF%E7%89%87%01"):
        response = client.get(url)
        assert response.status_code == 200, url
        ET.fromstring(response.content)
    assert "旧文章标题" in client.get("/feeds/latest.xml").content.decode()
    for q in ("%08%E8%8A%AF%E7%89%87", "%EF%BF%BE"):
        assert client.get(f"/search/?q={q}").status_code == 200, q
    # A NUL is no value any page takes (PostgreSQL refuses it in text): a clear 400, never a 500.
    for url in ("/search/?q=%00", "/search/feed.xml?q=a%00b", "/?page=%00"):
        response = client.get(url)
        assert response.status_code == 400 and "空字符" in response.content.decode(), url


@pytest.mark.parametrize("html", [
    "<p>a&#8;b</p><pre>c&#11;d</pre>",
    "<p>x</p>" * 1500 + "<!DOCTYPE html><html><head><title>t",  # past the head the cleaner looks at
    "<html><head><title>never closed",
    '  <!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN"> <html> <head> <title>Crazy HTML -- <body>x',
])
def test_text_steps_never_raise_on_what_lxml_gives_up_on(html: str) -> None:
    cleaned = clean_html(html, base_url="https://news.example.com/")
    assert _clean(cleaned)
    assert _clean(normalize_html(cleaned))
    assert _clean(normalize_html("<pre>a\x0bb</pre><p>c\x01d<b>e</b>\x08f</p>"))
    assert _clean(html_to_text(html))
    assert html_to_text("<p>a&#8;b</p>") == "ab"


@pytest.mark.django_db
def test_a_nul_in_the_admins_list_filters_is_a_400_not_a_server_error(client, django_user_model):
    admin = django_user_model.objects.create_superuser("zhubian", "z@example.com", "pw-zhubian-12345")
    client.force_login(admin)
    assert client.get("/admin/articles/article/?status__exact=published").status_code == 200
    for url in ("/admin/articles/article/?status__exact=%00", "/admin/articles/comment/?status__exact=a%00"):
        assert client.get(url).status_code == 400, url
