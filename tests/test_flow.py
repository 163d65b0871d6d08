"""End to end: a feed on a real local HTTP server → fetch → pages and outgoing feeds."""
from __future__ import annotations

import io
import json
import re
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from articles.models import Article, Tag
from feeds.models import Source
from tests.conftest import page_text, corpus_path

pytestmark = pytest.mark.django_db

RUANYF = ("real-feeds", "rssant", "well", "www-ruangyifeng-com-blog-atom.xml")


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def fetch_json(source_id: int) -> dict:
    lines = [json.loads(line) for line in run("fetch", "--source", str(source_id), "--json").splitlines() if line.strip()]
    assert len(lines) == 1
    return lines[0]


def add_source(url: str, tags: str = "") -> int:
    args = ["add_source", url] + (["--tags", tags] if tags else [])
    return int(run(*args).strip())


def test_add_fetch_read_follow_and_tag_feed(feed_server, client):
    url = feed_server.add_file("/ruanyf.atom", corpus_path(*RUANYF), content_type="application/atom+xml")
    source_id = add_source(url, "开源,模型")

    first = fetch_json(source_id)
    assert first["source"] == source_id
    assert first["status"] == "ok" and first["error"] in ("", None)
    assert first["new"] == 3

    article = Article.objects.get(title="科技爱好者周刊：第 102 期")
    page = client.get(f"/articles/{article.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert re.search(r"<h1>\s*科技爱好者周刊：第 102 期\s*</h1>", html)
    assert "<article" in html
    assert "阮一峰的网络日志" in html  # the source, named from the feed
    for tag in ("开源", "模型"):
        assert f'href="/tags/{quote(tag)}/"' in html
    assert "关注 <span class=\"followers\" data-followers>0</span>" in html
    assert re.search(r"文章 3 · 浏览量", html)

    # Fetch again: conditional GET answers 304, nothing duplicated.
    second = fetch_json(source_id)
    assert second["status"] == "not_modified"
    assert Article.objects.filter(source_id=source_id).count() == 3
    # Even a full refetch of the same bytes (no validators) never duplicates.
    Source.objects.filter(pk=source_id).update(etag="", last_modified="")
    third = fetch_json(source_id)
    assert third["status"] == "ok" and third["new"] == 0
    assert Article.objects.filter(title="科技爱好者周刊：第 102 期").count() == 1

    # A reader follows 开源: the count on the article page rises.
    user = get_user_model().objects.create_user("reader", password="pw-reader-123")
    client.force_login(user)
    response = client.post(f"/tags/{quote('开源')}/follow/", {"action": "follow", "next": f"/articles/{article.pk}/"})
    assert response.status_code == 302
    html = client.get(f"/articles/{article.pk}/").content.decode()
    assert "关注 <span class=\"followers\" data-followers>1</span>" in html
    assert "已关注" in html
    assert Tag.objects.get(name="开源").followers_count == 1

    # The tag's feed carries the article.
    feed = client.get(f"/tags/{quote('开源')}/feed.xml")
    assert feed.status_code == 200
    assert "科技爱好者周刊：第 102 期" in feed.content.decode()
    assert f"/articles/{article.pk}/" in feed.content.decode()


def test_read_count_moves_per_visitor(feed_server, client, django_user_model):
    from django.test import Client

    url = feed_server.add_file("/r.atom", corpus_path(*RUANYF), content_type="application/atom+xml")
    fetch_json(add_source(url))
    article = Article.objects.order_by("id").first()
    for _ in range(3):
        Client().get(f"/articles/{article.pk}/")
    # The same visitor reloading does not inflate the count.
    client.get(f"/articles/{article.pk}/")
    html = client.get(f"/articles/{article.pk}/").content.decode()
    assert "阅读 4" in page_text(html)


def test_chinese_tag_names_give_distinct_working_urls(client):
    from articles.tags import tag_get_or_create

    names = ["开源", "模型", "NVIDIA", "gpu", "開源"]
    tags = [tag_get_or_create(name=n) for n in names]
    assert tags[4].pk == tags[0].pk  # 開源 is 开源
    slugs = {t.slug for t in tags[:4]}
    assert len(slugs) == 4 and all(slugs)
    for tag in tags[:4]:
        assert client.get(f"/tags/{quote(tag.slug)}/").status_code == 200
        assert client.get(f"/tags/{quote(tag.slug)}/feed.xml").status_code == 200


@pytest.mark.django_db(transaction=True)  # fetch --all runs sources in threads with their own connections
def test_broken_feed_is_recorded_and_harms_nothing_else(feed_server, client):
    good = feed_server.add_file("/good.atom", corpus_path(*RUANYF), content_type="application/atom+xml")
    html_page = feed_server.add("/not-a-feed", "<html><body><h1>停车页</h1><p>域名出售</p></body></html>",
                                content_type="text/html; charset=utf-8")
    missing = feed_server.url("/gone.xml")
    ids = [add_source(good), add_source(html_page), add_source(missing)]

    out = run("fetch", "--all", "--json")
    outcomes = {o["source"]: o for o in map(json.loads, out.splitlines())}
    assert outcomes[ids[0]]["status"] == "ok" and outcomes[ids[0]]["new"] == 3
    assert outcomes[ids[1]]["status"] == "error" and outcomes[ids[1]]["error"]
    assert outcomes[ids[2]]["status"] == "error" and "404" in outcomes[ids[2]]["error"]

    broken = Source.objects.get(pk=ids[1])
    assert broken.last_error and broken.last_error_kind == "not_a_feed"
    assert broken.consecutive_errors == 1 and broken.next_fetch_at > broken.last_fetched_at
    assert Source.objects.get(pk=ids[2]).last_error_kind == "http_status"
    assert Article.objects.filter(source_id=ids[0]).count() == 3
    # The human-readable summary names the error too.
    summary = run("fetch", "--source", str(ids[1]))
    assert "error" in summary and str(ids[1]) in summary


def test_outgoing_feeds_and_conditional_get(feed_server, client):
    url = feed_server.add_file("/r.atom", corpus_path(*RUANYF), content_type="application/atom+xml")
    fetch_json(add_source(url))
    rss = client.get("/feeds/latest.xml")
    assert rss.status_code == 200 and b"<rss" in rss.content and "科技爱好者周刊".encode() in rss.content
    atom = client.get("/feeds/latest.atom")
    assert atom.status_code == 200 and b"http://www.w3.org/2005/Atom" in atom.content
    etag = rss.headers["ETag"]
    assert client.get("/feeds/latest.xml", HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_outgoing_feeds_carry_absolute_image_urls(feed_server, client):
    """A WeChat picture is served through our image proxy (/img/…/): in a feed reader that path
    must not depend on the reader resolving it against the right base."""
    feed = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>图片源</title>'
            "<item><title>带图片的文章</title><link>https://news.example.com/p/1</link><guid>img-1</guid>"
            "<description><![CDATA[<p>正文第一段，介绍新发布的芯片产品。</p>"
            '<p><img src="https://mmbiz.qpic.cn/mmbiz_jpg/abc/0?wx_fmt=jpeg" alt="芯片"></p>'
            '<p><img src="https://cdn.example.com/b.png" alt="外链"></p>]]></description></item></channel></rss>')
    result = fetch_json(add_source(feed_server.add("/img.xml", feed)))
    assert result["new"] == 1, result
    body = Article.objects.get(title="带图片的文章").body
    assert 'src="/img/' in body  # stored as our path: the page is served from any host name
    for url in ("/feeds/latest.xml", "/feeds/latest.atom"):
        text = client.get(url).content.decode()
        assert 'src="http://testserver/img/' in text.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">"), url
        assert "src=&quot;/img/" not in text and 'src="/img/' not in text
        assert "https://cdn.example.com/b.png" in text


def test_opml_round_trip(tmp_path):
    opml = tmp_path / "subs.opml"
    opml.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>订阅</title></head><body>
<outline text="科技"><outline type="rss" text="示例一" xmlUrl="https://a.example.com/feed" htmlUrl="https://a.example.com/"/>
<outline type="rss" text="示例二" xmlUrl="https://b.example.com/rss.xml"/></outline>
</body></opml>""",
        encoding="utf-8",
    )
    assert "2 sources imported" in run("import_opml", str(opml))
    assert "0 sources imported, 2 skipped" in run("import_opml", str(opml))
    assert Source.objects.get(url="https://a.example.com/feed").default_tag_list == ["科技"]
    exported = run("export_opml")
    assert 'xmlUrl="https://a.example.com/feed"' in exported and "示例二" in exported


def test_healthz_reports_database_and_broker(client):
    data = client.get("/healthz").json()
    assert data["database"] == "ok" and data["broker"] == "ok" and data["status"] == "ok"
