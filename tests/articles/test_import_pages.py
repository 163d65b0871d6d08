"""`manage.py import_article URL` on real third-party pages (served by FeedServer),
checked where readers see them: the article page."""
from __future__ import annotations

import re

import pytest

from articles.models import Article
from tests.articles.e2e import article_body, attribution_block, import_article, page, text_of
from tests.conftest import corpus_path

pytestmark = pytest.mark.django_db

WECHAT = [  # (file, title, account)
    ("article_detail_backgroud-image.html", "4月6日周五【新闻速览一分钟】", "华商报"),
    ("article_detail_mpvoice.html", "语音 | 早安武汉〔2018.3.19 周一〕", "长江日报"),
    ("article_detail_qqmusic.html", "关于音乐", "闲云野鹤古刹"),
    ("article_detail_iframe.html", "【视频】石榴花开", "共产党员"),
]
WEB = [  # (file, title, a phrase of the body)
    ("juejin1_web.html", "一文读懂Flutter的三棵树渲染机制和原理", "Widget"),
    ("juejin2_web.html", "webpack搭建React项目（3）", "webpack"),
    ("woshipm_web.html", "你为用户做总结了吗？", "总结"),
]
IMG_RE = re.compile(r"<img\b[^>]*>")


def assert_clean_article_page(html: str, title: str) -> str:
    assert re.search(rf"<h1>\s*{re.escape(title)}\s*</h1>", html)
    body = article_body(html)
    lowered = body.lower()
    for bad in ("<script", "<style", "<iframe", "javascript:", "data-src", "<link", "<meta"):
        assert bad not in lowered, bad
    assert not re.search(r"<[a-z][^>]*\s(?:on[a-z]+|style)\s*=", lowered)  # no handlers, no inline styles
    for img in IMG_RE.findall(body):
        src = re.search(r'\ssrc="([^"]+)"', img)
        assert src, img
        assert src.group(1).startswith(("/img/", "https://", "http://")), img  # lazy images resolved
        assert 'referrerpolicy="no-referrer"' in img
    text = text_of(body)
    assert len(text) > 20
    return body


@pytest.mark.parametrize(("name", "title", "account"), WECHAT)
def test_imported_wechat_page_reads_clean(feed_server, client, name, title, account):
    url = feed_server.add_file(f"/s/{name}", corpus_path("real-feeds", "wechatsogou", "pages", name),
                               content_type="text/html; charset=utf-8")
    article = Article.objects.get(pk=import_article(url))
    html = page(client, f"/articles/{article.pk}/")
    body = assert_clean_article_page(html, title)
    raw = corpus_path("real-feeds", "wechatsogou", "pages", name).read_text(encoding="utf-8")
    if 'data-src="' in raw.split('id="js_content"', 1)[-1]:
        assert "<img" in body and "/img/" in body  # WeChat's lazy data-src images come through the proxy
    block = text_of(attribution_block(html))
    byline = text_of(re.search(r'<p class="meta">(.*?)</p>', html, re.S).group(1))
    # The account is the origin (文章出处) — unless the body credits another origin
    # ("来源：新华社"), which the block then shows, with the account as the byline's author.
    assert account in block or ("新华社" in block and f"作者：{account}" in byline)
    assert "rich_media" not in html and "var msg_title" not in html  # none of WeChat's page chrome


@pytest.mark.parametrize(("name", "title", "phrase"), WEB)
def test_imported_web_page_reads_clean(feed_server, client, name, title, phrase):
    url = feed_server.add_file(f"/post/{name}", corpus_path("real-feeds", "rssant", "pages", name),
                               content_type="text/html; charset=utf-8")
    article = Article.objects.get(pk=import_article(url))
    html = page(client, f"/articles/{article.pk}/")
    body = assert_clean_article_page(html, title)
    text = text_of(body)
    assert phrase.lower() in text.lower() and len(text) > 1000
    assert not text.startswith(title)  # the headline is the page's <h1>, not repeated as the body's first line
