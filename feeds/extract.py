"""Full text from article pages, items from HTML listing pages.

Order of trust: editor CSS selectors, then site rules (WeChat), then page
metadata plus trafilatura as the generic body extractor, then a
largest-text-block heuristic when trafilatura finds nothing. Bodies are
returned as raw HTML — lazy ``data-src`` attributes included — because the
articles app sanitizes and resolves lazy images with its own allowlist.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, Tag

from feeds.parse import decode_bytes, find_date_in_text, parse_any_datetime, plain_text
from newsroom.entry import EntryData

logger = logging.getLogger(__name__)

KEYWORD_SPLIT = re.compile(r"[,，、;；|]+")
_WS = re.compile(r"\s+")


@dataclass
class ListingItem:
    url: str
    title: str
    published: datetime | None = None


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def _to_text(html: bytes | str, content_type: str) -> str:
    if isinstance(html, bytes):
        text, _encoding = decode_bytes(html, content_type=content_type)
        return text
    return html


def _soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "lxml")


def _meta(soup: BeautifulSoup, *names: str) -> str:
    """First non-empty <meta name|property|itemprop=...> content among ``names``."""
    for name in names:
        for attr in ("property", "name", "itemprop"):
            tag = soup.find("meta", attrs={attr: re.compile(f"^{re.escape(name)}$", re.I)})
            if isinstance(tag, Tag) and (tag.get("content") or "").strip():
                return str(tag["content"]).strip()
    return ""


def _node_text(node: Any) -> str:
    return _WS.sub(" ", node.get_text(" ", strip=True)).strip() if node is not None else ""


def visible_text_length(html: str) -> int:
    """Length of the text a reader would see (no tags, scripts or whitespace)."""
    if not html:
        return 0
    soup = _soup(html)
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    return len(_WS.sub("", soup.get_text()))


def better_body(summary_html: str, extracted_html: str) -> str:
    """Keep the feed summary when extraction failed or found less text."""
    if visible_text_length(extracted_html) > visible_text_length(summary_html):
        return extracted_html
    return summary_html


def split_keywords(value: str) -> list[str]:
    seen: list[str] = []
    for word in KEYWORD_SPLIT.split(value or ""):
        word = word.strip()
        if word and word not in seen:
            seen.append(word)
    return seen


def _absolute(base: str, link: str) -> str:
    link = (link or "").strip()
    if not link or link.startswith(("javascript:", "mailto:", "#", "data:")):
        return ""
    try:
        return urljoin(base, link)
    except ValueError:
        return ""


# --------------------------------------------------------------------------
# WeChat (mp.weixin.qq.com)
# --------------------------------------------------------------------------
def _js_var(text: str, name: str) -> str:
    """Value of ``var name = "..."`` / ``name = '...'`` in the page's scripts."""
    match = re.search(rf"""\b{name}\s*=\s*(["'])(.*?)\1""", text, re.S)
    if not match:
        return ""
    return plain_text(match.group(2).replace("\\x26", "&").replace("\\/", "/"), is_html=False)


def _is_wechat(url: str, text: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "mp.weixin.qq.com" or ('id="js_content"' in text and "msg_title" in text) or (
        host.endswith("weixin.qq.com") and "weui-msg" in text
    )


def _wechat_published(text: str, soup: BeautifulSoup) -> datetime | None:
    ct = _js_var(text, "ct")
    if ct.isascii() and ct.isdigit() and len(ct) <= 11:  # a Unix time in seconds, before the year 5000
        return datetime.fromtimestamp(int(ct), tz=timezone.utc)
    for candidate in (_js_var(text, "publish_time"), _node_text(soup.find(id="publish_time"))):
        if candidate and (parsed := parse_any_datetime(candidate)) is not None:
            return parsed
    return None


def _inner_html(node: Tag) -> str:
    for junk in node.find_all(["script", "style"]):
        junk.decompose()
    return node.decode_contents().strip()


def extract_wechat(text: str, url: str) -> EntryData:
    """WeChat article: #js_content body (data-src images kept), ct publish time."""
    soup = _soup(text)
    title = (
        _meta(soup, "og:title", "twitter:title")
        or _node_text(soup.find(id="activity-name"))
        or _js_var(text, "msg_title")
        or _node_text(soup.find(class_="weui-msg__title"))  # expired / deleted article page
        or _node_text(soup.title)
    )
    body = soup.find(id="js_content")
    account = _node_text(soup.find(id="js_name")) or _js_var(text, "nickname")
    cover = _js_var(text, "msg_cdn_url") or _meta(soup, "og:image")
    link = _meta(soup, "og:url") or _js_var(text, "msg_link") or url
    return EntryData(
        guid=link,
        link=link,
        title=plain_text(title),
        content=_inner_html(body) if isinstance(body, Tag) else "",
        summary=_meta(soup, "og:description", "description") or _js_var(text, "msg_desc"),
        author=_meta(soup, "author") or account,
        published=_wechat_published(text, soup),
        base_url=link,
        origin_account=account,
        original_url=_js_var(text, "msg_source_url"),
        images=[cover] if cover else [],
    )


# --------------------------------------------------------------------------
# Generic pages
# --------------------------------------------------------------------------
_DATE_HINT = re.compile(r"time|date|pub|post-meta|article-meta|info", re.I)


_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—_·]\s+|\s*[|｜_]\s*|\s*——\s*")


def _strip_site_name(title: str, site_name: str, headings: list[str]) -> str:
    """Drop the " | 站点名" decoration portals append to <title>/og:title."""
    parts = [p for p in _TITLE_SEPARATORS.split(title) if p.strip()]
    if len(parts) < 2:
        return title
    for part in parts:  # a heading on the page naming exactly one part wins
        if part.strip() in headings:
            return part.strip()
    if site_name:
        kept = [p for p in parts if p.strip() != site_name.strip()]
        if kept and len(kept) < len(parts):
            return " | ".join(p.strip() for p in kept)
    return title


def _generic_title(soup: BeautifulSoup, content: str) -> str:
    headings = [_node_text(h) for h in soup.find_all(["h1", "h2"], limit=20)]
    if content:
        headings += [_node_text(h) for h in _soup(content).find_all(["h1", "h2"], limit=3)]
    title = _meta(soup, "og:title", "twitter:title", "headline")
    if not title:
        title = (headings[0] if soup.find("h1") else "") or _node_text(soup.title)
    site_name = _meta(soup, "og:site_name", "application-name")
    return _strip_site_name(plain_text(title), site_name, [h for h in headings if h])


def _generic_published(soup: BeautifulSoup) -> datetime | None:
    for value in (
        _meta(soup, "article:published_time", "og:published_time", "datePublished", "pubdate",
              "publishdate", "publish_date", "PubDate", "weibo:article:create_at", "dc.date"),
    ):
        if value and (parsed := parse_any_datetime(value)) is not None:
            return parsed
    time_tag = soup.find("time", attrs={"datetime": True})
    if isinstance(time_tag, Tag) and (parsed := parse_any_datetime(str(time_tag["datetime"]))) is not None:
        return parsed
    # Chinese portals print "2024年05月06日 12:30" in a .time / .date / .info element.
    for node in soup.find_all(attrs={"class": _DATE_HINT}, limit=30):
        if (parsed := find_date_in_text(_node_text(node))) is not None:
            return parsed
    for node in soup.find_all(attrs={"id": _DATE_HINT}, limit=30):
        if (parsed := find_date_in_text(_node_text(node))) is not None:
            return parsed
    return None


def _clean_trafilatura_html(html: str) -> str:
    """trafilatura wraps output in <html><body> and calls images <graphic>."""
    html = re.sub(r"</?(?:html|body)[^>]*>", "", html)
    html = re.sub(r"<graphic\b", "<img", html)
    html = html.replace("</graphic>", "")
    return html.strip()


def _trafilatura_body(text: str, url: str) -> str:
    try:
        import trafilatura
    except ImportError:  # pragma: no cover - trafilatura is a requirement
        return ""
    try:
        out = trafilatura.extract(
            text,
            url=url,
            output_format="html",
            include_images=True,
            include_links=True,
            include_tables=True,
            include_comments=False,
            favor_precision=True,
            with_metadata=False,
        )
    except Exception:  # a broken page must not take the fetch down
        logger.warning("trafilatura failed on %s", url, exc_info=True)
        return ""
    return _clean_trafilatura_html(out or "")


_NEGATIVE = re.compile(r"comment|footer|sidebar|nav|menu|related|recommend|share|ad-|advert|copyright", re.I)


def _largest_block_body(soup: BeautifulSoup) -> str:
    """Readability-like fallback: the container with the most paragraph text."""
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "aside", "form"]):
        tag.decompose()
    best, best_score = None, 0.0
    for node in soup.find_all(["article", "div", "section", "td", "main"]):
        marker = " ".join(node.get("class", [])) + " " + str(node.get("id", ""))
        if _NEGATIVE.search(marker):
            continue
        text_len = sum(len(_node_text(p)) for p in node.find_all("p", recursive=False))
        text_len += sum(len(_node_text(p)) for child in node.find_all(["div", "section"], recursive=False)
                        for p in child.find_all("p", recursive=False)) * 0.5
        if text_len == 0:
            continue
        link_len = sum(len(_node_text(a)) for a in node.find_all("a"))
        score = text_len * (1 - min(0.9, link_len / max(1, len(_node_text(node)))))
        if score > best_score:
            best, best_score = node, score
    if best is None:
        body = soup.body
        return body.decode_contents().strip() if isinstance(body, Tag) else ""
    return best.decode_contents().strip()


def _selector_node(soup: BeautifulSoup, selector: str | None) -> Tag | None:
    if not selector:
        return None
    try:
        node = soup.select_one(selector)
    except Exception:  # an editor's invalid CSS selector: fall back to rules
        logger.info("invalid CSS selector %r", selector)
        return None
    return node if isinstance(node, Tag) else None


def extract_generic(text: str, url: str, selectors: dict[str, str] | None = None) -> EntryData:
    selectors = selectors or {}
    soup = _soup(text)
    canonical = soup.find("link", rel="canonical")
    link = _absolute(url, str(canonical.get("href", ""))) if isinstance(canonical, Tag) else ""
    link = link or url
    date_node = _selector_node(soup, selectors.get("date"))
    published = None
    if date_node is not None:
        raw = str(date_node.get("datetime") or _node_text(date_node))
        published = find_date_in_text(raw) or parse_any_datetime(raw)
    published = published or _generic_published(soup)
    body_node = _selector_node(soup, selectors.get("body"))
    if body_node is not None:
        content = _inner_html(body_node)
    else:
        content = _trafilatura_body(text, url) or _largest_block_body(_soup(text))
    title_node = _selector_node(soup, selectors.get("title"))
    title = plain_text(_node_text(title_node)) if title_node is not None else _generic_title(soup, content)
    image = _meta(soup, "og:image", "twitter:image")
    return EntryData(
        guid=link,
        link=link,
        title=title,
        summary=_meta(soup, "og:description", "description"),
        content=content,
        author=plain_text(_meta(soup, "author", "article:author", "byl")),
        published=published,
        updated=parse_any_datetime(_meta(soup, "article:modified_time", "og:updated_time", "dateModified")),
        categories=split_keywords(_meta(soup, "keywords", "news_keywords")) or
        [plain_text(t) for t in (tag.get("content", "") for tag in soup.find_all("meta", property="article:tag")) if t],
        base_url=link,
        images=[_absolute(url, image)] if image else [],
    )


def extract_article(
    html: bytes | str, *, url: str, content_type: str = "", selectors: dict[str, str] | None = None
) -> EntryData:
    """One article page → EntryData (raw HTML body; empty content when nothing found)."""
    text = _to_text(html, content_type)
    if not selectors and _is_wechat(url, text):
        return extract_wechat(text, url)
    return extract_generic(text, url, selectors)


# --------------------------------------------------------------------------
# Listing pages (HTML sources configured with CSS selectors)
# --------------------------------------------------------------------------
def _item_link(node: Tag) -> Tag | None:
    if node.name == "a" and node.get("href"):
        return node
    found = node.find("a", href=True)
    return found if isinstance(found, Tag) else None


def _item_date(node: Tag, selector: str | None) -> datetime | None:
    """The date next to an item: inside it, or in the nearest ancestor holding one."""
    if not selector:
        return None
    scope: Tag | None = node
    for _level in range(4):
        if scope is None:
            break
        try:
            matches = scope.select(selector)
        except Exception:
            return None
        if len(matches) == 1:
            raw = str(matches[0].get("datetime") or _node_text(matches[0]))
            return find_date_in_text(raw) or parse_any_datetime(raw)
        if len(matches) > 1:
            return None  # the ancestor spans several items: ambiguous
        scope = scope.parent if isinstance(scope.parent, Tag) else None
    return None


def extract_listing(html: bytes | str, *, url: str, selectors: dict[str, str]) -> list[ListingItem]:
    """Items of an HTML listing page, from the source's CSS selectors."""
    text = _to_text(html, "")
    soup = _soup(text)
    base_tag = soup.find("base", href=True)
    base = _absolute(url, str(base_tag["href"])) if isinstance(base_tag, Tag) else url
    try:
        nodes = soup.select(selectors.get("item") or "a")
    except Exception as exc:
        raise ValueError(f"invalid item selector {selectors.get('item')!r}: {exc}") from exc
    items: list[ListingItem] = []
    seen: set[str] = set()
    for node in nodes:
        anchor = _item_link(node)
        if anchor is None:
            continue
        link = _absolute(base, str(anchor["href"]))
        if not link or link in seen or urlsplit(link).scheme not in ("http", "https"):
            continue
        title_node = _selector_node(node, selectors.get("title")) if selectors.get("title") else None
        title = plain_text(_node_text(title_node or anchor) or str(anchor.get("title", "")))
        seen.add(link)
        items.append(ListingItem(url=link, title=title, published=_item_date(node, selectors.get("date"))))
    return items
