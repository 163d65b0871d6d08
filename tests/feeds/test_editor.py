"""Editors add a source after previewing it, and move sources in and out as OPML."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from feeds.models import Source
from tests.conftest import corpus_path, page_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor_client(client, django_user_model):
    editor = django_user_model.objects.create_user("ed", password="pw-ed-12345", is_staff=True)
    client.force_login(editor)
    return client


def test_preview_shows_entries_and_saves_nothing_until_asked(editor_client, feed_server):
    url = feed_server.add_file("/blog.atom", corpus_path("real-feeds", "rssant", "well", "www-ruangyifeng-com-blog-atom.xml"),
                               content_type="application/atom+xml")
    page = editor_client.post("/editor/sources/new/", {"url": url, "kind": "rss", "tags": "开源", "preview": "1"})
    text = page_text(page.content)
    assert page.status_code == 200
    assert "预览：阮一峰的网络日志" in text and "科技爱好者周刊：第 102 期" in text
    assert not Source.objects.exists()

    saved = editor_client.post("/editor/sources/new/", {"url": url, "kind": "rss", "tags": "开源,周刊", "save": "1"})
    source = Source.objects.get(url=url)
    assert saved.status_code == 302 and source.default_tag_list == ["开源", "周刊"]
    again = editor_client.post("/editor/sources/new/", {"url": url, "kind": "rss", "preview": "1"})
    assert "已经是订阅源" in page_text(again.content)


def test_preview_of_a_broken_source_says_why(editor_client, feed_server):
    url = feed_server.add("/parked", "<html><body><p>此域名出售</p></body></html>", content_type="text/html")
    text = page_text(editor_client.post("/editor/sources/new/", {"url": url, "kind": "rss", "preview": "1"}).content)
    assert "抓取失败（not_a_feed）" in text
    bad = editor_client.post("/editor/sources/new/", {"url": url, "kind": "html", "selectors": "{not json", "preview": "1"})
    assert "不是有效的 JSON" in page_text(bad.content)
    assert not Source.objects.exists()


def test_readers_cannot_reach_editor_pages(client, django_user_model):
    reader = django_user_model.objects.create_user("r", password="pw-r-12345")
    client.force_login(reader)
    response = client.get("/editor/sources/new/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_opml_upload_and_download(editor_client):
    opml = ("<?xml version='1.0' encoding='UTF-8'?><opml version='2.0'><body><outline text='芯片'>"
            "<outline type='rss' text='示例' xmlUrl='https://chips.example.com/feed'/></outline></body></opml>")
    editor_client.post("/editor/opml/", {"opml": SimpleUploadedFile("s.opml", opml.encode(), "text/xml")})
    assert Source.objects.get(url="https://chips.example.com/feed").default_tag_list == ["芯片"]
    download = editor_client.get("/editor/opml/?download=1")
    assert download["Content-Disposition"].startswith("attachment") and b"chips.example.com" in download.content


def test_opml_with_hostile_outlines_imports_the_good_ones_and_says_why_not_the_rest(editor_client):
    opml = ("<?xml version='1.0' encoding='UTF-8'?><opml version='2.0'><body>"
            "<outline text='芯&#8;片'><outline text='好&#1;源' xmlUrl='https://ok.example.com/feed'/></outline>"
            "<outline text='坏链接' xmlUrl='https://bad.example.com/&#8;feed'/>"
            "<outline text='脚本' xmlUrl='javascript:alert(1)'/></body></opml>")
    response = editor_client.post("/editor/opml/", {"opml": SimpleUploadedFile("s.opml", opml.encode(), "text/xml")},
                                  follow=True)
    text = page_text(response.content.decode())
    assert "导入 1 个订阅源，跳过 2 个" in text
    assert "链接含有控制字符或不可见字符" in text and "javascript:alert(1)" in text
    good = Source.objects.get(url="https://ok.example.com/feed")
    assert good.name == "好源" and good.default_tag_list == ["芯片"]
    assert not Source.objects.filter(url__contains="bad.example.com").exists()

    page = b"<html><body><h1>Not an outline</h1></body></html>"
    response = editor_client.post("/editor/opml/", {"opml": SimpleUploadedFile("s.opml", page, "text/xml")}, follow=True)
    assert "不是 OPML 文件（根元素是 <html>）" in page_text(response.content.decode())
    assert Source.objects.count() == 1


def test_every_way_in_refuses_a_source_url_with_control_characters(editor_client, django_user_model):
    """The check lives on the model, so the admin refuses what OPML import and the editor refuse."""
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        Source(name="x", slug="x", url="https://ok.example.com/\x08feed", site_url="https://ok.example.com/\x0b").full_clean()
    assert set(caught.value.message_dict) >= {"url", "site_url"}
    Source(name="y", slug="y", url="https://ok.example.com/中文/feed").full_clean()  # Unicode paths are fine

    admin = django_user_model.objects.create_superuser("zb", "zb@example.com", "pw-zb-12345")
    editor_client.force_login(admin)
    response = editor_client.post("/admin/feeds/source/add/", {
        "name": "坏链接", "slug": "bad-link", "kind": "rss", "url": "https://bad.example.com/\x08feed",
        "fetch_interval": 1800, "next_fetch_at_0": "2026-11-26", "next_fetch_at_1": "08:00:00",
        "selectors": "{}", "consecutive_errors": 0, "error_count": 0, "entries_per_day": 0,
        "article_count": 0, "followers_count": 0,
    })
    assert "链接含有控制字符或不可见字符" in response.content.decode()
    assert not Source.objects.filter(slug="bad-link").exists()
