"""What the reader templates call (registered in newsroom.jinja2, with
articles.fragments.hot_sidebar): counts, highlighted titles and search
snippets, stable page URLs and read counts that stay live on cached pages."""
from __future__ import annotations

import re
from functools import lru_cache

from django.http import HttpRequest
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from articles.text import formatting
from articles.text.sanitize import html_to_text

SNIPPET_BEFORE = 40
SNIPPET_LENGTH = 140


_zh_count_int = lru_cache(maxsize=4096)(formatting.zh_count)


def zh_count(value: object) -> str:
    """formatting.zh_count (1.2万), remembered for whole numbers: a page shows a few dozen counts."""
    return _zh_count_int(value) if type(value) is int else formatting.zh_count(value)


def _pattern(words) -> re.Pattern[str] | None:
    words = sorted({w for w in (words or []) if w and w.strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)


def _mark(text: str, pattern: re.Pattern[str] | None) -> str:
    """Escape each piece of text separately so a match never splits an entity."""
    if pattern is None:
        return escape(text)
    out, last = [], 0
    for m in pattern.finditer(text):
        out.append(escape(text[last : m.start()]))
        out.append(f"<b>{escape(m.group(0))}</b>")
        last = m.end()
    out.append(escape(text[last:]))
    return "".join(out)


def highlight_words(text: str, words) -> SafeString:
    """Escape `text`, then wrap each occurrence of the given words in <b> (longest first, any case)."""
    return mark_safe(_mark(str(text or ""), _pattern(words)))


def search_snippet(article, words) -> SafeString:
    """A short passage of the article around its first match, matches in <b>;
    the summary when the match is only in the title."""
    pattern = _pattern(words)
    text = html_to_text(getattr(article, "body", "") or "").replace("\n", " ")
    m = pattern.search(text) if (pattern and text) else None
    if m is None:
        summary = (article.summary or text)[:SNIPPET_LENGTH]
        return mark_safe(_mark(summary, pattern) + ("…" if len(article.summary or text) > SNIPPET_LENGTH else ""))
    start = max(0, m.start() - SNIPPET_BEFORE)
    end = min(len(text), start + SNIPPET_LENGTH)
    snippet = _mark(text[start:end], pattern)
    return mark_safe(("…" if start else "") + snippet + ("…" if end < len(text) else ""))


def canonical_url(request: HttpRequest | None, keep: str = "page") -> str:
    """The page's absolute URL with only the parameters that change its content
    (``keep``, space-separated); page=1 is the bare URL, so every page has one address."""
    if request is None:
        return ""
    params = request.GET.copy()
    for key in list(params):
        if key not in keep.split():
            del params[key]
    if params.get("page") in ("1", ""):
        del params["page"]
    query = params.urlencode()
    return request.build_absolute_uri(request.path) + (f"?{query}" if query else "")


def page_url(request: HttpRequest, number) -> str:
    """This page's URL at page ``number``, every other parameter kept (search
    filters); page 1 has no page parameter, so each page has one stable address."""
    params = request.GET.copy()
    params.pop("page", None)
    if int(number) > 1:
        params["page"] = str(number)
    query = params.urlencode()
    return request.path + (f"?{query}" if query else "")


def reads(article) -> SafeString:
    """A read count that stays live on cached pages (see articles.pagecache)."""
    total = getattr(article, "read_total", None)
    if total is None:
        total = article.read_count
    # Whole numbers and a count such as 1.2万: nothing in them to escape.
    return mark_safe(f'<span class="reads" data-reads="{int(article.pk)}" data-base="{int(article.read_count)}">'
                     f'{escape(zh_count(total))}</span>')
