"""The plain value `feeds` hands to `articles` (one direction of flow).

`feeds` fetches and parses and produces EntryData; `articles.ingest.ingest`
cleans, stores and serves it. Bodies are raw (unsanitized) HTML here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import datetime

# Characters XML 1.0 forbids: C0 controls but tab, newline and CR; lone surrogates; U+FFFE, U+FFFF.
# A feed or page still carries them as character references (&#8;, &amp;#x0b;) that parsers decode.
# A reader never sees one, and one is enough to break what the site makes of the text: lxml refuses
# it in a tree (the entry would fail), Django's RSS/Atom writer refuses it (the whole feed would 500).
XML_ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (``XML_ILLEGAL_RE``)."""
    return XML_ILLEGAL_RE.sub("", text) if text and XML_ILLEGAL_RE.search(text) else text


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

    def __post_init__(self) -> None:
        # Every producer (RSS, Atom, JSON Feed, pages) hands over text without forbidden
        # characters: every text field and every list of texts, whatever fields come later.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):
                setattr(self, f.name, xml_safe(value))
            elif isinstance(value, list):
                setattr(self, f.name, [xml_safe(v) if isinstance(v, str) else v for v in value])
