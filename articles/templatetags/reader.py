"""Reader-page filters: highlight the words a card shares with the article / query."""
from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def highlight_words(text: str, words) -> str:
    """Escape `text`, then wrap each occurrence of the given words in <b> (longest first)."""
    text = escape(text or "")
    words = sorted({escape(w) for w in (words or []) if w and len(w.strip()) >= 1}, key=len, reverse=True)
    if not words:
        return mark_safe(text)
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    return mark_safe(pattern.sub(lambda m: f"<b>{m.group(0)}</b>", text))
