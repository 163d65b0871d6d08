"""Feed parsing: XML hazards, charsets, entry mapping, formats, and a corpus walk."""
from __future__ import annotations

import re
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from feeds.http import FetchError, fetch_url
from feeds.parse import ParsedFeed, ParseError, decode_bytes, parse_feed
from tests.feeds.conftest import require_corpora
from tests.feeds.hostile import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    HTML_PAGE,
    TRICKY_DOCTYPE,
    ZH_TITLE,
    HostileServer,
    chinese_feed,
    quadratic_blowup,
)

CJK = re.compile(r"[\u4e00-\u9fff]")
MOJIBAKE = re.compile(r"[ÃÂâ€åæçèéä][\u0080-\u00ff€™œ]|�")


def rss(items: str, *, channel: str = "<title>T</title><link>http://example.com/</link>", attrs: str = "") -> bytes:
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" {attrs}><channel>{channel}{items}</channel></rss>'.encode()


# --------------------------------------------------------------------------
# XML hazards: nothing is ever expanded or loaded
# --------------------------------------------------------------------------
@pytest.mark.parametrize("payload", [BILLION_LAUGHS, quadratic_blowup(), EXTERNAL_ENTITY, TRICKY_DOCTYPE],
                         ids=["billion-laughs", "quadratic-blowup", "external-entity", "tricky-doctype"])
def test_entity_bombs_are_never_expanded(payload: bytes) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        try:
            outcome: ParsedFeed | ParseError = parse_feed(payload, url="http://example.com/feed")
        except ParseError as exc:
            outcome = exc
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 3
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
    assert isinstance(outcome, ParsedFeed)
    texts = " ".join([outcome.title] + [e.title + e.summary + e.content for e in outcome.entries])
    assert "lollollol" not in texts and "AAAAAAAAAA" * 100 not in texts
    assert "root:" not in texts  # /etc/passwd never read
    assert len(texts) < len(payload) * 2
    assert any("DOCTYPE" in w for w in outcome.warnings)


def test_tricky_doctype_keeps_cdata_content() -> None:
    feed = parse_feed(TRICKY_DOCTYPE, url="http://example.com/feed")
    assert feed.entries[0].summary.startswith("<p>ok <!DOCTYPE html>")
    assert "x>]>" not in feed.entries[0].title


def test_entity_bomb_served_over_http(hostile: HostileServer) -> None:
    url = hostile.add("bomb.xml", BILLION_LAUGHS)
    response = fetch_url(url, allow_private=True, deadline=3)
    feed = parse_feed(response.content, url=response.url, content_type=response.content_type)
    assert "lollol" not in feed.entries[0].title


def test_predefined_numeric_and_html_entities_still_work() -> None:
    feed = parse_feed(
        rss("<item><title>AT&amp;T &#169; &#x4E2D; &lt;b&gt; &nbsp;&hellip; &bogus; Q&amp;A &amp;quot;x&amp;quot;</title>"
            "<link>http://example.com/a?x=1&y=2</link></item>"),
        url="http://example.com/feed",
    )
    entry = feed.entries[0]
    assert entry.title == 'AT&T © 中 <b> … &bogus; Q&A "x"'
    assert entry.link == "http://example.com/a?x=1&y=2"  # bare & in a URL survives


def test_references_are_made_well_formed_one_by_one() -> None:
    """Only references XML does not know are rewritten: the well-formed numeric ones
    and XML's five pass untouched; malformed ones and undefined names become text."""
    from feeds.parse import strip_declarations

    text = "&AMP; &lt &#; &#12 &ltx; &#X4E2D; &amp;amp; &nbsp &copy; a&b &&; &1x; &Amp; &#x; &#xZZ; &quot;&apos;&gt;"
    assert strip_declarations(text) == (
        "&#38; &amp;lt &amp;#; &amp;#12 &amp;ltx; &#X4E2D; &amp;amp; &amp;nbsp &#169; a&amp;b &amp;&amp;; "
        "&amp;1x; &amp;Amp; &amp;#x; &amp;#xZZ; &quot;&apos;&gt;", 0)
    assert strip_declarations("<![CDATA[&bogus; &nbsp;]]> &bogus; &nbsp;") == (
        "<![CDATA[&bogus; &nbsp;]]> &amp;bogus; &#160;", 0)


def test_feedparser_never_opens_files_or_urls() -> None:
    for content in (b"/etc/passwd", b"http://127.0.0.1:9/feed.xml", b"file:///etc/hostname"):
        with pytest.raises(ParseError) as info:
            parse_feed(content, url="http://example.com/")
        assert info.value.kind == "not_a_feed"


# --------------------------------------------------------------------------
# Charsets
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (chinese_feed("gb2312"), ""),  # the usual old Chinese portal
        (chinese_feed("gb2312"), "text/xml; charset=utf-8"),  # GBK bytes, header lies
        (chinese_feed("utf-8"), "text/xml"),  # GBK bytes, declaration lies, no header charset
        (chinese_feed("", encode_as="gb18030"), "text/xml"),  # no declaration at all: detection
        (chinese_feed("gb2312", encode_as="utf-8"), ""),  # UTF-8 bytes labelled gb2312
        (chinese_feed("utf-8", encode_as="utf-8"), "application/rss+xml; charset=GBK"),  # header lies the other way
        (chinese_feed("gbk", encode_as="gb18030"), "text/xml; charset=iso-8859-1"),  # GBK labelled latin-1
        (b"\xef\xbb\xbf" + chinese_feed("utf-8", encode_as="utf-8"), "text/xml; charset=gbk"),  # BOM wins
        (chinese_feed("utf-16", encode_as="utf-16"), ""),  # UTF-16 with BOM
    ],
)
def test_chinese_titles_decode_whatever_the_labels_say(content: bytes, content_type: str) -> None:
    feed = parse_feed(content, url="http://example.cn/rss.xml", content_type=content_type)
    assert feed.title == ZH_TITLE
    assert feed.entries[0].title == ZH_TITLE
    assert feed.entries[0].summary == "正文摘要：" + ZH_TITLE


def test_encoding_override_wins() -> None:
    content = chinese_feed("utf-8", encode_as="big5hkscs", title="繁體中文標題")
    feed = parse_feed(content, url="http://example.tw/", content_type="text/xml; charset=utf-8", encoding_override="big5")
    assert feed.entries[0].title == "繁體中文標題"


def test_decode_bytes_for_html_pages() -> None:
    page = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312"></head><body>朱镕基</body></html>'
    assert decode_bytes(page.encode("gb18030")) == (page, "gb18030")
    assert decode_bytes(page.encode("gb18030"), content_type="text/html; charset=utf-8")[0] == page
    assert decode_bytes("<p>中文</p>".encode(), content_type="text/html; charset=gbk") == ("<p>中文</p>", "utf-8")
    assert decode_bytes("<p>中文</p>".encode("gb18030"), encoding_override="gbk")[0] == "<p>中文</p>"
    text, encoding = decode_bytes(("<p>" + "没有任何声明的中文页面，" * 20 + "</p>").encode("gb18030"))
    assert "没有任何声明" in text and encoding == "gb18030"


# --------------------------------------------------------------------------
# Not feeds, broken feeds, bozo feeds
# --------------------------------------------------------------------------
@pytest.mark.parametrize("content", [HTML_PAGE, b"", b"   \n", b"plain text, not xml", b"{\"not\": \"a feed\"}"])
def test_things_that_are_not_feeds(content: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(content, url="http://example.com/feed")
    assert info.value.kind == "not_a_feed"


def test_html_served_as_feed_over_http(hostile: HostileServer) -> None:
    url = hostile.add("page.xml", HTML_PAGE, "application/rss+xml")
    response = fetch_url(url, allow_private=True)
    with pytest.raises(ParseError) as info:
        parse_feed(response.content, url=response.url, content_type=response.content_type)
    assert info.value.kind == "not_a_feed"


def test_truncated_feed_without_entries_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><descr', url="http://e/")
    assert info.value.kind == "parse_error"


def test_bozo_feed_with_entries_is_a_warning_not_a_failure() -> None:
    content = rss("<item><title>one</title><link>http://example.com/1</link></item>"
                  "<item><title>two</title><link>http://example.com/2</link></item><unclosed>")
    feed = parse_feed(content, url="http://example.com/feed")
    assert [e.title for e in feed.entries] == ["one", "two"]
    assert feed.warnings


def test_empty_but_valid_feed() -> None:
    feed = parse_feed(rss(""), url="http://example.com/feed")
    assert (feed.title, feed.entries, feed.version) == ("T", [], "rss20")


# --------------------------------------------------------------------------
# Entry mapping
# --------------------------------------------------------------------------
RICH_ITEM = """
<item>
  <title><![CDATA[  华为   发布 <b>昇腾</b>&amp;芯片 ]]></title>
  <link>/articles/1.html</link>
  <guid isPermaLink="false">urn:news:1</guid>
  <description><![CDATA[<p>摘要 <img data-src="https://mmbiz.qpic.cn/a.jpg" src="data:image/gif;base64,R0lGOD"></p>]]></description>
  <content:encoded><![CDATA[<p>全文 <img data-src="https://mmbiz.qpic.cn/b.jpg"> <iframe src="https://player.bilibili.com/x"></iframe></p>]]></content:encoded>
  <dc:creator>张三</dc:creator>
  <pubDate>Mon, 06 May 2024 12:30:00 +0800</pubDate>
  <category>AI</category><category>芯片</category><category>AI</category>
  <media:content url="https://img.example.com/m.jpg" medium="image"/>
  <media:thumbnail url="/thumb.png"/>
  <enclosure url="https://img.example.com/e.webp" type="image/webp" length="1"/>
  <enclosure url="https://cdn.example.com/a.mp3" type="audio/mpeg" length="1"/>
</item>"""
NAMESPACES = ('xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
              'xmlns:media="http://search.yahoo.com/mrss/"')


def test_rss_entry_maps_to_entry_data() -> None:
    feed = parse_feed(rss(RICH_ITEM, attrs=NAMESPACES), url="https://news.example.com/rss.xml")
    entry = feed.entries[0]
    assert entry.guid == "urn:news:1"
    assert entry.link == "https://news.example.com/articles/1.html"
    assert entry.title == "华为 发布 昇腾&芯片"
    assert 'data-src="https://mmbiz.qpic.cn/a.jpg"' in entry.summary  # sanitizer off: lazy images kept
    assert 'data-src="https://mmbiz.qpic.cn/b.jpg"' in entry.content and "<iframe" in entry.content
    assert entry.author == "张三"
    assert entry.published == datetime(2024, 5, 6, 4, 30, tzinfo=timezone.utc)
    assert entry.categories == ["AI", "芯片"]
    assert entry.images == ["https://img.example.com/m.jpg", "https://news.example.com/thumb.png",
                            "https://img.example.com/e.webp"]
    assert entry.base_url.startswith("https://news.example.com/")


def test_guid_falls_back_to_link_then_a_stable_hash() -> None:
    items = ("<item><title>has link</title><link>http://example.com/x</link></item>"
             "<item><title>no id no link</title><pubDate>Mon, 06 May 2024 12:30:00 GMT</pubDate></item>")
    first = parse_feed(rss(items), url="http://example.com/feed").entries
    again = parse_feed(rss(items), url="http://example.com/feed").entries
    assert first[0].guid == "http://example.com/x"
    assert first[1].guid.startswith("sha1:") and first[1].guid == again[1].guid


def test_dates_zone_less_chinese_missing_and_utc() -> None:
    items = ("<item><title>a</title><link>http://e.cn/1</link><pubDate>2024-05-06 12:30:00</pubDate></item>"
             "<item><title>b</title><link>http://e.cn/2</link><pubDate>2024年05月06日 12:30</pubDate></item>"
             "<item><title>c</title><link>http://e.cn/3</link></item>"
             "<item><title>d</title><link>http://e.cn/4</link><pubDate>Mon, 06 May 2024 04:30:00 GMT</pubDate></item>")
    entries = parse_feed(rss(items, channel="<title>中文</title><language>zh-cn</language>"), url="http://e.cn/").entries
    expected = datetime(2024, 5, 6, 4, 30, tzinfo=timezone.utc)
    assert [e.published for e in entries] == [expected, expected, None, expected]
    assert all(e.published is None or e.published.tzinfo is not None for e in entries)


def test_atom_with_xml_base_and_longest_content() -> None:
    atom = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.com/">
  <title type="html">&lt;b&gt;Blog&lt;/b&gt;</title><link href="/"/>
  <entry xml:base="/posts/">
    <id>tag:example.com,2024:1</id><title type="text">Post &amp; more</title>
    <link rel="alternate" href="hello.html"/>
    <updated>2024-05-06T04:30:00Z</updated><published>2024-05-06T12:30:00+08:00</published>
    <author><name>Li Si</name></author>
    <category term="rust"/><category term="wasm"/>
    <summary>short</summary>
    <content type="html">&lt;p&gt;the long body &lt;img src="img/a.png"&gt;&lt;/p&gt;</content>
  </entry>
</feed>"""
    feed = parse_feed(atom, url="https://blog.example.com/atom.xml")
    entry = feed.entries[0]
    assert (feed.title, feed.link, feed.version) == ("Blog", "https://blog.example.com/", "atom10")
    assert entry.link == "https://blog.example.com/posts/hello.html"
    assert entry.title == "Post & more" and entry.author == "Li Si" and entry.categories == ["rust", "wasm"]
    assert entry.summary == "short" and "the long body" in entry.content
    assert entry.published == entry.updated == datetime(2024, 5, 6, 4, 30, tzinfo=timezone.utc)
    assert entry.base_url == "https://blog.example.com/posts/"


@pytest.mark.parametrize(
    ("document", "version"),
    [
        (b'<rss version="0.91"><channel><title>t</title><item><title>i</title><link>http://e/1</link></item></channel></rss>', "rss091u"),
        (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
         b'<channel rdf:about="http://e/"><title>t</title></channel><item rdf:about="http://e/1"><title>i</title>'
         b'<link>http://e/1</link></item></rdf:RDF>', "rss10"),
        (b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>t</title><entry><title>i</title>'
         b'<link rel="alternate" type="text/html" href="http://e/1"/><id>e1</id><issued>2004-01-01T00:00:00Z</issued></entry></feed>', "atom03"),
        (b'<CHANNEL HREF="http://e/"><TITLE>t</TITLE><ITEM HREF="http://e/1"><TITLE>i</TITLE></ITEM></CHANNEL>', "cdf"),
    ],
)
def test_other_feed_formats(document: bytes, version: str) -> None:
    feed = parse_feed(document, url="http://e/")
    assert feed.version == version
    assert feed.entries[0].title == "i" and feed.entries[0].link == "http://e/1"


def test_json_feed() -> None:
    document = """{"version": "https://jsonfeed.org/version/1.1", "title": "中文 JSON", "home_page_url": "https://e.cn/",
      "items": [{"id": "1", "url": "/p/1", "title": "第一篇", "content_html": "<p>正文</p>", "summary": "摘要",
                 "date_published": "2024-05-06T12:30:00+08:00", "authors": [{"name": "王五"}], "tags": ["AI"],
                 "image": "https://e.cn/i.png", "attachments": [{"url": "https://e.cn/a.jpg", "mime_type": "image/jpeg"}]},
                {"id": "2", "content_text": "只有文本\\n\\n第二段", "date_published": "2024-05-06 12:30"}]}"""
    feed = parse_feed(document.encode(), url="https://e.cn/feed.json", content_type="application/feed+json")
    first, second = feed.entries
    assert (feed.title, feed.link, feed.version) == ("中文 JSON", "https://e.cn/", "json11")
    assert (first.guid, first.link, first.title, first.author) == ("1", "https://e.cn/p/1", "第一篇", "王五")
    assert first.content == "<p>正文</p>" and first.categories == ["AI"]
    assert first.published == datetime(2024, 5, 6, 4, 30, tzinfo=timezone.utc)
    assert first.images == ["https://e.cn/i.png", "https://e.cn/a.jpg"]
    assert second.content == "<p>只有文本</p><p>第二段</p>"
    assert second.published == datetime(2024, 5, 6, 4, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("value", ["5", "true", "1.5", '"AI"', '{"name": "x"}'])
def test_json_feed_fields_of_the_wrong_type_cost_nothing_else(value: str) -> None:
    """tags, authors and attachments are arrays by the spec; a publisher's number or string there
    holds nothing usable, and the item (and the rest of the feed) is read all the same."""
    document = (f'{{"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": ['
                f'{{"id": "1", "url": "https://e.cn/p/1", "title": "第一篇", "content_html": "<p>正文</p>",'
                f' "tags": {value}, "authors": {value}, "attachments": {value}}},'
                f'{{"id": "2", "url": "https://e.cn/p/2", "title": "第二篇", "tags": ["AI"]}}]}}')
    first, second = parse_feed(document.encode(), url="https://e.cn/feed.json").entries
    assert (first.title, first.content, first.categories, first.author, first.images) == ("第一篇", "<p>正文</p>", [], "", [])
    assert (second.title, second.categories) == ("第二篇", ["AI"])


# --------------------------------------------------------------------------
# Corpus walk: every file, over real HTTP, to an outcome
# --------------------------------------------------------------------------
KNOWN_CHINESE = ["real-feeds/rssant/well/*", "real-feeds/rss-parser/encoding-gb2312-*.xml"]
SKIP_NAMES = {"LICENSE", "README.md", "manifest.json"}


def _corpus_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in SKIP_NAMES)


def _fetch_and_parse(hostile: HostileServer, root: Path, path: Path) -> tuple[Path, ParsedFeed | ParseError | FetchError, float]:
    started = time.monotonic()
    url = hostile.url("/corpus/" + quote(path.relative_to(root).as_posix()))
    try:
        response = fetch_url(url, allow_private=True, deadline=10)
        outcome: ParsedFeed | ParseError | FetchError = parse_feed(
            response.content, url=response.url, content_type=response.content_type
        )
    except (ParseError, FetchError) as exc:
        outcome = exc
    return path, outcome, time.monotonic() - started


@pytest.mark.slow
def test_corpus_walk_every_file_reaches_an_outcome(hostile: HostileServer) -> None:
    root = require_corpora()
    files = _corpus_files(root)
    assert len(files) > 2000
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda p: _fetch_and_parse(hostile, root, p), files))
    by_path = {path.relative_to(root).as_posix(): outcome for path, outcome, _ in results}
    fetch_failures = {p: str(o) for p, o in by_path.items() if isinstance(o, FetchError)}
    assert not fetch_failures
    slowest = max(results, key=lambda r: r[2])
    assert slowest[2] < 10, f"{slowest[0]} took {slowest[2]:.1f}s"
    parsed = [o for o in by_path.values() if isinstance(o, ParsedFeed)]
    assert len(parsed) > 0.95 * len(files)  # nearly all of feedparser's corpus is feeds
    for name, outcome in by_path.items():
        if name.startswith(("feedparser-tests/wellformed/", "real-feeds/rssant/well/")):
            assert isinstance(outcome, ParsedFeed), f"{name}: {outcome}"
        if name.startswith("real-feeds/rssant/failed/") or name == "real-feeds/rss-parser/unrecognized.rss":
            assert isinstance(outcome, ParseError) and outcome.kind == "not_a_feed", name


@pytest.mark.parametrize("pattern", KNOWN_CHINESE)
def test_known_chinese_feeds_decode_to_real_chinese(hostile: HostileServer, pattern: str) -> None:
    root = require_corpora()
    files = sorted(root.glob(pattern))
    assert files
    for path in files:
        _path, outcome, _spent = _fetch_and_parse(hostile, root, path)
        assert isinstance(outcome, ParsedFeed), f"{path.name}: {outcome}"
        assert outcome.entries, path.name
        titles = [outcome.title] + [e.title for e in outcome.entries]
        assert any(CJK.search(t) for t in titles), path.name
        for title in titles:
            assert not MOJIBAKE.search(title), f"{path.name}: mojibake in {title!r}"
        assert all(e.guid and (e.published is None or e.published.tzinfo) for e in outcome.entries)


def test_gb2312_feed_from_qq_has_beijing_times(hostile: HostileServer) -> None:
    root = require_corpora()
    _path, outcome, _ = _fetch_and_parse(hostile, root, root / "real-feeds/rss-parser/encoding-gb2312-qq-news.xml")
    assert isinstance(outcome, ParsedFeed)
    assert outcome.title == "新闻国内"
    assert outcome.entries[0].title == "习近平为何如此强调崇尚英雄？"
    # <pubDate>2018-09-18 14:38:10</pubDate> is Beijing time.
    assert outcome.entries[0].published == datetime(2018, 9, 18, 6, 38, 10, tzinfo=timezone.utc)


def test_feedparser_corpus_http_headers_drive_the_charset(hostile: HostileServer) -> None:
    root = require_corpora()
    path = root / "feedparser-tests/encoding/http_text_xml_charset_overrides_encoding.xml"
    _path, outcome, _ = _fetch_and_parse(hostile, root, path)
    assert isinstance(outcome, ParsedFeed)


def test_feeds_are_read_with_buffered_text_and_make_what_the_stock_reader_makes(monkeypatch):
    """parse_feed has feedparser read XML with expat's text buffered (feeds.sax_buffered):
    a run of text comes in one piece, not one per line break and entity. Over every file
    of the feedparser test suite and the real-feeds corpus, it makes exactly what the
    stock reader makes; feedparser called elsewhere keeps its own reader."""
    import dataclasses
    import io

    import feedparser

    from feeds import sax_buffered

    root = require_corpora()
    readers = []
    real_reset = sax_buffered.BufferedExpatParser.reset

    def reset(self):
        readers.append(type(self))
        real_reset(self)

    monkeypatch.setattr(sax_buffered.BufferedExpatParser, "reset", reset)

    def outcome(data: bytes):
        try:
            parsed = parse_feed(data, url="https://corpus.invalid/feed.xml", content_type="application/xml")
        except ParseError as exc:
            return "error", exc.kind, str(exc)
        return [dataclasses.asdict(e) for e in parsed.entries], parsed.title, parsed.link, parsed.warnings

    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".xml", ".rss", ".atom", ".rdf", ".json", ""}
                   and p.name not in {"LICENSE", "manifest.json"})
    assert len(files) > 1500
    for path in files:
        data = path.read_bytes()
        buffered = outcome(data)
        with monkeypatch.context() as patch:  # the stock reader: our module declines, as it does outside parse_feed
            patch.setattr(sax_buffered, "buffered", lambda: __import__("contextlib").nullcontext())
            stock = outcome(data)
        assert buffered == stock, path
    assert readers  # the buffered reader did read
    readers.clear()
    feedparser.parse(io.BytesIO((root / "feedparser-tests").rglob("*.xml").__next__().read_bytes()))
    assert not readers  # feedparser outside parse_feed: its own choice
