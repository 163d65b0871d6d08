"""The Jinja2 environment of the site's own templates (templates/**).

Jinja2 renders a page several times faster than Django's template language,
which was most of the time of an article page nobody had asked for yet. The
Django backend stays second in TEMPLATES for django.contrib.admin.

Autoescaping is on. Besides Jinja2's built-ins the templates have:
filters ``zh_count`` / ``zh_time`` / ``zh_datetime`` (1.2万 / 3小时前, Asia/Shanghai),
``date`` (Django's ``|date`` with its conversion to local time),
``truncatechars``, ``urlencode``, ``linebreaksbr`` (Django's),
``highlight_words`` and ``search_snippet``; globals ``static``, ``reads(article)``,
``canonical_url(keep)``, ``page_url(number)``, ``hot_sidebar(limit)`` and the follow chips
``tag_chip(t, me, followed)`` / ``source_chip(s, me, following)``. Django's
backend adds ``request``, ``csrf_input`` and the TEMPLATES context processors
(``user``, ``messages``, ``SITE_NAME``).
"""
from __future__ import annotations

import unicodedata
from datetime import datetime
from functools import lru_cache

from django.template import defaultfilters
from django.templatetags.static import static
from django.utils import timezone, translation
from django.utils.text import Truncator, add_truncation_text, calculate_truncate_chars_length
from django.utils.translation import pgettext
from jinja2 import Environment, pass_context
from jinja2 import runtime as jinja2_runtime

from articles import fragments, templating
from articles.text.formatting import site_zone, zh_datetime, zh_time


def date(value, arg: str | None = None) -> str:
    """Django's ``|date``, local time (the site's zone) first as Django's template engine does;
    ``'c'`` (ISO 8601) directly."""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = value.astimezone(site_zone())
        if arg == "c":
            return value.isoformat()
    return defaultfilters.date(value, arg)


def truncatechars(value, length: int) -> str:
    """Django's ``|truncatechars``, the same text, without its loop over every character
    when no combining mark (which it does not count) is among the first ``length + 1``."""
    length = int(length)
    if length <= 0:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    if len(text) <= length:
        return text
    head = text[: length + 1]
    if not head.isascii() and any(map(unicodedata.combining, head)):
        return Truncator(text).chars(length)
    suffix = _truncation_text(translation.get_language())
    return add_truncation_text(text[: calculate_truncate_chars_length(length, suffix)], suffix)


@lru_cache(maxsize=16)
def _truncation_text(language: str | None) -> str:
    """Django's "…" for truncated text in this language (it looks it up twice per call)."""
    return pgettext("String to return when truncating text", "%(truncated_text)s…")


@pass_context
def canonical_url(context, keep: str = "page") -> str:
    return templating.canonical_url(context.get("request"), keep)


@pass_context
def page_url(context, number) -> str:
    return templating.page_url(context["request"], number)


@pass_context
def hot_sidebar(context, limit: int = 8):
    """The shared 热点推荐 sidebar (cached fragment, live read counts)."""
    return fragments.hot_sidebar(limit, context.get("request"))


class SiteEnvironment(Environment):
    def make_globals(self, d):
        """A template's globals as one dict (the environment's, then its own) instead of
        Jinja2's ChainMap: every render copies them into a new context (``dict(globals)``),
        and a ChainMap is copied key by key in Python, 10 µs a page for our twenty globals.
        All of ours are set in ``environment`` below, before any template loads (Jinja2
        asks that globals not change after that), so the copy misses nothing."""
        return {**self.globals, **(d or {})}


def environment(**options) -> Environment:
    options.setdefault("keep_trailing_newline", True)  # as Django's templates: an include ends with its newline
    # Compiled templates take ``escape`` from jinja2.runtime when they are first loaded
    # (``from jinja2.runtime import … escape``): set before any template of this environment
    # is compiled, every ``{{ value }}`` uses templating.markup_escape (markupsafe's escape
    # itself where markupsafe has no compiled escaping).
    jinja2_runtime.escape = templating.markup_escape
    env = SiteEnvironment(**options)
    env.filters.update(
        zh_count=templating.zh_count,
        zh_time=zh_time,
        zh_datetime=zh_datetime,
        date=date,
        truncatechars=truncatechars,
        urlencode=templating.urlencode,
        linebreaksbr=defaultfilters.linebreaksbr,
        highlight_words=templating.highlight_words,
        search_snippet=templating.search_snippet,
    )
    env.globals.update(
        static=lru_cache(maxsize=None)(static),  # a static file's URL is fixed for the life of the process
        reads=templating.reads,
        canonical_url=canonical_url,
        page_url=page_url,
        hot_sidebar=hot_sidebar,
        tag_chip=templating.tag_chip,
        source_chip=templating.source_chip,
    )
    return env
