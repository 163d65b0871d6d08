"""{% load zh_format %}: {{ n|zh_count }}, {{ dt|zh_time }}, {{ dt|zh_datetime }}."""
from __future__ import annotations

from django import template

from articles.text import formatting

register = template.Library()


@register.filter(is_safe=True)
def zh_count(value: object) -> str:
    return formatting.zh_count(value)


@register.filter(expects_localtime=False)
def zh_time(value: object) -> str:
    return formatting.zh_time(value)  # type: ignore[arg-type]


@register.filter(expects_localtime=False)
def zh_datetime(value: object) -> str:
    return formatting.zh_datetime(value)  # type: ignore[arg-type]
