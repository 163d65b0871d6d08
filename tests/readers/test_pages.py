"""The page: Chinese counts and times, SEO (canonical, OpenGraph, sitemap), stable pagination, 404s."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from articles.models import Article, Tag
from tests.readers.conftest import make_source, store
from tests.conftest import page_text

pytestmark = pytest.mark.django_db


def test_chinese_counts_and_times_everywhere(client, source):
    a = store(source, "十万阅读的文章", "正文。", hours_ago=0.01)
    b = store(source, "三天前的文章", "正文。", hours_ago=72.5)
    c = store(source, "上个月的文章", "正文。", hours_ago=24 * 40)
    Article.objects.filter(pk=a.pk).update(read_count=123456, bookmark_count=23456)
    Article.objects.filter(pk=b.pk).update(read_count=345678901)
    tag = Tag.objects.create(name="测试", slug="ce-shi", followers_count=12000, views_count=109391)
    a.tags.add(tag)
    html = client.get("/").content.decode()
    assert "阅读 12.3万" in page_text(html) and "收藏 2.3万" in page_text(html) and "阅读 3.5亿" in page_text(html)
    assert "刚刚" in html and "3天前" in html
    assert timezone.localtime(c.published_at).strftime("%m-%d %H:%M") in html or \
        timezone.localtime(c.published_at).strftime("%Y-%m-%d") in html
    html = client.get(f"/articles/{a.pk}/").content.decode()
    assert "阅读 12.3万" in page_text(html)
    assert '关注 <span class="followers" data-followers>1.2万</span> · 文章 0 · 浏览量 10.9万' in html


def test_seo_canonical_opengraph_and_sitemap(client, source):
    a = store(source, "英伟达发布新品", "英伟达发布了新品。")
    html = client.get(f"/articles/{a.pk}/?utm_source=x").content.decode()
    assert f'<link rel="canonical" href="http://testserver/articles/{a.pk}/">' in html
    assert '<meta property="og:type" content="article">' in html
    assert '<meta property="og:title" content="英伟达发布新品">' in html
    assert f'<meta property="og:url" content="http://testserver/articles/{a.pk}/">' in html
    html = client.get("/?utm_source=x").content.decode()
    assert '<link rel="canonical" href="http://testserver/">' in html
    html = client.get("/hot/?window=7d&x=1").content.decode()
    assert '<link rel="canonical" href="http://testserver/hot/?window=7d">' in html
    tag = a.tags.first() or Tag.objects.create(name="新品", slug="xin-pin")
    sitemap = client.get("/sitemap.xml").content.decode()
    assert f"<loc>http://testserver/articles/{a.pk}/</loc>" in sitemap
    assert f"<loc>http://testserver/sources/{source.slug}/</loc>" in sitemap
    if a.tags.exists():
        assert f"<loc>http://testserver/tags/{quote(tag.slug)}/</loc>" in sitemap


def test_list_pagination_has_stable_urls(client, source):
    now = timezone.now()
    Article.objects.bulk_create([
        Article(source=source, guid=f"g{i}", guid_hash=f"{i:040d}", title=f"第{i}篇", published_at=now - timedelta(minutes=i))
        for i in range(25)
    ])
    html = client.get("/").content.decode()
    assert '<a rel="next" class="btn" href="/?page=2">下一页</a>' in html
    html = client.get("/?page=2").content.decode()
    assert '<a rel="prev" class="btn" href="/">上一页</a>' in html
    assert '<link rel="canonical" href="http://testserver/?page=2">' in html
    for bad in ("/?page=3", "/?page=0", "/?page=-1", "/?page=abc", f"/sources/{source.slug}/?page=9"):
        assert client.get(bad).status_code == 404, bad


def test_missing_things_are_real_404_pages(client, source):
    hidden = store(source, "已隐藏", "正文。")
    Article.objects.filter(pk=hidden.pk).update(status=Article.Status.HIDDEN)
    for url in ("/articles/999999/", f"/articles/{hidden.pk}/", "/tags/不存在/", "/sources/nope/",
                "/tags/nope/feed.xml", "/no-such-page/"):
        response = client.get(url)
        assert response.status_code == 404, url
    html = client.get("/articles/999999/").content.decode()
    assert "<h1>页面不存在</h1>" in html and '<meta name="robots" content="noindex">' in html


def test_hostile_paths_are_404_not_server_errors(client, source, reader):
    """Ids past PostgreSQL's bigint and control characters in slugs name no page: the database
    would refuse them with an error (a 500), so they never reach it."""
    a = store(source, "正常文章", "正文。")
    client.force_login(reader)
    for url in ("/articles/99999999999999999999999/", "/articles/9223372036854775808/",
                "/articles/9223372036854775807/", "/tags/%00/", "/tags/a%00b/feed.xml", "/tags/x%01/feed.atom",
                "/sources/%00/", f"/sources/{source.slug}%00/feed.xml", "/articles/99999999999999999999999/bookmark/"):
        response = client.get(url)
        assert response.status_code == 404, url
    response = client.post("/tags/%00/follow/")
    assert response.status_code == 404
    assert client.get(f"/articles/{a.pk}/").status_code == 200
    assert client.get(f"/sources/{source.slug}/").status_code == 200
    assert client.get("/?page=%C2%B2").status_code == 404  # "²".isdigit() is true, int() refuses it


def test_hostile_form_values_get_an_answer_not_a_server_error(client, source, reader):
    from articles.models import Comment

    a = store(source, "可评论的文章", "正文。")
    tag = Tag.objects.create(name="开源", slug="开源")
    page = f"/articles/{a.pk}/"
    # A comment with control characters in it is stored without them (PostgreSQL refuses a NUL).
    response = client.post(f"{page}comments/", {"body": "好\x00文\x08章"})
    assert response.status_code == 302
    assert Comment.objects.get(article=a).body == "好文章"
    # A reply to a comment id no row can have: the reader is told, nothing is stored.
    for parent in ("99999999999999999999", "\u00b2"):
        response = client.post(f"{page}comments/", {"body": f"回复 {parent}", "parent": parent})
        assert response.status_code == 302 and response["Location"].startswith(page), parent
    assert Comment.objects.filter(article=a).count() == 3  # replies to a bad id are top-level comments
    # A "next" that is no path or URL of ours: back to the page itself.
    for nxt in ("99999999999999999999", "home", "/ok\x00/", "javascript:alert(1)", "//evil.example.com/"):
        response = client.post(f"/tags/{quote(tag.slug)}/follow/", {"next": nxt})
        assert response.status_code == 302 and response["Location"] == f"/tags/{quote(tag.slug)}/", nxt
        response = client.post(f"{page}bookmark/", {"next": nxt})
        assert response.status_code == 302 and response["Location"] == page, nxt
    response = client.post(f"{page}bookmark/", {"next": "/tags/%E5%BC%80%E6%BA%90/"})
    assert response["Location"] == "/tags/%E5%BC%80%E6%BA%90/"  # a path of ours is followed


def test_accessible_controls(client, reader, source):
    a = store(source, "文章", "正文。", categories=["芯片"])
    html = client.get(f"/articles/{a.pk}/").content.decode()
    assert re.search(r'<button type="submit" class="btn" aria-pressed="false">收藏 <span data-bookmarks>0</span></button>', html)
    assert 'aria-label="关注 芯片快讯"' in html
    assert '<label for="comment-body">' in html
    assert '<a class="skip" href="#main">' in html
    assert '<label for="q" class="sr-only">搜索文章</label>' in html
