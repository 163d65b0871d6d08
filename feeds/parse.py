"""Feed bytes → ParsedFeed of EntryData, safely and with the right charset.

feedparser does the format work (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, RDF, CDF),
but only ever on an in-memory stream we prepared:

* never a URL or a string (feedparser would open URLs and *local files*);
* decoded by us (BOM → HTTP charset → XML declaration, each verified by
  actually decoding; gb2312/gbk read as gb18030; cchardet only as a fallback)
  and handed over as UTF-8 with a matching declaration, so GBK feeds and
  mislabelled feeds come out right;
* with every DOCTYPE/ENTITY declaration removed first, so no entity is ever
  expanded (billion laughs, quadratic blowup, external entities). HTML named
  entities are rewritten to numeric references and stray ``&`` escaped, which
  lets the strict XML parser accept most real-world feeds;
* with feedparser's sanitizer off (it drops lazy ``data-src`` images); the
  articles app sanitizes with its own allowlist later.

JSON Feed (1.0/1.1) is parsed with :mod:`json` directly.
"""
from __future__ import annotations

import calendar
import codecs
import functools
import hashlib
import html
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html.entities import html5 as _HTML5_ENTITIES
from typing import Any
from urllib.parse import urljoin

import feedparser
import feedparser.mixin
import feedparser.urls

from feeds import sax_buffered

from newsroom.entry import EntryData, xml_safe

# feedparser joins the document's base URI with each element's xml:base on every
# start tag, and each link with the base: the same few (base, rel) pairs thousands
# of times per feed, a urljoin each (~20% of parsing a feed we pass a base URL).
# Both are pure functions of their strings: remember the answers.
feedparser.mixin.make_safe_absolute_uri = functools.lru_cache(maxsize=4096)(feedparser.urls.make_safe_absolute_uri)
feedparser.mixin._urljoin = functools.lru_cache(maxsize=4096)(feedparser.urls._urljoin)

# feedparser's XML reader, with expat's text buffered, inside parse_feed (feeds/sax_buffered.py).
if "feeds.sax_buffered" not in feedparser.api.PREFERRED_XML_PARSERS:
    feedparser.api.PREFERRED_XML_PARSERS.insert(0, "feeds.sax_buffered")

try:
    import cchardet  # faust-cchardet
except ImportError:  # pragma: no cover - it is in requirements.txt
    cchardet = None

CHINA_TZ = timezone(timedelta(hours=8))


class ParseError(Exception):
    """``kind``: "not_a_feed" (e.g. an HTML page) or "parse_error" (a broken feed)."""

    def __init__(self, kind: str, message: str) -> None:
        assert kind in ("not_a_feed", "parse_error"), kind
        self.kind = kind
        super().__init__(message)


@dataclass
class ParsedFeed:
    title: str
    link: str
    version: str
    entries: list[EntryData] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The title names a new source (and its RSS feed): no character XML forbids, as in entries.
        self.title, self.link = xml_safe(self.title), xml_safe(self.link)


# --------------------------------------------------------------------------
# Charset handling
# --------------------------------------------------------------------------
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16-LE: it starts with the same bytes
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
# XML spec appendix F: a document without BOM still starts with "<?" or "<".
_SNIFF = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
_ALIASES = {
    # GB2312 cannot decode common characters such as 镕; GBK ⊂ GB18030.
    "gb2312": "gb18030", "gbk": "gb18030", "cp936": "gb18030", "x-gbk": "gb18030",
    "euc-cn": "gb18030", "csgb2312": "gb18030", "gb_2312-80": "gb18030", "hz-gb-2312": "gb18030",
    "big5": "big5hkscs", "x-x-big5": "big5hkscs", "cp950": "big5hkscs",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    # WHATWG: these labels mean windows-1252 (Python: cp1252) in practice, smart quotes in 0x80-0x9F.
    "iso-8859-1": "windows-1252", "latin1": "windows-1252", "latin-1": "windows-1252",
    "us-ascii": "windows-1252", "ascii": "windows-1252",
    "utf8": "utf-8", "unicode-1-1-utf-8": "utf-8",
}
_CJK_DETECTED = {"gb18030", "big5hkscs", "cp949", "cp932", "euc-jp"}
_UNICODE = re.compile(r"^utf-(8|16|32)")

_XML_DECL_BYTES = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']", re.I)
_META_CHARSET = re.compile(
    rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.I
)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.I)


def normalize_encoding(label: str) -> str | None:
    """A Python codec name for a charset label, or None when unknown."""
    label = (label or "").strip().strip("\"'").lower()
    if not label:
        return None
    label = _ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return _ALIASES.get(name, name)


def _charset_from_content_type(content_type: str) -> str:
    match = _HEADER_CHARSET.search(content_type or "")
    return match.group(1) if match else ""


def _strict(content: bytes, encoding: str) -> str | None:
    try:
        return content.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _detect(content: bytes) -> tuple[str | None, float]:
    if cchardet is None:
        return None, 0.0
    guess = cchardet.detect(content[:256 * 1024])
    return normalize_encoding(guess.get("encoding") or ""), float(guess.get("confidence") or 0.0)


def _sniff_unicode(content: bytes) -> tuple[str, int] | None:
    """(encoding, BOM length) from a BOM or the XML-spec byte patterns."""
    for bom, name in _BOMS:
        if content.startswith(bom):
            return name, len(bom)
    for pattern, name in _SNIFF:
        if content.startswith(pattern):
            return name, 0
    return None


def _cjk_instead_of_latin(content: bytes, declared: list[str]) -> tuple[str, str] | None:
    """Servers default to an iso-8859-1 header; old Chinese sites then serve GBK under it.

    Prefer a CJK encoding that a later declaration names, or that detection is
    sure about, provided it decodes the bytes cleanly.
    """
    candidates = [normalize_encoding(label) for label in declared]
    detected, confidence = _detect(content)
    if confidence >= 0.8:
        candidates.append(detected)
    for encoding in candidates:
        if encoding in _CJK_DETECTED and (text := _strict(content, encoding)) is not None:
            return text, encoding
    return None


def _decode(content: bytes, declared: list[str], encoding_override: str) -> tuple[str, str, list[str]]:
    """Decode with the first declaration that survives verification.

    Returns (text, encoding, warnings). Order: override, BOM/UTF sniff,
    declarations in the order given (HTTP header first), valid UTF-8,
    cchardet, then UTF-8 with replacement characters as a last resort.
    """
    warnings: list[str] = []
    override = normalize_encoding(encoding_override)
    if override:
        return content.decode(override, errors="replace"), override, warnings
    if encoding_override:
        warnings.append(f"unknown encoding override {encoding_override!r} ignored")

    sniffed = _sniff_unicode(content)
    if sniffed:
        name, skip = sniffed
        return content[skip:].decode(name, errors="replace"), name, warnings

    utf8_text = _strict(content, "utf-8")
    has_non_ascii = not content.isascii()
    for label in declared:
        encoding = normalize_encoding(label)
        if encoding is None:
            warnings.append(f"unknown charset label {label!r}")
            continue
        if not _UNICODE.match(encoding) and has_non_ascii and utf8_text is not None:
            # Valid multi-byte UTF-8 is almost never accidental: the label lies.
            warnings.append(f"declared {label} but the bytes are UTF-8")
            return utf8_text, "utf-8", warnings
        text = _strict(content, encoding)
        if text is None:
            warnings.append(f"declared {label} does not decode the bytes")
            continue
        if encoding == "cp1252" and has_non_ascii:
            better = _cjk_instead_of_latin(content, declared)
            if better is not None:
                warnings.append(f"declared {label} but the bytes are {better[1]}")
                return better[0], better[1], warnings
        return text, encoding, warnings

    if utf8_text is not None:
        return utf8_text, "utf-8", warnings
    detected, _confidence = _detect(content)
    if detected:
        warnings.append(f"charset detected as {detected}")
        return content.decode(detected, errors="replace"), detected, warnings
    warnings.append("charset unknown; decoded as UTF-8 with replacement characters")
    return content.decode("utf-8", errors="replace"), "utf-8", warnings


def decode_bytes(content: bytes, *, content_type: str = "", encoding_override: str = "") -> tuple[str, str]:
    """Decode an HTML page: override, BOM, HTTP charset, <meta>/XML declaration, detection."""
    head = content[:8192]
    declared = [_charset_from_content_type(content_type)]
    for pattern in (_META_CHARSET, _XML_DECL_BYTES):
        match = pattern.search(head)
        if match:
            declared.append(match.group(1).decode("ascii", "replace"))
    text, encoding, _warnings = _decode(content, [d for d in declared if d], encoding_override)
    return text, encoding


def _decode_xml(content: bytes, content_type: str, encoding_override: str) -> tuple[str, str, list[str]]:
    declared = [_charset_from_content_type(content_type)]
    match = _XML_DECL_BYTES.search(content[:1024])
    if match:
        declared.append(match.group(1).decode("ascii", "replace"))
    return _decode(content, [d for d in declared if d], encoding_override)


# --------------------------------------------------------------------------
# XML hazards
# --------------------------------------------------------------------------
_MARKUP = re.compile(r"<!\[CDATA\[|<!--|<!(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)\b", re.I)
_LEFTOVER_DECL = re.compile(r"<!(?=(?:DOCTYPE|ENTITY)\b)", re.I)
_XML_DECL_TEXT = re.compile(r"^\s*<\?xml\b.*?\?>", re.S)
# The references to fix: all but the well-formed numeric ones and XML's own five (most of an
# escaped-HTML feed's thousands), which never reach the Python callback.
_AMP = re.compile(r"&(?!(?:#[0-9]+|#[xX][0-9a-fA-F]+|amp|lt|gt|quot|apos);)(?:([A-Za-z][A-Za-z0-9]*);)?")


def _declaration_end(text: str, start: int) -> int:
    """End of a markup declaration, skipping quoted strings, comments and [...] subsets."""
    depth, quote, i, n = 0, "", start + 2, len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
        elif text.startswith("<!--", i):
            close = text.find("-->", i + 4)
            i = n if close < 0 else close + 3
            continue
        elif c in "\"'":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth = max(0, depth - 1)
        elif c == ">" and depth == 0:
            return i + 1
        i += 1
    return n  # unterminated: drop the rest, it can only be garbage


def _section_end(text: str, start: int, closer: str) -> int:
    close = text.find(closer, start)
    return len(text) if close < 0 else close + len(closer)


def _split_markup(text: str) -> tuple[list[tuple[bool, str]], int]:
    """Tokenize into (is_cdata, text) segments, dropping every markup declaration.

    One left-to-right pass, so a "<![CDATA[" inside a comment or a quoted
    entity value cannot hide a DOCTYPE from us (or fake one).
    """
    segments: list[tuple[bool, str]] = []
    removed, pos = 0, 0
    while (match := _MARKUP.search(text, pos)) is not None:
        segments.append((False, text[pos:match.start()]))
        token = match.group(0)
        if token == "<![CDATA[":
            pos = _section_end(text, match.end(), "]]>")
            segments.append((True, text[match.start():pos]))
        elif token == "<!--":
            pos = _section_end(text, match.end(), "-->")
            segments.append((False, text[match.start():pos]))
        else:
            pos = _declaration_end(text, match.start())
            removed += 1
    segments.append((False, text[pos:]))
    return segments, removed


def _fix_reference(match: re.Match[str]) -> str:
    name = match.group(1)
    if name is None:
        return "&amp;"  # a bare ampersand, e.g. in a URL query string
    replacement = _HTML5_ENTITIES.get(name + ";")
    if replacement is None:
        return "&amp;" + name + ";"  # undefined: keep it as visible text, never expand
    return "".join(f"&#{ord(ch)};" for ch in replacement)


def strip_declarations(text: str) -> tuple[str, int]:
    """Drop DOCTYPE/ENTITY declarations and make entity references well-formed.

    Outside CDATA: HTML named entities become numeric references, undefined
    ones and bare ``&`` become visible text. Anything still spelled like a
    declaration (e.g. in a comment) is neutralized as a last line of defence.
    """
    segments, removed = _split_markup(text)
    out: list[str] = []
    for is_cdata, segment in segments:
        if is_cdata:
            out.append(segment)
        else:
            out.append(_LEFTOVER_DECL.sub("&lt;!", _AMP.sub(_fix_reference, segment)))
    return "".join(out), removed


def prepare_xml(text: str) -> tuple[bytes, list[str]]:
    """Safe UTF-8 bytes for feedparser, with a matching XML declaration."""
    warnings: list[str] = []
    text = _XML_DECL_TEXT.sub("", text.lstrip("\ufeff"), count=1).lstrip()
    text, removed = strip_declarations(xml_safe(text))  # forbidden characters make the strict parser give up
    if removed:
        warnings.append(f"removed {removed} DOCTYPE/ENTITY declaration(s); entities are never expanded")
    data = ('<?xml version="1.0" encoding="utf-8"?>\n' + text).encode("utf-8", errors="replace")
    return data, warnings


# --------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------
_LOCAL_DATE = re.compile(
    r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]*(\d{1,2})\s*[:：时]\s*(\d{1,2})(?:\s*[:：分]\s*(\d{1,2}))?\s*秒?)?\s*$"
)
_DATE_IN_TEXT = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]*(\d{1,2})\s*[:：]\s*(\d{2})(?:\s*[:：]\s*(\d{2}))?)?"
)


def _china_datetime(parts: tuple[str | None, ...]) -> datetime | None:
    year, month, day, hour, minute, second = (int(p) if p else 0 for p in parts)
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=CHINA_TZ)
    except ValueError:
        return None
    return local.astimezone(timezone.utc)


def parse_local_datetime(value: str) -> datetime | None:
    """A zone-less date like ``2024年05月06日 12:30`` / ``2024-05-06 12:30:00``, read as UTC+8.

    Returns an aware UTC datetime; None when ``value`` is not such a date.
    """
    match = _LOCAL_DATE.match(value or "")
    return _china_datetime(match.groups()) if match else None


def find_date_in_text(text: str) -> datetime | None:
    """The first Chinese/ISO-looking date in running text, read as UTC+8."""
    for match in _DATE_IN_TEXT.finditer(text or ""):
        parsed = _china_datetime(match.groups())
        if parsed is not None and 1990 <= parsed.year <= 2100:
            return parsed
    return None


def parse_any_datetime(value: str, *, zone_less_is_china: bool = True) -> datetime | None:
    """ISO 8601 / RFC 822 / Chinese dates → aware UTC datetime, or None."""
    value = (value or "").strip()
    if not value:
        return None
    if zone_less_is_china and (local := parse_local_datetime(value)) is not None:
        return local
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        struct = feedparser.datetimes._parse_date(value)  # the same date handlers feedparser uses
        return _from_struct(struct)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CHINA_TZ if zone_less_is_china else timezone.utc)
    return parsed.astimezone(timezone.utc)


def _from_struct(struct: Any) -> datetime | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), tz=timezone.utc)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


# --------------------------------------------------------------------------
# Entry mapping
# --------------------------------------------------------------------------
_TAG = re.compile(r"<[^>]+>")
_BLOCK_TAG = re.compile(r"<(?:br|/?p|/?div|/?li|/?h[1-6]|/?tr|/?td)\b[^>]*>", re.I)
_WS = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif|bmp)(?:[?#]|$)", re.I)


def plain_text(value: str, *, is_html: bool = True) -> str:
    """Tags stripped, entities decoded (twice-escaped titles are common), whitespace collapsed."""
    value = value or ""
    if is_html and "<" in value:
        # Inline markup (<b>, <em>) sits inside words in Chinese titles; blocks separate them.
        value = _TAG.sub("", _BLOCK_TAG.sub(" ", value))
    value = html.unescape(html.unescape(value)) if "&" in value else value
    return _WS.sub(" ", value).strip()


def _detail_is_html(detail: Any) -> bool:
    return bool(detail) and "html" in (detail.get("type") or "")


def _absolute(base: str, link: str) -> str:
    link = (link or "").strip()
    if not link:
        return ""
    try:
        return urljoin(base, link) if base else link
    except ValueError:
        return link


def _entry_link(entry: Any, base: str) -> str:
    link = entry.get("link") or ""
    if not link:
        for candidate in entry.get("links", []):
            if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                link = candidate["href"]
                break
    return _absolute(base, link)


def _entry_images(entry: Any, base: str) -> list[str]:
    urls: list[str] = []
    for media in entry.get("media_content", []) or []:
        kind = (media.get("medium") or media.get("type") or "").lower()
        if "image" in kind or (not kind and _IMAGE_EXT.search(media.get("url", ""))):
            urls.append(media.get("url", ""))
    urls.extend(thumb.get("url", "") for thumb in entry.get("media_thumbnail", []) or [])
    for link in entry.get("links", []) or []:
        if link.get("rel") == "enclosure" and (link.get("type") or "").lower().startswith("image/"):
            urls.append(link.get("href", ""))
    image = entry.get("image")
    if isinstance(image, dict) and image.get("href"):
        urls.append(image["href"])
    seen: list[str] = []
    for url in urls:
        absolute = _absolute(base, url)
        if absolute and absolute not in seen:
            seen.append(absolute)
    return seen


def _entry_date(entry: Any, key: str, chinese: bool) -> datetime | None:
    # dict.get: FeedParserDict.get("updated") silently falls back to "published".
    raw = dict.get(entry, key) or ""
    # feedparser reads zone-less dates as UTC; a Chinese feed means Beijing time.
    if chinese and raw and (local := parse_local_datetime(raw)) is not None:
        return local
    parsed = _from_struct(dict.get(entry, f"{key}_parsed"))
    if parsed is None and raw:
        parsed = parse_any_datetime(raw, zone_less_is_china=chinese)
    return parsed


def _fallback_guid(title: str, when: str, summary: str) -> str:
    digest = hashlib.sha1(f"{title}\x00{when}\x00{summary[:500]}".encode("utf-8", "replace")).hexdigest()
    return f"sha1:{digest}"


def _unique(values: list[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen


def _map_entry(entry: Any, feed_url: str, chinese: bool) -> EntryData:
    summary_detail = entry.get("summary_detail") or {}
    base = summary_detail.get("base") or feed_url
    link = _entry_link(entry, base or feed_url)
    title = plain_text(entry.get("title", ""), is_html=_detail_is_html(entry.get("title_detail")))
    contents = [c for c in entry.get("content", []) or [] if c.get("value")]
    best = max(contents, key=lambda c: len(c["value"]), default=None)
    summary = entry.get("summary", "") or ""
    if best is not None and summary == best["value"]:
        summary = ""  # feedparser copies lone content into summary; keep one copy
    author = plain_text(entry.get("author", "") or (entry.get("author_detail") or {}).get("name", ""))
    published = _entry_date(entry, "published", chinese)
    updated = _entry_date(entry, "updated", chinese)
    guid = (entry.get("id") or "").strip() or link or _fallback_guid(
        title, dict.get(entry, "published") or dict.get(entry, "updated") or "", summary
    )
    return EntryData(
        guid=guid,
        link=link,
        title=title,
        summary=summary,
        content=best["value"] if best is not None else "",
        author=author,
        published=published,
        updated=updated,
        categories=_unique([plain_text(t.get("term") or t.get("label") or "") for t in entry.get("tags", []) or []]),
        base_url=(best or {}).get("base") or summary_detail.get("base") or link or feed_url,
        images=_entry_images(entry, base or feed_url),
    )


def _is_chinese(feed: Any, entries: list[Any]) -> bool:
    if (feed.get("language") or "").lower().startswith("zh"):
        return True
    sample = feed.get("title", "") + "".join(e.get("title", "") for e in entries[:5])
    return bool(_CJK.search(sample))


# --------------------------------------------------------------------------
# JSON Feed
# --------------------------------------------------------------------------
def _looks_like_json(text: str, content_type: str) -> bool:
    head = text.lstrip()[:1]
    return head == "{" or ("json" in (content_type or "").lower() and head in ("{", "["))


def _json_list(value: Any) -> list:
    """A JSON Feed field the spec makes an array; anything else a publisher put there (a number,
    a string, an object) holds nothing we can use, and must not cost the item."""
    return value if isinstance(value, list) else []


def _json_item(item: dict[str, Any], feed_url: str, chinese: bool) -> EntryData:
    link = _absolute(feed_url, str(item.get("url") or item.get("external_url") or ""))
    content = str(item.get("content_html") or "")
    if not content and item.get("content_text"):
        content = "".join(f"<p>{html.escape(p)}</p>" for p in str(item["content_text"]).split("\n\n") if p.strip())
    summary = html.escape(str(item.get("summary") or ""))
    title = plain_text(str(item.get("title") or ""), is_html=False)
    authors = _json_list(item.get("authors")) or ([item["author"]] if isinstance(item.get("author"), dict) else [])
    author = ", ".join(str(a.get("name")) for a in authors if isinstance(a, dict) and a.get("name"))
    images = [str(item[key]) for key in ("image", "banner_image") if item.get(key)]
    for attachment in _json_list(item.get("attachments")):
        if isinstance(attachment, dict) and str(attachment.get("mime_type", "")).startswith("image/"):
            images.append(str(attachment.get("url") or ""))
    date_text = str(item.get("date_published") or "")
    return EntryData(
        guid=str(item.get("id") or "").strip() or link or _fallback_guid(title, date_text, content),
        link=link,
        title=title,
        summary=summary,
        content=content,
        author=author,
        published=parse_any_datetime(date_text, zone_less_is_china=chinese),
        updated=parse_any_datetime(str(item.get("date_modified") or ""), zone_less_is_china=chinese),
        categories=_unique([str(t).strip() for t in _json_list(item.get("tags")) if isinstance(t, (str, int))]),
        base_url=link or feed_url,
        images=_unique([_absolute(feed_url, u) for u in images]),
    )


def _parse_json_feed(text: str, url: str, warnings: list[str]) -> ParsedFeed:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError("not_a_feed", f"JSON but not a JSON Feed: {exc}") from exc
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ParseError("not_a_feed", "JSON document without an 'items' list is not a JSON Feed")
    version_url = str(data.get("version") or "")
    version = "json11" if version_url.endswith("/1.1") else "json1"
    if "jsonfeed.org" not in version_url:
        warnings.append("JSON Feed without a jsonfeed.org version")
    title = plain_text(str(data.get("title") or ""), is_html=False)
    chinese = str(data.get("language") or "").lower().startswith("zh") or bool(_CJK.search(title))
    entries = [_json_item(item, url, chinese) for item in items if isinstance(item, dict)]
    link = _absolute(url, str(data.get("home_page_url") or ""))
    return ParsedFeed(title=title, link=link, version=version, entries=entries, warnings=warnings)


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------
_NETSCAPE_DOCTYPE = re.compile(r"<!DOCTYPE[^>\[]*netscape", re.I)
_ROOT_CDF = re.compile(rb"<channel\b", re.I)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ROOT = re.compile(r"<([A-Za-z_][\w:.-]*)")
_FEED_ROOTS = frozenset({"rss", "rdf:rdf", "rdf", "feed", "channel", "rss:rss", "atom:feed"})


def _has_feed_root(data: bytes) -> bool:
    """Is the document element a feed element (even if the feed is empty)?"""
    head = _COMMENT.sub("", data[:65536].decode("utf-8", "replace"))
    match = _ROOT.search(head.split("?>", 1)[-1])
    return bool(match) and match.group(1).lower() in _FEED_ROOTS


def _bozo_message(result: Any) -> str:
    exc = result.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc is not None else "feed is not well-formed"


def _feedparser_parse(data: bytes, url: str) -> Any:
    return feedparser.parse(
        io.BytesIO(data),  # a stream: feedparser must never open URLs or files itself
        response_headers={"content-type": "application/xml; charset=utf-8", "content-location": url},
        sanitize_html=False,
        # Relative links and images in entry HTML are made absolute by articles' cleaner,
        # against the base feedparser reports for the content (xml:base, else the entry
        # link): resolving them here too was a second HTML parse of every entry (~30% of
        # feedparser's time).
        resolve_relative_uris=False,
    )


def parse_feed(content: bytes, *, url: str, content_type: str = "", encoding_override: str = "") -> ParsedFeed:
    """Parse feed bytes; raises ParseError("not_a_feed" | "parse_error")."""
    if not content or not content.strip():
        raise ParseError("not_a_feed", "empty document / 空文档")
    text, encoding, warnings = _decode_xml(content, content_type, encoding_override)
    if _looks_like_json(text, content_type):
        return _parse_json_feed(text, url, warnings)
    data, prep_warnings = prepare_xml(text)
    warnings.extend(prep_warnings)
    try:
        with sax_buffered.buffered():
            result = _feedparser_parse(data, url)
    except Exception as exc:  # feedparser is liberal but not crash-proof
        raise ParseError("parse_error", f"feed parser crashed: {type(exc).__name__}: {exc}") from exc
    entries = result.get("entries", [])
    version = result.get("version", "") or ""
    if not entries:
        if not version and not (_has_feed_root(data) and not result.get("bozo")):
            raise ParseError("not_a_feed", "not an RSS/Atom/JSON feed (an HTML page?) / 不是订阅源")
        if result.get("bozo"):
            raise ParseError("parse_error", f"broken {version} feed without entries: {_bozo_message(result)}")
    if result.get("bozo"):
        warnings.append(_bozo_message(result))
    if not version and _has_feed_root(data) and _ROOT_CDF.search(data[:65536]):
        version = "cdf"  # feedparser parses CDF but leaves the version empty
    if version == "rss091u" and _NETSCAPE_DOCTYPE.search(text[:4096]):
        version = "rss091n"  # we removed the DOCTYPE feedparser would have read this from
    feed = result.get("feed", {})
    chinese = _is_chinese(feed, entries)
    return ParsedFeed(
        title=plain_text(feed.get("title", ""), is_html=_detail_is_html(feed.get("title_detail"))),
        link=_absolute(url, feed.get("link", "")),
        version=version,
        entries=[_map_entry(entry, url, chinese) for entry in entries],
        warnings=warnings,
    )
