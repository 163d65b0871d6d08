"""Full-text extraction and listing pages, on real saved pages and small fixtures."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from feeds import extract as extract_module
from feeds.extract import ListingItem, better_body, extract_article, extract_listing, visible_text_length
from feeds.http import fetch_url
from tests.feeds.conftest import require_corpora
from tests.feeds.hostile import HostileServer

WECHAT_PAGES = {
    # file: (title, account, ct publish time)
    "article_detail_backgroud-image.html": ("4月6日周五【新闻速览一分钟】", "华商报", 1522968980),
    "article_detail_iframe.html": ("【视频】石榴花开", "共产党员", 1521515999),
    "article_detail_mpvoice.html": ("语音 | 早安武汉〔2018.3.19 周一〕", "长江日报", 1521408600),
    "article_detail_qqmusic.html": ("关于音乐", "闲云野鹤古刹", 1523110915),
}
RSSANT_PAGES = {
    "juejin1": "一文读懂Flutter的三棵树渲染机制和原理",
    "juejin2": "webpack搭建React项目（3）",
    "woshipm": "你为用户做总结了吗？",
}


# --------------------------------------------------------------------------
# WeChat
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(WECHAT_PAGES))
def test_wechat_article_pages(name: str) -> None:
    title, account, ct = WECHAT_PAGES[name]
    page = require_corpora() / "real-feeds" / "wechatsogou" / "pages" / name
    entry = extract_article(page.read_bytes(), url="https://mp.weixin.qq.com/s/abc")
    assert entry.title == title
    assert entry.origin_account == account
    assert entry.published == datetime.fromtimestamp(ct, tz=timezone.utc)
    assert visible_text_length(entry.content) > 0 or "<iframe" in entry.content
    assert "<script" not in entry.content
    assert entry.images and entry.images[0].startswith("http://mmbiz.qpic.cn/")


def test_wechat_body_keeps_lazy_images_as_is() -> None:
    page = require_corpora() / "real-feeds" / "wechatsogou" / "pages" / "article_detail_qqmusic.html"
    entry = extract_article(page.read_bytes(), url="https://mp.weixin.qq.com/s/abc")
    assert re.search(r'<img[^>]+data-src="https?://mmbiz\.qpic\.cn/', entry.content)


def test_expired_wechat_page_has_no_body() -> None:
    page = require_corpora() / "real-feeds" / "wechatsogou" / "pages" / "article_detail_expired.html"
    entry = extract_article(page.read_bytes(), url="https://mp.weixin.qq.com/s/gone")
    assert entry.title == "链接已过期"
    assert entry.content == ""
    assert better_body("<p>feed summary</p>", entry.content) == "<p>feed summary</p>"


def test_wechat_repost_records_the_original_url() -> None:
    page = """<html><head><meta property="og:title" content="转载：英伟达发布新 GPU"></head><body>
    <strong id="js_name"> 芯片观察 </strong>
    <div id="js_content" style="visibility: hidden;"><p>正文第一段</p><img data-src="https://mmbiz.qpic.cn/x.png"></div>
    <script>var nickname = "芯片观察"; var ct = "1714969800"; var msg_source_url = 'https://www.nvidia.cn/news/1';</script>
    </body></html>"""
    entry = extract_article(page, url="https://mp.weixin.qq.com/s/xyz")
    assert entry.title == "转载：英伟达发布新 GPU"
    assert entry.original_url == "https://www.nvidia.cn/news/1"
    assert entry.origin_account == "芯片观察"
    assert entry.published == datetime(2024, 5, 6, 4, 30, tzinfo=timezone.utc)
    assert 'data-src="https://mmbiz.qpic.cn/x.png"' in entry.content
    # A publish time no clock has (too large, or digits int() refuses): the page's other dates, else none.
    for ct in ("99999999999999999999", "\u00b2"):
        entry = extract_article(page.replace("1714969800", ct), url="https://mp.weixin.qq.com/s/xyz")
        assert entry.published is None and entry.title == "转载：英伟达发布新 GPU"


# --------------------------------------------------------------------------
# Generic pages
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(RSSANT_PAGES))
def test_real_article_pages_beat_their_feed_summaries(name: str) -> None:
    pages = require_corpora() / "real-feeds" / "rssant" / "pages"
    entry = extract_article((pages / f"{name}_web.html").read_bytes(), url=f"https://example.com/{name}")
    summary = (pages / f"{name}_rss.html").read_text("utf-8")
    assert entry.title == RSSANT_PAGES[name]
    assert visible_text_length(entry.content) > visible_text_length(summary)
    assert better_body(summary, entry.content) == entry.content
    assert "<graphic" not in entry.content and "<html" not in entry.content


def test_keywords_are_split_into_categories() -> None:
    pages = require_corpora() / "real-feeds" / "rssant" / "pages"
    entry = extract_article((pages / "woshipm_web.html").read_bytes(), url="https://www.woshipm.com/x.html")
    assert entry.categories and all("," not in c and "，" not in c for c in entry.categories)


ARTICLE = """<!DOCTYPE html><html><head>
<meta charset="gbk"><title>华为发布昇腾芯片_科技频道_某某网</title>
<meta name="keywords" content="华为，昇腾、芯片,AI ; 算力">
<meta name="author" content="记者 张三">
<link rel="canonical" href="/news/2024/0506/1.html">
</head><body>
<div class="nav"><a href="/">首页</a> <a href="/tech">科技</a></div>
<h1>华为发布昇腾芯片</h1>
<div class="info"><span class="time">2024年05月06日 12:30</span> 来源：某某网</div>
<div id="article">
<p>5月6日，华为在深圳发布了新一代昇腾人工智能芯片，这款芯片面向数据中心训练与推理场景。</p>
<p>据介绍，新芯片在算力和能效方面均有明显提升，支持更大规模的模型训练，并将于今年下半年量产。</p>
<p>业内人士认为，国产算力芯片的进步将推动人工智能产业链的发展，带来更多的应用落地机会。</p>
<p><img data-src="https://img.example.com/chip.jpg" src="/lazy.gif"></p>
</div>
<div class="sidebar"><ul><li><a href="/a">相关新闻一</a></li><li><a href="/b">相关新闻二</a></li></ul></div>
</body></html>"""


def test_generic_page_metadata_and_body() -> None:
    entry = extract_article(ARTICLE.encode("gb18030"), url="https://news.example.com/news/2024/0506/1.html?from=rss")
    assert entry.title == "华为发布昇腾芯片"
    assert entry.link == "https://news.example.com/news/2024/0506/1.html"
    assert entry.published == datetime(2024, 5, 6, 4, 30, tzinfo=timezone.utc)  # 12:30 Beijing time
    assert entry.categories == ["华为", "昇腾", "芯片", "AI", "算力"]
    assert entry.author == "记者 张三"
    assert "昇腾人工智能芯片" in entry.content and "相关新闻" not in entry.content


def test_published_time_meta_wins() -> None:
    page = ARTICLE.replace('<meta name="author"', '<meta property="article:published_time" content="2024-05-07T08:00:00+08:00"><meta name="author"')
    entry = extract_article(page, url="https://news.example.com/1.html")
    assert entry.published == datetime(2024, 5, 7, 0, 0, tzinfo=timezone.utc)


def test_fallback_extractor_when_trafilatura_finds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_module, "_trafilatura_body", lambda text, url: "")
    entry = extract_article(ARTICLE, url="https://news.example.com/1.html")
    assert "新一代昇腾人工智能芯片" in entry.content
    assert 'data-src="https://img.example.com/chip.jpg"' in entry.content
    assert "相关新闻" not in entry.content and "首页" not in entry.content


def test_editor_selectors_take_precedence() -> None:
    selectors = {"title": "div.info span.time", "date": ".time", "body": "div.sidebar"}
    entry = extract_article(ARTICLE, url="https://news.example.com/1.html", selectors=selectors)
    assert entry.title == "2024年05月06日 12:30"
    assert "相关新闻一" in entry.content
    assert entry.published == datetime(2024, 5, 6, 4, 30, tzinfo=timezone.utc)


def test_article_fetched_over_http(hostile: HostileServer) -> None:
    url = hostile.add("article.html", ARTICLE.encode("gb18030"), "text/html; charset=GBK")
    page = fetch_url(url, allow_private=True)
    entry = extract_article(page.content, url=page.url, content_type=page.content_type)
    assert entry.title == "华为发布昇腾芯片"


def test_better_body() -> None:
    assert better_body("<p>short summary</p>", "") == "<p>short summary</p>"
    assert better_body("<p>short</p>", "<p>a much longer extracted body</p>") == "<p>a much longer extracted body</p>"
    assert better_body("<p>the feed had the full text already</p>", "<p>menu</p><script>var x=1111111111111;</script>") \
        == "<p>the feed had the full text already</p>"


# --------------------------------------------------------------------------
# Listing pages
# --------------------------------------------------------------------------
LISTING = """<html><head><base href="https://www.example.com/news/"></head><body>
<ul class="list">
  <li><a class="title" href="2024/1.html"> 第一条 新闻 </a><span class="date">2024-05-06 12:30</span></li>
  <li><a class="title" href="/news/2024/2.html">第二条新闻</a><span class="date">2024年05月05日</span></li>
  <li><a class="title" href="2024/1.html">重复</a><span class="date">2024-05-06</span></li>
  <li><a class="title" href="javascript:void(0)">不是链接</a></li>
  <li><a class="title" href="https://other.example.org/3">第三条</a></li>
</ul></body></html>"""


def test_extract_listing_items() -> None:
    items = extract_listing(LISTING, url="https://www.example.com/news/index.html", selectors={"item": "ul.list a.title", "date": ".date"})
    assert items == [
        ListingItem("https://www.example.com/news/2024/1.html", "第一条 新闻", datetime(2024, 5, 6, 4, 30, tzinfo=timezone.utc)),
        ListingItem("https://www.example.com/news/2024/2.html", "第二条新闻", datetime(2024, 5, 4, 16, 0, tzinfo=timezone.utc)),
        ListingItem("https://other.example.org/3", "第三条", None),
    ]


def test_extract_listing_item_containers_and_bytes() -> None:
    items = extract_listing(LISTING.encode("gb18030").replace(b"<head>", b'<head><meta charset="gb2312">'),
                            url="https://www.example.com/news/", selectors={"item": "ul.list li"})
    assert [i.title for i in items] == ["第一条 新闻", "第二条新闻", "第三条"]


def test_extract_listing_rejects_invalid_selector() -> None:
    with pytest.raises(ValueError):
        extract_listing(LISTING, url="https://www.example.com/", selectors={"item": "a[["})
