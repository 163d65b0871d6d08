"""Step 1 of the pipeline: untrusted HTML → our allowlisted HTML.

Two passes. A *repair* pass on an lxml tree does what an allowlist cannot:
lazy images (data-src …) become real images, relative URLs are resolved
against the page (and its <base href>), tracking pixels, hidden SEO blocks and
widget elements go, portal leftovers like ``<b class='flag-5'>`` are unwrapped
and layout <div>s become paragraphs so blocks keep their shape.
Then nh3 (html5ever + ammonia) is the *security boundary*: whatever the repair
pass produced, only the allowlist survives, with rel/referrerpolicy set and
every URL re-checked in ``_attribute_filter``. Nothing after nh3 adds markup.
"""
from __future__ import annotations

import html as html_lib
import re
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

import nh3
from lxml import etree, html as lxml_html

from newsroom.entry import xml_safe

from ._blocks import HTML_PARSER, fragment, inner_html, new_element

__all__ = ["HOTLINK_HOSTS", "TRACKER_HOSTS", "clean_html", "html_to_text", "is_hotlink_protected", "text_to_html"]

# Image hosts that refuse requests with a foreign Referer: served via our proxy.
HOTLINK_HOSTS: tuple[str, ...] = ("qpic.cn", "qlogo.cn", "sinaimg.cn", "ithome.com", "hdslb.com")
# Analytics / beacon hosts: their <img> are tracking pixels, never content.
TRACKER_HOSTS: tuple[str, ...] = (
    "google-analytics.com", "googletagmanager.com", "doubleclick.net", "googlesyndication.com",
    "feedburner.com", "feedsportal.com", "pixel.wp.com", "stats.wordpress.com", "scorecardresearch.com",
    "quantserve.com", "hm.baidu.com", "tongji.baidu.com", "cnzz.com", "51.la", "statcounter.com",
    "facebook.com", "analytics.twitter.com", "t.co", "mc.yandex.ru", "growingio.com", "sensorsdata.cn",
)

_ALLOWED_TAGS = {
    "p", "br", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "code",
    "em", "strong", "b", "i", "u", "s", "sub", "sup", "table", "thead", "tbody", "tfoot", "tr", "th", "td",
    "caption", "figure", "figcaption", "img", "a", "hr",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height", "loading"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
    "code": {"class"},
}
# Removed together with everything inside them (nh3 would keep their text).
_DROP_WITH_CONTENT = {
    "script", "style", "template", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math",
    "canvas", "audio", "video", "button", "input", "select", "textarea", "option", "noembed", "noframes",
    "head", "title", "meta", "link", "nav", "map", "dialog", "xmp", "plaintext", "noscript",
}
# For nh3: must not overlap _ALLOWED_TAGS.
_NH3_CLEAN_CONTENT = {
    "script", "style", "template", "iframe", "object", "embed", "svg", "math", "textarea", "select", "button",
    "title", "noscript", "noembed", "noframes", "xmp", "canvas", "audio", "video", "head",
}
_BLOCK_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "table", "thead", "tbody",
     "tfoot", "tr", "td", "th", "caption", "figure", "figcaption", "hr", "div", "section", "article", "main",
     "header", "footer", "aside", "center", "dl", "dt", "dd", "address", "details", "summary", "form", "fieldset"}
)
# Layout containers: become <p> when they only hold inline content, else unwrapped.
_LAYOUT_TAGS = frozenset(
    {"div", "section", "article", "main", "header", "footer", "aside", "center", "dl", "dd", "dt", "address",
     "details", "summary", "form", "fieldset", "body"}
)
_LAZY_SRC_ATTRS = (
    "data-src", "data-original", "data-actualsrc", "data-lazy-src", "data-lazyload", "data-original-src",
    "data-echo", "data-ks-lazyload", "data-url", "zoomfile", "file",
)
_PLACEHOLDER_RE = re.compile(
    r"(?:^data:|^about:|placeholder|blank\.(?:gif|png)|loading\.(?:gif|png|svg)|lazy(?:load)?\.(?:gif|png|svg)"
    r"|grey\.gif|gray\.gif|spacer\.gif|pixel\.gif|transparent\.(?:gif|png)|/1x1\.)",
    re.I,
)
# The same pattern without IGNORECASE, for ASCII text lowercased: the same matches there (the
# pattern is lowercase ASCII; only non-ASCII text has other case partners, as "ſ" for "s"),
# at a third of the cost (a case-blind alternation is tried character by character).
_PLACEHOLDER_LOWER_RE = re.compile(_PLACEHOLDER_RE.pattern)
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|font-size\s*:\s*0(?:px)?\s*(?:;|$)", re.I)
_TINY_STYLE_RE = re.compile(r"(?:^|;)\s*(?:width|height)\s*:\s*[01](?:px)?\s*(?:;|$)", re.I)
_FLAG_CLASS_RE = re.compile(r"(?:^|\s)flag-\d+(?:\s|$)")
# Leftover portal markup that arrived as *text* (double-escaped in a feed).
_FLAG_TEXT_OPEN_RE = re.compile(r"<(?:b|span|a|strong|font)\s+class\s*=\s*['\"]?flag-\d+['\"]?[^<>]{0,200}>", re.I)
_FLAG_TEXT_CLOSE_RE = re.compile(r"</(?:b|span|a|strong|font)\s*>", re.I)
_URL_JUNK_RE = re.compile(r"[\x00-\x20\x7f]+")
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_DIGITS_RE = re.compile(r"^\s*(\d{1,5})(?:px)?\s*$")
_CODE_CLASS_RE = re.compile(r"^(?:language|lang)-[\w+#.-]{1,30}$")
_DOC_MARKERS_RE = re.compile(r"<(?:!doctype|html|head|body)\b", re.I)
_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*>", re.I)


# --- URLs -------------------------------------------------------------------

def _host_matches(host: str, suffixes: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    return host in suffixes or host.endswith(_subdomain_suffixes(suffixes))


@lru_cache(maxsize=8)
def _subdomain_suffixes(suffixes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple("." + s for s in suffixes)


def _is_placeholder(url: str) -> bool:
    """Whether ``_PLACEHOLDER_RE`` finds a placeholder image's mark in ``url``."""
    if url.isascii():
        return _PLACEHOLDER_LOWER_RE.search(url.lower()) is not None
    return _PLACEHOLDER_RE.search(url) is not None


def is_hotlink_protected(url: str) -> bool:
    """True for image hosts that need our proxy (WeChat, Sina, IT之家 …)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return _host_matches(host, HOTLINK_HOSTS)


def _is_tracker(url: str) -> bool:
    parts = urlsplit(url)
    # FeedBurner's per-item beacon lives under /~r/ on whatever host serves it.
    return _host_matches(parts.hostname or "", TRACKER_HOSTS) or "/~r/" in parts.path


def _resolve_url(raw: str | None, base: str, *, allow_mailto: bool) -> str | None:
    """An absolute http(s) (or mailto) URL, or None. Browsers ignore ASCII
    whitespace/control characters inside URLs, so we remove them before the
    scheme check (``jav&#x09;ascript:`` must not look relative)."""
    if not raw:
        return None
    url = _URL_JUNK_RE.sub("", raw)
    if not url:
        return None
    scheme_match = _SCHEME_RE.match(url)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        if scheme == "mailto":
            return url if allow_mailto else None
        if scheme not in ("http", "https"):
            return None
    elif url.startswith("#"):
        return None  # in-page anchors point at ids we strip
    try:
        if not scheme_match:
            if not base:
                return None
            url = urljoin(base, url)
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _effective_base(root: etree._Element, base_url: str) -> str:
    base = base_url or ""
    for el in root.iter("base"):
        href = _resolve_url(el.get("href"), base, allow_mailto=False)
        if href:
            return href
    return base


# --- repair pass --------------------------------------------------------------

# What lxml raises on markup it cannot make a tree of. AssertionError: a document whose <body>
# never opens (an unclosed <title> in <head> holds the rest) leaves fragment_fromstring no body.
_LXML_GAVE_UP = (etree.ParserError, ValueError, AssertionError)


def _parse(html: str) -> etree._Element:
    html = _XML_DECL_RE.sub("", html, count=1)
    if _DOC_MARKERS_RE.search(html[:4000]):
        doc = lxml_html.document_fromstring(html, parser=HTML_PARSER)
        body = doc.find("body")
        container = new_element("div")
        # <base> lives in <head>: keep it reachable for _effective_base.
        for base in doc.iter("base"):
            container.append(new_element("base", href=base.get("href") or ""))
            break
        if body is not None:
            container.text = body.text
            for child in list(body):
                container.append(child)
        return container
    return fragment(html)


def _text_len(el: etree._Element) -> int:
    return len("".join(el.itertext()).strip())


def _drop_unwanted(root: etree._Element) -> None:
    total = _text_len(root) or 1
    for el in list(root.iter()):
        if not isinstance(el.tag, str):  # comments, processing instructions
            if el.getparent() is not None:
                el.drop_tree()
            continue
        if el is root or el.getparent() is None:
            continue
        tag = el.tag.lower()
        if tag in _DROP_WITH_CONTENT:
            el.drop_tree()
        elif _is_hidden(el):
            # Hidden blocks are where SEO spam hides; a hidden wrapper holding
            # most of a real text is a JS-revealed article body and stays.
            hidden_len = _text_len(el)
            if hidden_len < total * 0.5 or hidden_len < 200:
                el.drop_tree()


def _is_hidden(el: etree._Element) -> bool:
    if el.get("hidden") is not None:
        return True
    style = el.get("style")
    return bool(style and _HIDDEN_STYLE_RE.search(style))


def _salvage_noscript_images(root: etree._Element, base: str) -> None:
    """<noscript><img src=real></noscript> after a lazy <img>: keep one image."""
    for ns in list(root.iter("noscript")):
        imgs = list(ns.iter("img"))
        prev = ns.getprevious()
        lazy_neighbour = prev is not None and prev.tag == "img" and _image_source(prev, base) is not None
        if imgs and not lazy_neighbour:
            for img in imgs:
                ns.addprevious(img)
                img.tail = None


# Whether the tree holds "flag-" in any class or text at all (one libxml2 pass, no Python per element).
_HAS_FLAG = etree.XPath('boolean(//*[contains(@class, "flag-")] | //text()[contains(., "flag-")])')


def _may_hold_flag_leftovers(html: str) -> bool:
    """Whether the tree parsed from ``html`` can have a class or text holding "flag-": only
    if the markup has it, or a numeric reference (the parser writes those characters from
    nothing else: no named reference decodes to f, l, a, g or -)."""
    return "flag-" in html or "&#" in html


def _unwrap_flag_leftovers(root: etree._Element) -> None:
    if not _HAS_FLAG(root):
        return
    for el in list(root.iter()):
        if el is root or not isinstance(el.tag, str):
            continue
        cls = el.get("class")
        if cls and _FLAG_CLASS_RE.search(cls) and el.tag in ("b", "span", "a", "strong", "font", "em"):
            el.drop_tag()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.text and "flag-" in el.text:
            el.text = _strip_flag_text(el.text)
        if el.tail and "flag-" in el.tail:
            el.tail = _strip_flag_text(el.tail)


def _strip_flag_text(text: str) -> str:
    text, opened = _FLAG_TEXT_OPEN_RE.subn("", text)
    if opened:
        text = _FLAG_TEXT_CLOSE_RE.sub("", text, count=opened)
    return text


def _pick_srcset(srcset: str) -> str | None:
    best: tuple[float, str] | None = None
    for candidate in re.split(r",\s+", srcset.strip()):
        bits = candidate.split()
        if not bits:
            continue
        url, score = bits[0].rstrip(","), 1.0
        if len(bits) > 1:
            desc = bits[1].lower()
            try:
                score = float(desc[:-1]) * (1.0 if desc.endswith("w") else 1000.0)
            except ValueError:
                score = 1.0
        if best is None or score > best[0]:
            best = (score, url)
    return best[1] if best else None


def _image_source(img: etree._Element, base: str) -> str | None:
    """The real image URL: lazy attributes first (src is often a placeholder)."""
    candidates = [img.get(a) for a in _LAZY_SRC_ATTRS]
    src = img.get("src")
    if src and not _is_placeholder(src.strip()):
        candidates.append(src)
    for attr in ("data-srcset", "srcset"):
        if img.get(attr):
            candidates.append(_pick_srcset(img.get(attr) or ""))
    for raw in candidates:
        if raw and not _is_placeholder(raw.strip()):
            url = _resolve_url(raw, base, allow_mailto=False)
            if url:
                return url
    return None


def _dimension(value: str | None) -> str | None:
    m = _DIGITS_RE.match(value or "")
    return m.group(1) if m else None


def _fix_images(root: etree._Element, base: str) -> None:
    for img in list(root.iter("img")):
        url = _image_source(img, base)
        width, height = _dimension(img.get("width")), _dimension(img.get("height"))
        tiny = width in ("0", "1") or height in ("0", "1") or bool(_TINY_STYLE_RE.search(img.get("style") or ""))
        if url is None or tiny or _is_tracker(url):
            img.drop_tree()  # drop_tree keeps the tail text
            continue
        # loading="lazy" is set here, in a fixed place among the attributes: nh3 adds the
        # attributes it sets in a hash order seeded per Cleaner, so it sets just one (referrerpolicy).
        keep = {"src": url, "alt": img.get("alt"), "title": img.get("title"), "width": width, "height": height,
                "loading": "lazy"}
        img.attrib.clear()
        for name, value in keep.items():
            if value:
                img.set(name, value)


def _fix_links(root: etree._Element, base: str) -> None:
    for a in list(root.iter("a")):
        href = _resolve_url(a.get("href"), base, allow_mailto=True)
        title = a.get("title")
        a.attrib.clear()
        if href is None:
            a.drop_tag()  # keep the words, lose the dead/unsafe link
            continue
        a.set("href", href)
        if title:
            a.set("title", title)


def _is_block(node: etree._Element) -> bool:
    return isinstance(node.tag, str) and node.tag.lower() in _BLOCK_TAGS


def _wrap_inline_runs(el: etree._Element, *, always: bool = False) -> None:
    """Group loose text and inline children between blocks into <p>s, so every
    line of a mixed container ends up in a block (spam/attribution see lines).
    With ``always``, a container with no blocks at all gets one <p> too."""
    children = list(el)
    if not always and not any(_is_block(c) for c in children):
        return
    groups: list[etree._Element] = []
    current: etree._Element | None = None  # the open <p> of the current inline run

    def add_text(text: str | None) -> None:
        nonlocal current
        if not text:
            return
        if current is None:
            if not text.strip():
                return
            current = new_element("p")
            groups.append(current)
        if len(current):
            current[-1].tail = (current[-1].tail or "") + text
        else:
            current.text = (current.text or "") + text

    lead, el.text = el.text, None
    add_text(lead)
    for child in children:
        tail, child.tail = child.tail, None
        el.remove(child)
        if _is_block(child):
            current = None
            groups.append(child)
        elif current is None and child.tag == "br":
            pass  # a <br> between blocks is spacing, not content
        else:
            if current is None:
                current = new_element("p")
                groups.append(current)
            current.append(child)
        add_text(tail)
    el.extend(groups)


def _restructure(root: etree._Element) -> None:
    # Bottom-up, so an inner <div> is settled before its parent looks at it.
    for el in reversed(list(root.iter())):
        if el is root or not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        if tag == "h1":
            el.tag = "h2"
        elif tag in _LAYOUT_TAGS:
            if any(_is_block(c) for c in el):
                _wrap_inline_runs(el)
                el.drop_tag()
            else:
                el.tag = "p"
                el.attrib.clear()
    _wrap_inline_runs(root, always=True)


def _repair(html: str, base_url: str) -> str:
    root = _parse(html)
    base = _effective_base(root, base_url)
    _salvage_noscript_images(root, base)
    _drop_unwanted(root)
    if _may_hold_flag_leftovers(html):
        _unwrap_flag_leftovers(root)
    _fix_images(root, base)
    _fix_links(root, base)
    _restructure(root)
    return inner_html(root)


# --- nh3 (the security boundary) ---------------------------------------------

def _attribute_filter_factory(proxy_images: bool):
    from newsroom.imagesign import proxied_image_path

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if attr in ("href", "src"):
            url = _resolve_url(value, "", allow_mailto=(attr == "href"))
            if url is None:
                return None
            if proxy_images and tag == "img" and is_hotlink_protected(url):
                return proxied_image_path(url)
            return url
        if attr in ("width", "height", "colspan", "rowspan", "start"):
            return _dimension(value)
        if attr == "loading":
            return "lazy"
        if attr == "class":
            return value if tag == "code" and _CODE_CLASS_RE.match(value) else None
        if attr == "scope":
            return value if value in ("row", "col", "rowgroup", "colgroup") else None
        return value

    return attribute_filter


@lru_cache(maxsize=2)
def _cleaner(proxy_images: bool) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=_ALLOWED_TAGS,
        clean_content_tags=_NH3_CLEAN_CONTENT,
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter_factory(proxy_images),
        strip_comments=True,
        # Every link in an aggregated article leads off our site.
        link_rel="nofollow noopener noreferrer",
        # One attribute only: with two, their order would differ between Cleaners (processes).
        set_tag_attribute_values={"img": {"referrerpolicy": "no-referrer"}},
        url_schemes={"http", "https", "mailto"},
    )


_EMPTY_P_RE = re.compile(r"<p>(?:\s|&nbsp;|\u00a0|<br>)*</p>")
_EMPTY_A_RE = re.compile(r"<a [^>]*>\s*</a>")
# Each written to open with its literal, which the regex engine looks for fast; an alternation
# or a group in front is tried at every "<". Three or more <br>s; <br>s opening a paragraph;
# <br>s closing one (the two edges: matches of one never overlap the other's).
_BR_RUN_RE = re.compile(r"<br>\s*(?:<br>\s*){2,}")
_BLOCK_BR_OPEN_RE = re.compile(r"<p>(?:\s*<br>)+")
_BLOCK_BR_CLOSE_RE = re.compile(r"<br>\s*(?:<br>\s*)*</p>")


def _tidy(html: str) -> str:
    # Only removals on nh3 output: nothing here can introduce markup.
    # Each pattern needs text the look before it finds (a whole-body regex scan is not free).
    if "</a>" in html:
        html = _EMPTY_A_RE.sub("", html)
    if "<br>" in html:
        html = _BR_RUN_RE.sub("<br><br>", html)
        html = _BLOCK_BR_CLOSE_RE.sub("</p>", _BLOCK_BR_OPEN_RE.sub("<p>", html))
    if "</p>" in html:
        html = _EMPTY_P_RE.sub("", html)
    return html.strip()


def clean_html(html: str, *, base_url: str, proxy_images: bool = True) -> str:
    """Sanitize untrusted article HTML to our allowlist (see module docstring)."""
    if not html or not html.strip():
        return ""
    try:
        repaired = _repair(html, base_url)
    except _LXML_GAVE_UP:
        repaired = html  # unparseable for lxml: nh3 alone still makes it safe
    # Character references to forbidden characters (&#8;) come out of nh3 as the characters.
    return xml_safe(_tidy(_cleaner(proxy_images).clean(repaired)))


# --- text <-> html ------------------------------------------------------------

_TEXT_BLOCKS = _BLOCK_TAGS | {"br"}
_WS_RE = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")


_WS_ANY_RE = re.compile(r"\s+")


def _one_space(text: str) -> str:
    r"""``re.sub(r"\s+", " ", text)``, without the scan when nothing would change: every
    whitespace character but " " is unprintable, so a printable text without a double
    space has no run to collapse (most text nodes)."""
    if text.isprintable() and "  " not in text:
        return text
    return _WS_ANY_RE.sub(" ", text)


def _collect_text(el: etree._Element, out: list[str], pre: bool = False) -> None:
    tag = el.tag.lower() if isinstance(el.tag, str) else ""
    if tag in _DROP_WITH_CONTENT:
        if el.tail:
            out.append(el.tail if pre else _one_space(el.tail))
        return
    is_block = tag in _BLOCK_TAGS and tag not in ("td", "th")  # cells share their row's line
    in_pre = pre or tag == "pre"
    if is_block:
        out.append("\n")
    if el.text and isinstance(el.tag, str):
        out.append(el.text if in_pre else _one_space(el.text))
    for child in el:
        _collect_text(child, out, in_pre)
    if tag == "br":
        out.append("\n")
    elif tag in ("td", "th"):
        out.append(" ")
    if is_block:
        out.append("\n")
    if el.tail:
        out.append(el.tail if pre else _one_space(el.tail))


def html_to_text(html: str) -> str:
    """Readable text: one line per block / <br>, entities decoded, no markup."""
    if not html or not html.strip():
        return ""
    if "<" not in html and "&" not in html:
        return "\n".join(line.strip() for line in html.splitlines() if line.strip())
    try:
        root = _parse(html)
    except _LXML_GAVE_UP:
        return xml_safe(html_lib.unescape(re.sub(r"<[^>]*>", " ", html)).strip())
    out: list[str] = []
    if root.text:
        out.append(_one_space(root.text))
    for child in root:
        _collect_text(child, out)
    lines = (_WS_RE.sub(" ", line).strip() for line in xml_safe("".join(out)).split("\n"))
    return "\n".join(line for line in lines if line)


def text_to_html(text: str) -> str:
    """Plain text (a feed summary) → paragraphs. Blank lines separate
    paragraphs; without any blank line every line is its own paragraph."""
    if not text or not text.strip():
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if re.search(r"\n\s*\n", text):
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
        return "".join(
            "<p>" + "<br>".join(html_lib.escape(line.strip()) for line in p.split("\n") if line.strip()) + "</p>"
            for p in paragraphs
        )
    return "".join(f"<p>{html_lib.escape(line.strip())}</p>" for line in text.split("\n") if line.strip())
