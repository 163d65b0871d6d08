"""Lines of sanitized HTML, removable in place (shared by spam and attribution).

A *line* is what a reader sees as one line: a block element without inner
blocks (p, h2, li, tr, …), or one ``<br>``-separated part of it, or a run of
loose inline content between blocks. Removing a line removes exactly its text
and elements; a block left empty goes too.
"""
from __future__ import annotations

import html as html_lib
import re
import uuid
from dataclasses import dataclass, field

from lxml import etree, html as lxml_html

_MARKUP_RE = re.compile(r"<[^>]*>")


def _html_parser() -> etree.HTMLParser:
    """lxml.html's parser with the class of each element chosen in C. lxml.html's own
    parser asks a Python lookup for every element it hands out (hundreds an article, a
    tenth of the sanitizing time) only to give <form>, <input>, <label> … classes of
    their own, which nothing here uses; here every element is an ``HtmlElement``, so
    drop_tag / drop_tree and serialization are exactly lxml.html's."""
    parser = etree.HTMLParser()
    parser.set_element_class_lookup(etree.ElementDefaultClassLookup(
        element=lxml_html.HtmlElement, comment=lxml_html.HtmlComment, pi=lxml_html.HtmlProcessingInstruction,
        entity=lxml_html.HtmlEntity))
    return parser


# For every parse of the text pipeline; shared by threads as lxml.html shares its own.
HTML_PARSER = _html_parser()


def new_element(tag: str, **attrib: str) -> lxml_html.HtmlElement:
    """``lxml.html.Element`` in HTML_PARSER's documents: a tree takes the class lookup of
    the document its root was made in, so roots and new elements are made here."""
    return HTML_PARSER.makeelement(tag, attrib)


def fragment(html: str) -> lxml_html.HtmlElement:
    """``lxml.html.fragment_fromstring(html, create_parent="div")``, parsed by HTML_PARSER
    into a root of its own (lxml.html would make the root with its own parser)."""
    elements = lxml_html.fragments_fromstring(html, parser=HTML_PARSER, no_leading_text=False)
    root = new_element("div")
    if elements:
        if isinstance(elements[0], str):
            root.text = elements.pop(0)
        root.extend(elements)
    return root


def markup_text(html: str) -> str:
    """The characters a reader sees in sanitized HTML, in order, without parsing:
    tags dropped, entities decoded. Every line's text (``LineDoc``) is a stretch
    of it (bar whitespace), so a cheap look here can rule out parsing at all."""
    return html_lib.unescape(_MARKUP_RE.sub("", html))


def markup_text_head(html: str, size: int) -> str:
    """A start of ``markup_text(html)`` (exactly its first characters, maybe all of it),
    read from about ``size`` characters of markup. The markup is cut just after a ">", so
    every tag before the cut is whole (a tag match ends at the first ">"), and the text
    from its last "&" on is left out (an entity there may go on past the cut)."""
    cut = html.find(">", size) + 1
    if not cut:
        return markup_text(html)
    raw = _MARKUP_RE.sub("", html[:cut])
    amp = raw.rfind("&")
    return html_lib.unescape(raw if amp < 0 else raw[:amp])


_BLOCK_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "table", "thead", "tbody",
     "tfoot", "tr", "td", "th", "caption", "figure", "figcaption", "hr", "div", "section"}
)
# Cells belong to their row: a table row is read (and judged) as one line.
_ROW_TAGS = frozenset({"tr"})


@dataclass(eq=False)
class Line:
    block: etree._Element  # the element whose inline content this line is part of
    slots: list[tuple[str, etree._Element]] = field(default_factory=list)  # ("text"|"tail"|"elem", node)
    text: str = ""
    index: int = 0


def _is_block(el: etree._Element) -> bool:
    return isinstance(el.tag, str) and el.tag in _BLOCK_TAGS


class LineDoc:
    def __init__(self, html: str) -> None:
        self.root = fragment(html or "")
        self.lines: list[Line] = []
        self._touched: set[etree._Element] = set()
        self._pending: list[etree._Element] = []
        self._collect(self.root)
        for i, line in enumerate(self.lines):
            line.index = i

    # -- reading ---------------------------------------------------------------

    def _collect(self, el: etree._Element) -> None:
        if el.tag in _ROW_TAGS or el.tag == "pre":
            self._add_line(Line(block=el, slots=[("whole", el)]))
            return
        line = Line(block=el)
        if el.text:
            line.slots.append(("text", el))
        for child in el:
            if not isinstance(child.tag, str):
                continue
            if _is_block(child):
                self._add_line(line)
                self._collect(child)
                line = Line(block=el)
            elif child.tag == "br":
                line.slots.append(("elem", child))
                self._add_line(line)
                line = Line(block=el)
            else:
                line.slots.append(("elem", child))
            if child.tail:
                line.slots.append(("tail", child))
        self._add_line(line)

    def _add_line(self, line: Line) -> None:
        parts = []
        for kind, node in line.slots:
            if kind == "text":
                parts.append(node.text or "")
            elif kind == "tail":
                parts.append(node.tail or "")
            elif kind == "whole":
                parts.append(" ".join(t.strip() for t in node.itertext() if t.strip()))
            elif node.tag != "br":
                parts.append("".join(node.itertext()))
        line.text = " ".join("".join(parts).split())
        if line.text:
            self.lines.append(line)

    # -- writing ---------------------------------------------------------------

    def remove(self, line: Line) -> None:
        # Text goes now; elements are detached in html(), after every decision,
        # because a <br>'s tail is a slot of the *next* line and must stay
        # addressable until then.
        for kind, node in line.slots:
            if kind == "text":
                node.text = None
            elif kind == "tail":
                node.tail = None
            else:
                self._pending.append(node)
        self._touched.add(line.block)

    def html(self) -> str:
        for node in self._pending:
            _drop(node)
        self._pending.clear()
        for block in self._touched:
            _trim_brs(block)
            if block is not self.root and block.getparent() is not None and _is_empty(block):
                _drop(block)
        # Containers (lists, quotes, tables) emptied by removals go as well.
        for el in reversed(list(self.root.iter())):
            if el is not self.root and isinstance(el.tag, str) and el.tag in _BLOCK_TAGS and el.tag != "hr":
                if el.getparent() is not None and _is_empty(el):
                    _drop(el)
        if self.root.text and not self.root.text.strip():
            self.root.text = None
        return serialize_children(self.root).strip()


_URL_ATTRS = ("href", "src")


_META_CONTENT_TYPE_RE = re.compile(r'<meta http-equiv="Content-Type"[^>]*>')


def inner_html(root: etree._Element) -> str:
    """The HTML of ``root``'s text, children and their tails, as ``lxml.html.tostring`` of
    each child after the escaped text gives it (a ``<meta http-equiv="Content-Type">``
    dropped too): one serialization of ``root`` with its own tags cut off, not one call
    and one pass of that regex per child."""
    if root.attrib:  # the roots here are bare; an attribute value may hold a ">"
        parts = [html_lib.escape(root.text, quote=False)] if root.text else []
        return "".join(parts + [lxml_html.tostring(child, encoding="unicode", with_tail=True) for child in root])
    html = etree.tostring(root, encoding="unicode", method="html", with_tail=False)
    start = html.find(">") + 1
    end = html.rfind("</")
    if start == 0 or end < start:  # an empty root serializes as <div></div>: never without tags
        raise ValueError(f"unexpected serialization of <{root.tag}>")
    inner = html[start:end]
    return _META_CONTENT_TYPE_RE.sub("", inner) if "<meta" in inner else inner


def serialize_children(root: etree._Element) -> str:
    """The HTML of ``root``'s content, with URL attributes byte-for-byte as
    they were: libxml2's HTML serializer percent-encodes non-ASCII characters
    in href/src, which would silently rewrite every URL we pass through."""
    nonce = uuid.uuid4().hex
    originals: list[str] = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in _URL_ATTRS:
            value = el.get(attr)
            if value is not None and not (value.isascii() and " " not in value):
                el.set(attr, f"u{nonce}{len(originals)}z")
                originals.append(value)
    out = inner_html(root)
    if originals:
        out = re.sub(rf"u{nonce}(\d+)z", lambda m: html_lib.escape(originals[int(m.group(1))], quote=True), out)
    return out


def _is_empty(el: etree._Element) -> bool:
    if (el.text or "").strip():
        return False
    for child in el.iter():
        if child is el:
            continue
        if child.tag in ("img", "hr"):
            return False
        if (child.text or "").strip() or (child.tail or "").strip():
            return False
    return True


def _drop(el: etree._Element) -> None:
    """Remove an element but keep its tail text in place (lxml's remove() would
    take the tail along)."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    prev = el.getprevious()
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _trim_brs(block: etree._Element) -> None:
    # A removed first/last line leaves a dangling <br> at the block's edge.
    while len(block) and block[0].tag == "br" and not (block.text or "").strip():
        _drop(block[0])
    while len(block) and block[-1].tag == "br" and not (block[-1].tail or "").strip():
        _drop(block[-1])
