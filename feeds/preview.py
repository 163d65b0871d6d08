"""Preview a source before saving it: fetch and parse, store nothing."""
from __future__ import annotations

from dataclasses import dataclass, field

from feeds.extract import extract_listing
from feeds.http import FetchError, fetch_url
from feeds.parse import ParseError, parse_feed
from newsroom.entry import EntryData

PREVIEW_ITEMS = 10


@dataclass
class SourcePreview:
    url: str
    kind: str
    title: str = ""
    site_url: str = ""
    feed_version: str = ""
    entries: list[EntryData] = field(default_factory=list)
    listing: list = field(default_factory=list)  # ListingItem for HTML sources
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    error_kind: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def source_preview(*, url: str, kind: str = "rss", selectors: dict | None = None, encoding_override: str = "") -> SourcePreview:
    preview = SourcePreview(url=url, kind=kind)
    try:
        response = fetch_url(url)
        if kind == "html":
            if not (selectors or {}).get("item"):
                raise ParseError("parse_error", "HTML 列表页需要条目链接的 CSS 选择器（item）")
            try:
                preview.listing = extract_listing(response.content, url=response.url, selectors=selectors or {})[:PREVIEW_ITEMS]
            except ValueError as exc:
                raise ParseError("parse_error", f"CSS 选择器无效：{exc}")
            if not preview.listing:
                preview.warnings.append("选择器没有匹配到任何条目链接")
        else:
            parsed = parse_feed(response.content, url=response.url, content_type=response.content_type,
                                encoding_override=encoding_override)
            preview.title, preview.site_url, preview.feed_version = parsed.title, parsed.link, parsed.version
            preview.entries = parsed.entries[:PREVIEW_ITEMS]
            preview.warnings = parsed.warnings
    except (FetchError, ParseError) as exc:
        preview.error, preview.error_kind = str(exc), exc.kind
    return preview
