"""Step 2 of the pipeline: make text uniform before anything looks at words.

Order matters (see CHINESE.md): mirror pinyin annotations are removed *before*
Traditional→Simplified conversion (the pattern anchors on the Han character
the annotation follows), conversion runs once on the original text (t2s is not
lossless, never round-trip), and width/whitespace cleanup comes last.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree, html as lxml_html

from newsroom.entry import xml_safe

from ._blocks import fragment, serialize_children

log = logging.getLogger(__name__)

__all__ = [
    "FULLWIDTH_TO_ASCII",
    "fold_width",
    "PROTECTED_TERMS",
    "normalize_html",
    "normalize_text",
    "normalize_title",
    "strip_pinyin",
    "to_simplified",
]

# --- pinyin artifacts --------------------------------------------------------

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ"
_PY = rf"a-zü{_TONED}"
# A Han character, then "(" one or more pinyin syllables ")" with at least one
# tone mark. Requiring a tone mark is what keeps "(LLM)", "(SLO)", "(ai)".
_PINYIN_RE = re.compile(
    rf"(?<=[{_HAN}])[(（]\s*"
    rf"(?=[{_PY}\s]*[{_TONED}])"  # lookahead: a tone-marked vowel inside
    rf"[{_PY}]+(?:[\s'][{_PY}]+)*"
    rf"\s*[)）]",
    re.IGNORECASE,
)


def strip_pinyin(text: str) -> str:
    """Remove mirror annotations: ``系統(tǒng)消息`` → ``系統消息``."""
    if "(" not in text and "（" not in text:
        return text
    return _PINYIN_RE.sub("", text)


# --- Traditional → Simplified -----------------------------------------------

_converter: Any = None
_t2s_noop_check: Callable[[str], bool] | None = None  # set with _converter (_T2SNoop)
_converter_lock = threading.Lock()


def _get_converter() -> Any:
    # Creating an OpenCC converter parses its dictionaries (milliseconds); do it
    # once per process. The compiled converter is read-only after creation.
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                import opencc

                global _t2s_noop_check
                converter = opencc.OpenCC("t2s")
                _t2s_noop_check = _t2s_noop(converter)
                _converter = converter
    return _converter


# Names OpenCC t2s would damage: it maps 昇 → 升 everywhere, so Huawei's 昇腾
# (Ascend) and 昇思 (MindSpore) would come out as 升腾/升思 — in Simplified
# text too. Protected spans are emitted as given here and never converted.
PROTECTED_TERMS: dict[str, str] = {"昇腾": "昇腾", "昇騰": "昇腾", "昇思": "昇思"}
_PROTECTED_RE = re.compile("|".join(sorted(map(re.escape, PROTECTED_TERMS), key=len, reverse=True)))


_OCD2_HEADER = b"OPENCC_MARISA_0.2.5"


def _dictionary_files(config: Any) -> list[str]:
    """The ``file`` of every dictionary an OpenCC config names (segmentation and conversion)."""
    if isinstance(config, dict):
        found = [config["file"]] if isinstance(config.get("file"), str) else []
        return found + [f for value in config.values() for f in _dictionary_files(value)]
    if isinstance(config, list):
        return [f for value in config for f in _dictionary_files(value)]
    return []


class _T2SNoop:
    """Tells texts that t2s leaves as they are, from the converter's own dictionaries.

    OpenCC t2s cuts the text at the phrases of its phrase dictionary (longest match),
    then maps every other character through its character dictionary. So a text in
    which no phrase key occurs, and no character maps to another, comes out as it
    went in; most of our text is such (Simplified already), and OpenCC's cutting costs
    ~0.5 µs a character even then. Built from the dictionaries the converter loaded
    (``t2s.json`` and its OCD2 files, read with marisa-trie, the format's own trie);
    where they cannot be read, nothing is skipped."""

    def __init__(self, converter: Any) -> None:
        import ahocorasick
        import marisa_trie

        config_file = Path(converter.config)
        config = json.loads(config_file.read_text(encoding="utf-8"))
        phrases = ahocorasick.Automaton()
        changing: set[str] = set()
        for name in dict.fromkeys(_dictionary_files(config)):
            data = (config_file.parent / name).read_bytes()
            if not data.startswith(_OCD2_HEADER):
                raise ValueError(f"{name} is not an OCD2 dictionary")
            trie = marisa_trie.Trie()
            trie.frombytes(data[len(_OCD2_HEADER):])
            for key in trie.keys():
                if len(key) > 1:
                    phrases.add_word(key, key)
                elif converter.convert(key) != key:  # a character that maps to itself changes nothing alone
                    changing.add(key)
        phrases.make_automaton()
        self._phrases = phrases if len(phrases) else None
        self._changing = frozenset(changing)  # a set, not a character class: sre scans ~4,000 of them slowly

    def __call__(self, text: str) -> bool:
        if not self._changing.isdisjoint(text):
            return False
        return self._phrases is None or next(self._phrases.iter(text), None) is None


def _t2s_noop(converter: Any) -> Callable[[str], bool] | None:
    try:
        return _T2SNoop(converter)
    except Exception as exc:  # an OpenCC build laid out otherwise: convert everything, as before
        log.warning("OpenCC dictionaries unreadable (%s): every non-ASCII text is converted", exc)
        return None


def _unchanged_by_t2s(text: str) -> bool:
    _get_converter()  # makes the check along with the converter
    noop = _t2s_noop_check
    return noop is not None and noop(text)


def to_simplified(text: str) -> str:
    """Traditional → Simplified with OpenCC t2s (convert once, from the
    original), keeping ``PROTECTED_TERMS`` intact."""
    if not text or text.isascii() or _unchanged_by_t2s(text):
        return text
    return _t2s(text)


def _t2s(text: str) -> str:
    """to_simplified of a text it has not ruled out."""
    convert = _get_converter().convert
    if not _PROTECTED_RE.search(text):
        return convert(text)
    parts: list[str] = []
    last = 0
    for m in _PROTECTED_RE.finditer(text):
        parts.append(convert(text[last : m.start()]) if m.start() > last else "")
        parts.append(PROTECTED_TERMS[m.group()])
        last = m.end()
    parts.append(convert(text[last:]) if last < len(text) else "")
    return "".join(parts)


# A private-use character: in no OpenCC dictionary entry, so a phrase match ends
# at it exactly as at the end of a separate call.
_SEPARATOR = "\ue000"


def to_simplified_many(texts: list[str]) -> list[str]:
    """``to_simplified`` of each text, in one OpenCC call for all of them (an
    article's text nodes: one call each cost more than the conversion)."""
    todo = [i for i, text in enumerate(texts) if text and not text.isascii() and not _unchanged_by_t2s(text)]
    parts: list[str] = []
    if len(todo) > 1 and not any(_SEPARATOR in texts[i] for i in todo):
        parts = _t2s(_SEPARATOR.join(texts[i] for i in todo)).split(_SEPARATOR)
    if len(parts) != len(todo):  # one text, one holding the separator, or (never expected) a lost one
        parts = [_t2s(texts[i]) for i in todo]
    out = list(texts)
    for i, part in zip(todo, parts):
        out[i] = part
    return out


# --- width and whitespace ---------------------------------------------------

# Chinese full-width punctuation that belongs in Chinese prose: left alone.
_KEEP_FULLWIDTH = set("，！？：；（）")


_BIDI_CONTROLS = (0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069)


def _build_width_table() -> dict[int, Any]:
    table: dict[int, Any] = {}
    for code in range(0xFF01, 0xFF5F):
        if chr(code) not in _KEEP_FULLWIDTH:
            table[code] = code - 0xFEE0
    table[0x3000] = 0x20  # ideographic space
    # CJK compatibility ideographs (from Big5/KS round trips) → unified ones.
    for code in range(0xF900, 0xFB00):
        normalized = unicodedata.normalize("NFKC", chr(code))
        if len(normalized) == 1 and normalized != chr(code):
            table[code] = normalized
    # Zero-width and invisible formatting characters: delete. With them the explicit direction
    # controls (embeddings, overrides, isolates): a right-to-left override makes a title or a line of
    # code read differently from what it is ("Trojan Source"); the bidi algorithm needs none of them.
    for code in (0x00AD, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, *_BIDI_CONTROLS):
        table[code] = None
    return table


FULLWIDTH_TO_ASCII: dict[int, Any] = _build_width_table()

_HSPACE_RE = re.compile(r"[^\S\n]+")  # whitespace except newline (incl. NBSP)
_SPACE_AROUND_NL_RE = re.compile(r" *\n *")
_MANY_NL_RE = re.compile(r"\n{3,}")
# Source-code line wrapping between two Han characters renders as a stray space.
_WRAP_BETWEEN_HAN_RE = re.compile(rf"(?<=[{_HAN}，。！？：；、])[^\S\n]*\n\s*(?=[{_HAN}])")


# Any character FULLWIDTH_TO_ASCII changes. Normalized Chinese text seldom holds one (its
# ，！？：；（） are kept), and looking costs a small part of translating: most calls skip it.
_WIDTH_CHANGES_RE = re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(FULLWIDTH_TO_ASCII)) + "]")


def fold_width(text: str) -> str:
    """``text.translate(FULLWIDTH_TO_ASCII)``, without the per-character work when
    nothing would change."""
    return text.translate(FULLWIDTH_TO_ASCII) if _WIDTH_CHANGES_RE.search(text) else text


def normalize_text(text: str) -> str:
    """Full-width ASCII → half-width (keeping ，！？：；（）), zero-width chars
    removed, runs of spaces collapsed, at most one blank line kept."""
    if not text:
        return ""
    text = fold_width(text).replace("\r\n", "\n").replace("\r", "\n")
    text = _HSPACE_RE.sub(" ", text)
    text = _SPACE_AROUND_NL_RE.sub("\n", text)
    text = _MANY_NL_RE.sub("\n\n", text)
    return text.strip()


def _convert(text: str, convert_traditional: bool) -> str:
    text = strip_pinyin(text)
    if convert_traditional:
        text = to_simplified(text)
    return text


def normalize_title(title: str, *, convert_traditional: bool = True) -> str:
    """A title is one line: pinyin stripped, t2s, widths fixed, spaces collapsed."""
    if not title:
        return ""
    title = _convert(xml_safe(title), convert_traditional)
    return " ".join(fold_width(title).split())


# --- HTML: text nodes only --------------------------------------------------

_VERBATIM_TAGS = frozenset({"pre", "code"})


_WHITESPACE_RUN_RE = re.compile(r"\s+")


def _finish_fragment_text(text: str) -> str:
    """A text node's normalization after the pinyin strip and t2s (normalize_html)."""
    text = fold_width(text)
    if "\n" in text:
        text = _WRAP_BETWEEN_HAN_RE.sub("", text)
    # Inside HTML a newline renders as a space: collapse every whitespace run
    # to one space, but keep a single leading/trailing space so inline
    # neighbours ("<b>NVIDIA</b> 发布") stay separated. A printable text holds no
    # whitespace but " ": without a double space there is nothing to collapse.
    if text.isprintable() and "  " not in text:
        return text
    return _WHITESPACE_RUN_RE.sub(" ", text)


_BLOCK_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "table", "thead", "tbody",
     "tfoot", "tr", "td", "th", "caption", "figure", "figcaption", "hr", "div"}
)


# Elements whose direct whitespace-only text is layout, not content.
_WS_INSIGNIFICANT = frozenset(
    {"div", "ul", "ol", "table", "thead", "tbody", "tfoot", "tr", "blockquote", "figure", "p", "h2", "h3", "h4", "h5", "h6", "li"}
)


def _is_block(el: etree._Element) -> bool:
    return isinstance(el.tag, str) and el.tag in _BLOCK_TAGS


def _verbatim_elements(root: etree._Element) -> set[etree._Element]:
    """Every element inside (or being) a <pre>/<code>: their text is code, left as is.
    The set keeps the element proxies alive, so lxml hands out the same ones again."""
    return {el for outer in root.iter(*_VERBATIM_TAGS) for el in outer.iter()}


def normalize_html(html: str, *, convert_traditional: bool = True) -> str:
    """Normalize the text nodes of sanitized HTML (``clean_html`` output).

    Attribute values — URLs above all — are left byte-for-byte alone; the one
    exception is ``<img alt>``, which readers see as text. Text inside
    <pre>/<code> only loses zero-width characters: code is data. Whitespace
    that is only layout between blocks is dropped.
    """
    if not html or not html.strip():
        return ""
    root = fragment(xml_safe(html))  # lxml refuses them set back
    prose: list[tuple[etree._Element, str, str]] = []  # (element, "text" | "tail", pinyin-stripped text)
    in_verbatim = _verbatim_elements(root)
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        verbatim = el in in_verbatim
        if el.text:
            if el.text.isspace() and not verbatim and el.tag in _WS_INSIGNIFICANT and len(el):
                el.text = None
            elif verbatim:
                el.text = el.text.translate(_ZERO_WIDTH)
            else:
                prose.append((el, "text", strip_pinyin(el.text)))
        parent = el.getparent()
        if parent is not None and el.tail:
            parent_verbatim = parent in in_verbatim
            if el.tail.isspace() and not parent_verbatim and parent.tag in _WS_INSIGNIFICANT and _is_block(el):
                el.tail = None
            elif parent_verbatim:
                el.tail = el.tail.translate(_ZERO_WIDTH)
            else:
                prose.append((el, "tail", strip_pinyin(el.tail)))
        alt = el.get("alt") if el.tag == "img" else None
        if alt:
            el.set("alt", normalize_title(alt, convert_traditional=convert_traditional))
    texts = [text for _, _, text in prose]
    if convert_traditional:
        texts = to_simplified_many(texts)
    for (el, slot, _), text in zip(prose, texts):
        setattr(el, slot, _finish_fragment_text(text))
    out = serialize_children(root)
    return _trim_block_edges(out)


_ZERO_WIDTH = {c: None for c in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, *_BIDI_CONTROLS)}


# Spaces left at the inside edges of block elements by whitespace collapsing: after an opening
# tag (a pattern that opens with its literal "<"), before a closing one (str.replace of each
# closing tag: a pattern opening with " +" was tried at every space of a Latin text, 40-50 µs
# a body against 20).
_BLOCK_TAGS = ("p", "h2", "h3", "h4", "h5", "h6", "li", "td", "th", "blockquote", "figcaption", "caption")
_BLOCK_OPEN_EDGE_RE = re.compile(rf"(<(?:{'|'.join(_BLOCK_TAGS)})\b[^>]*>) +")
_BLOCK_CLOSE_EDGES = tuple(f" </{tag}>" for tag in _BLOCK_TAGS)


def _trim_block_edges(html: str) -> str:
    if "> " in html:
        html = _BLOCK_OPEN_EDGE_RE.sub(r"\1", html)
    if " </" in html:
        for edge in _BLOCK_CLOSE_EDGES:
            while edge in html:  # a run of spaces loses one a pass
                html = html.replace(edge, edge[1:])
    return html.strip()
