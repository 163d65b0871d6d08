"""What the reader templates call (registered in newsroom.jinja2, with
articles.fragments.hot_sidebar): counts, highlighted titles and search
snippets, stable page URLs and read counts that stay live on cached pages."""
from __future__ import annotations

import re
from functools import lru_cache

from django.http import HttpRequest
from django.template import defaultfilters
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markupsafe import Markup, escape as _markupsafe_escape

from articles.text import formatting
from articles.text.sanitize import html_to_text

SNIPPET_BEFORE = 40
SNIPPET_LENGTH = 140


_zh_count_int = lru_cache(maxsize=4096)(formatting.zh_count)


try:  # markupsafe's own escaping of a str, without the Markup around it
    from markupsafe._speedups import _escape_inner
except ImportError:  # another markupsafe: its escape, unchanged (below)
    _escape_inner = None

_str_new = str.__new__


def markup_escape(value) -> Markup:
    """``markupsafe.escape`` — the same result, a Markup of the same text — for what the
    templates output: a str or an int is made into its Markup directly, not through
    ``Markup.__new__``'s Python-level checks, which cost 260 of escape's 300 ns. An article
    page outputs about ninety values. Markup and Django's SafeString are safe as they are;
    anything else (other objects with ``__html__``, Undefined, None) goes to markupsafe's escape."""
    kind = value.__class__
    if kind is str:
        return _str_new(Markup, _escape_inner(value))
    if kind is int:
        return _str_new(Markup, int.__repr__(value))
    if kind is Markup:
        return value  # markupsafe would make an equal copy
    if kind is SafeString:  # reads(), the hot sidebar: safe already (its __html__ is itself)
        return _str_new(Markup, value)
    return _markupsafe_escape(value)


if _escape_inner is None:
    markup_escape = _markupsafe_escape  # noqa: F811


# The templates' |urlencode: Django's, remembered (the same slugs on every page).
urlencode = lru_cache(maxsize=4096)(defaultfilters.urlencode)


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


# --- follow chips ---------------------------------------------------------------------------
# A tag or a source with its counts and a follow button, on article, tag, tag-list and source
# pages. Built here rather than as template macros: a Jinja2 macro call costs ~65,000 CPU
# instructions (argument binding, a new context, a dozen attribute lookups and filters), and an
# article page shows five or six chips; this costs a tenth of that for the same HTML. Values
# are escaped as the templates' autoescape does (markupsafe); ``me`` is base.html's
# (signed_in, full_path, login_next: already URL-encoded, csrf_input).


def _follow_form(action: str, scope: str, name: Markup, me, following: bool) -> str:
    if following:
        button = ('<input type="hidden" name="action" value="unfollow"><button type="submit" class="btn following" '
                  f'aria-pressed="true" aria-label="取消关注 {name}">已关注</button>\n    ')
    else:
        button = ('<input type="hidden" name="action" value="follow"><button type="submit" class="btn" '
                  f'aria-pressed="false" aria-label="关注 {name}">+ 关注</button>')
    return (f'\n  <form method="post" action="{action}" class="inline js-toggle" data-kind="follow" '
            f"data-scope='{scope}'>{markup_escape(me['csrf_input'])}\n"
            f'    <input type="hidden" name="next" value="{markup_escape(me["full_path"])}">\n    {button}\n  </form>\n  ')


def _login_button(name: Markup, me) -> str:
    return f'<a class="btn" href="/accounts/login/?next={markup_escape(me["login_next"])}" aria-label="登录后关注 {name}">+ 关注</a>'


def _chip(*, kind: str, classes: str, link_class: str, prefix: str, slug: str, name: str, followers: int,
          more_stats: str, following: bool, me) -> Markup:
    """The chip both kinds share: ``kind`` names its data attribute (data-tag / data-source),
    the last of ``classes`` is what its follow form's data-scope selects, ``prefix`` its URLs'
    first segment (/tags/ / /sources/); ``more_stats`` follows the follower count."""
    slug, name, path = markup_escape(slug), markup_escape(name), markup_escape(urlencode(slug))
    scope = f'.{classes.split()[-1]}[data-{kind}="{slug}"]'
    button = (_follow_form(f"/{prefix}/{path}/follow/", scope, name, me, following)
              if me["signed_in"] else _login_button(name, me))
    return Markup(
        f'<div class="{classes}" data-{kind}="{slug}">\n  <a class="{link_class}" href="/{prefix}/{path}/">{name}</a>\n'
        f'  <span class="tagstats">关注 <span class="followers" data-followers>{markup_escape(zh_count(followers))}'
        f'</span>{more_stats}</span>\n  {button}\n</div>\n')


def tag_chip(tag, me, followed) -> Markup:
    """A tag with its follower / article / view counts and a follow button (``followed``: the reader's tag ids)."""
    stats = f" · 文章 {markup_escape(zh_count(tag.articles_count))} · 浏览量 {markup_escape(zh_count(tag.views_count))}"
    return _chip(kind="tag", classes="tagchip", link_class="chip", prefix="tags", slug=tag.slug, name=tag.name,
                 followers=tag.followers_count, more_stats=stats, following=tag.pk in followed, me=me)


def source_chip(source, me, following: bool) -> Markup:
    """A source with its counts and a follow button (``following``: whether the reader follows it)."""
    stats = f" · 文章 {markup_escape(zh_count(source.article_count))}" if source.article_count else ""
    return _chip(kind="source", classes="tagchip sourcechip", link_class="chip source", prefix="sources",
                 slug=source.slug, name=source.name, followers=source.followers_count, more_stats=stats,
                 following=following, me=me)
