"""HTML listing sources (editor CSS selectors) and full text for summary-only feeds, end to end
over a real local HTTP server: fetch → extract → ingest → stored articles."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from articles.models import Article
from articles.text.sanitize import html_to_text
from feeds.models import FetchLog, Source
from feeds.services import source_create, source_fetch
from tests.conftest import corpus_path

pytestmark = pytest.mark.django_db

SELECTORS = {"item": "ul.news li a.title", "title": "h1.headline", "date": ".meta time", "body": "div.article-body"}


def item_page(title: str, paragraphs: list[str], when: str = "2024-05-06 10:30") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title} - 示例科技网</title>
<meta name="keywords" content="芯片,开源"></head><body>
<nav><a href="/">首页</a> <a href="/news/">资讯</a></nav>
<h1 class="headline">{title}</h1><div class="meta"><time>{when}</time> 来源：示例科技网</div>
<div class="article-body">{body}</div>
<div class="sidebar"><h3>热门推荐</h3><ul><li><a href="/x">别的文章</a></li></ul></div>
</body></html>"""


def listing_page(links: list[tuple[str, str]]) -> str:
    items = "".join(f'<li><a class="title" href="{href}">{text}</a><span class="date">2024-05-06</span></li>'
                    for href, text in links)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>资讯列表</title></head><body>
<div class="header"><a href="/about">关于我们</a></div><ul class="news">{items}</ul>
<div class="pager"><a href="?page=2">下一页</a></div></body></html>"""


ITEMS = [
    ("/news/1.html", "华为发布新一代昇腾芯片", ["昇腾芯片采用新的制程工艺，算力提升一倍。", "华为表示该芯片将用于数据中心训练大模型。"]),
    ("/news/2.html", "英伟达公布季度财报", ["英伟达数据中心业务收入创新高。", "公司预计下一季度显卡需求仍然旺盛。"]),
    ("/news/3.html", "开源大模型社区月度回顾", ["本月多个开源模型发布了新版本。", "社区贡献者数量持续增长，中文语料不断丰富。"]),
]


def html_source(feed_server, selectors: dict, extra_links: list[tuple[str, str]] = ()) -> Source:
    for path, title, paragraphs in ITEMS:
        feed_server.add(path, item_page(title, paragraphs), content_type="text/html; charset=utf-8")
    links = [(path, title) for path, title, _ in ITEMS] + list(extra_links)
    url = feed_server.add("/news/", listing_page(links), content_type="text/html; charset=utf-8")
    return source_create(url=url, kind=Source.Kind.HTML, selectors=selectors)


def test_listing_page_and_item_pages_become_articles(feed_server) -> None:
    # An expired item page (WeChat "内容已被删除") and an empty page must not become articles.
    feed_server.add_file("/news/expired.html", corpus_path("real-feeds", "wechatsogou", "pages", "article_detail_expired.html"),
                         content_type="text/html; charset=utf-8")
    feed_server.add("/news/empty.html", '<html><body><h1 class="headline"></h1><div class="article-body"></div></body></html>',
                    content_type="text/html; charset=utf-8")
    source = html_source(feed_server, SELECTORS, [("/news/expired.html", "已过期"), ("/news/empty.html", "空页面"),
                                                  ("/news/missing.html", "404 页面")])
    outcome = source_fetch(source=source)
    assert outcome.status == "ok", outcome.error
    assert outcome.new == 3 and outcome.warnings >= 3

    articles = {a.title: a for a in Article.objects.filter(source=source)}
    assert set(articles) == {title for _, title, _ in ITEMS}
    for path, title, paragraphs in ITEMS:
        article = articles[title]
        text = html_to_text(article.body)
        assert all(p in text for p in paragraphs)
        assert "热门推荐" not in text and "首页" not in text  # the body selector, not the whole page
        assert article.url == feed_server.url(path)
        assert article.published_at.isoformat().startswith("2024-05-06T02:30")  # 10:30 Beijing time
    log = FetchLog.objects.get(source=source)
    assert "expired" in log.error and "missing.html" in log.error

    # Known items are not fetched again on the next run.
    hits = feed_server.hits["/news/1.html"]
    source.refresh_from_db()
    source.etag = ""
    assert source_fetch(source=source).new == 0
    assert feed_server.hits["/news/1.html"] == hits
    assert Article.objects.filter(source=source).count() == 3


@pytest.mark.parametrize(
    "selectors",
    [{"item": "ul.news li a[", "body": "div.article-body"},  # invalid CSS
     {"item": "ul.news", "body": "div:unknown-pseudo"},  # invalid body selector
     {"item": "div.no-such-list a"},  # valid but matches nothing
     {"body": "div.article-body"}],  # no item selector at all
)
def test_bad_selectors_are_recorded_errors(feed_server, selectors) -> None:
    source = html_source(feed_server, selectors)
    out = io.StringIO()
    call_command("fetch", "--source", str(source.pk), "--json", stdout=out)
    line = json.loads(out.getvalue())
    assert line["status"] == "error" and line["error_kind"] == "bad_selector" and line["error"]
    source.refresh_from_db()
    assert source.last_error_kind == "bad_selector" and source.consecutive_errors == 1
    assert source.next_fetch_at > source.last_fetched_at
    assert not Article.objects.filter(source=source).exists()


def _summary_feed(feed_server) -> str:
    pages = corpus_path("real-feeds", "rssant", "pages")
    items = []
    for name in ("juejin1", "juejin2", "woshipm"):
        feed_server.add_file(f"/p/{name}.html", pages / f"{name}_web.html", content_type="text/html; charset=utf-8")
        summary = (pages / f"{name}_rss.html").read_text("utf-8")
        items.append((name, feed_server.url(f"/p/{name}.html"), summary))
    # A summary-only entry whose page is gone keeps its summary.
    items.append(("gone", feed_server.url("/p/gone.html"), "<p>页面已经删除，但摘要仍然保留下来。</p>"))
    xml = "".join(
        f"<item><title>{name} 标题</title><link>{link}</link><guid>urn:test:{name}</guid>"
        f"<pubDate>Sun, 10 Jan 2021 12:00:00 GMT</pubDate><description><![CDATA[{summary}]]></description></item>"
        for name, link, summary in items
    )
    return feed_server.add("/summaries.xml", f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                                             f"<title>摘要源</title><language>zh-cn</language>{xml}</channel></rss>")


def test_full_text_replaces_short_summaries(feed_server, settings) -> None:
    settings.NEWSROOM_FULLTEXT = True
    source = source_create(url=_summary_feed(feed_server))
    outcome = source_fetch(source=source)
    assert outcome.status == "ok" and outcome.new == 4, outcome.error
    bodies = {a.url.rsplit("/", 1)[-1].removesuffix(".html"): html_to_text(a.body)
              for a in Article.objects.filter(source=source)}
    # juejin: a ~140-character summary became the whole article from the page.
    assert len(bodies["juejin1"]) > 3000 and "第一时间会在后台发生以下事件" in bodies["juejin1"]
    assert len(bodies["juejin2"]) > 2000 and "这样就可以成功转发请求获取数据了" in bodies["juejin2"]
    # woshipm: the feed already carries a long body, so the page is not fetched.
    assert feed_server.hits.get("/p/woshipm.html", 0) == 0
    assert "编辑导语" in bodies["woshipm"]
    # The page that 404s: the summary is kept.
    assert bodies["gone"] == "页面已经删除，但摘要仍然保留下来。"
    # The feed summary stays the article's summary.
    juejin1 = Article.objects.get(source=source, guid="urn:test:juejin1")
    assert juejin1.summary.startswith("Flutter是一个优秀的UI框架")


def test_full_text_is_off_when_the_setting_or_source_says_so(feed_server, settings) -> None:
    settings.NEWSROOM_FULLTEXT = True
    source = source_create(url=_summary_feed(feed_server))
    Source.objects.filter(pk=source.pk).update(fetch_full_text=False)
    source.refresh_from_db()
    assert source_fetch(source=source).new == 4
    assert feed_server.hits.get("/p/juejin1.html", 0) == 0
    assert len(html_to_text(Article.objects.get(source=source, guid="urn:test:juejin1").body)) < 300
