"""OPML import/export of sources (categories ↔ default tags)."""
from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from lxml import etree

from feeds.models import Source


@dataclass
class OpmlOutline:
    url: str
    title: str = ""
    site_url: str = ""
    tags: list[str] = field(default_factory=list)


def parse_opml(data: bytes) -> list[OpmlOutline]:
    # No DTDs, no entities, no network: OPML files come from anywhere.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=True)
    root = etree.fromstring(data, parser=parser)
    if root is None:
        raise ValueError("不是有效的 OPML 文件")
    out: list[OpmlOutline] = []

    def walk(node, categories: list[str]) -> None:
        for child in node:
            if not isinstance(child.tag, str) or child.tag.lower() != "outline":
                continue
            url = child.get("xmlUrl") or child.get("xmlurl") or ""
            title = child.get("title") or child.get("text") or ""
            if url:
                tags = list(categories)
                for c in (child.get("category") or "").replace("/", ",").split(","):
                    if c.strip():
                        tags.append(c.strip())
                out.append(OpmlOutline(url=url.strip(), title=title.strip(), site_url=(child.get("htmlUrl") or "").strip(), tags=tags))
            else:
                walk(child, categories + ([title] if title else []))

    body = root.find("body")
    walk(body if body is not None else root, [])
    if not out and not (isinstance(root.tag, str) and root.tag.lower() == "opml"):
        raise ValueError(f"不是 OPML 文件（根元素是 <{root.tag}>）")
    return out


def export_opml(sources) -> bytes:
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = "Newsroom sources"
    body = ET.SubElement(opml, "body")
    for s in sources:
        attrs = {"type": "rss", "text": s.name, "title": s.name, "xmlUrl": s.url}
        if s.site_url:
            attrs["htmlUrl"] = s.site_url
        if s.default_tags:
            attrs["category"] = s.default_tags
        if s.kind != Source.Kind.RSS:
            attrs["type"] = s.kind
        ET.SubElement(body, "outline", attrs)
    return ET.tostring(opml, encoding="utf-8", xml_declaration=True)
