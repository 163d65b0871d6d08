"""The plain value `feeds` hands to `articles` (one direction of flow).

`feeds` fetches and parses and produces EntryData; `articles.ingest.ingest`
cleans, stores and serves it. Bodies are raw (unsanitized) HTML here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class EntryData:
    guid: str
    link: str
    title: str
    summary: str = ""  # raw HTML or text from the feed
    content: str = ""  # raw HTML full body (feed content:encoded, or extracted page)
    author: str = ""
    published: datetime | None = None  # timezone-aware (UTC) or None
    updated: datetime | None = None
    categories: list[str] = field(default_factory=list)  # feed categories / page keywords
    base_url: str = ""  # base for resolving relative URLs in summary/content
    origin_account: str = ""  # e.g. WeChat account name, when the page says
    original_url: str = ""  # e.g. WeChat msg_source_url
    images: list[str] = field(default_factory=list)  # enclosure / media images
