"""`manage.py import_article URL`: one page (WeChat or a generic article page) → one article."""
from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from django.core.management import CommandError, call_command

from articles.models import Article
from articles.text.sanitize import html_to_text
from tests.conftest import corpus_path

pytestmark = pytest.mark.django_db

WECHAT = [
    # (file, title, account, published UTC)
    ("article_detail_backgroud-image.html", "4月6日周五【新闻速览一分钟】", "华商报", datetime(2018, 4, 5, 22, 56, 20, tzinfo=timezone.utc)),
    ("article_detail_mpvoice.html", "语音 | 早安武汉〔2018.3.19 周一〕", "长江日报", datetime(2018, 3, 18, 21, 30, tzinfo=timezone.utc)),
    ("article_detail_qqmusic.html", "关于音乐", "闲云野鹤古刹", datetime(2018, 4, 7, 14, 21, 55, tzinfo=timezone.utc)),
    ("article_detail_iframe.html", "【视频】石榴花开", "共产党员", datetime(2018, 3, 20, 3, 19, 59, tzinfo=timezone.utc)),
]
WEB = [
    ("juejin1_web.html", "一文读懂Flutter的三棵树渲染机制和原理", ["Flutter", "Android"]),
    ("juejin2_web.html", "webpack搭建React项目（3）", ["Webpack"]),
    ("woshipm_web.html", "你为用户做总结了吗？", ["用户总结"]),
]


def import_article(url: str) -> int:
    out = io.StringIO()
    call_command("import_article", url, stdout=out)
    return int(out.getvalue().strip())


def assert_clean_body(article: Article) -> str:
    text = html_to_text(article.body)
    assert text.strip()
    assert "<script" not in article.body.lower() and "javascript:" not in article.body.lower()
    return text


@pytest.mark.parametrize(("name", "title", "account", "published"), WECHAT)
def test_import_wechat_article(feed_server, name, title, account, published) -> None:
    url = feed_server.add_file(f"/s/{name}", corpus_path("real-feeds", "wechatsogou", "pages", name),
                               content_type="text/html; charset=utf-8")
    article_id = import_article(url)
    article = Article.objects.get(pk=article_id)
    assert article.title == title
    # The publishing account is the author; 文章出处 is the account unless the body credits
    # another origin ("来源：新华社"), which the attribution step keeps.
    assert article.author == account
    assert article.origin_account.startswith(account) or "新华社" in article.origin_account
    assert article.published_at == published
    assert_clean_body(article)
    assert not article.source.active  # imported pages never join the fetch schedule
    # Importing again prints the same id and stores nothing new.
    assert import_article(url) == article_id
    assert Article.objects.filter(title=title).count() == 1


@pytest.mark.parametrize(("name", "title", "keywords"), WEB)
def test_import_web_article_with_keywords_as_tags(feed_server, name, title, keywords) -> None:
    url = feed_server.add_file(f"/post/{name}", corpus_path("real-feeds", "rssant", "pages", name),
                               content_type="text/html; charset=utf-8")
    article_id = import_article(url)
    article = Article.objects.get(pk=article_id)
    assert article.title == title
    assert len(assert_clean_body(article)) > 1000
    tag_names = {t.name.lower() for t in article.tags.all()}
    assert {k.lower() for k in keywords} <= tag_names
    assert import_article(url) == article_id
    assert Article.objects.filter(title=title).count() == 1


def test_import_expired_or_missing_page_fails_cleanly(feed_server) -> None:
    url = feed_server.add_file("/s/expired.html", corpus_path("real-feeds", "wechatsogou", "pages", "article_detail_expired.html"),
                               content_type="text/html; charset=utf-8")
    with pytest.raises(CommandError, match="import failed"):
        import_article(url)
    with pytest.raises(CommandError, match="404"):
        import_article(feed_server.url("/s/nothing-here.html"))
    assert not Article.objects.exists()
