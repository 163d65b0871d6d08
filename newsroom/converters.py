"""URL converters for hostile paths: a path that can name no row is a 404, never a database error."""
from __future__ import annotations

from django.urls import register_converter

_BIGINT_MAX = 2**63 - 1


def row_id(value: str) -> int | None:
    """``value`` as a primary key, or None: ASCII digits only ("²".isdigit() is true, and int()
    refuses it) and within PostgreSQL's bigint."""
    if not (value and len(value) <= 19 and value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number <= _BIGINT_MAX else None


class RowId:
    """A primary key: digits that fit PostgreSQL's bigint (``/articles/99999999999999999999999/``
    would reach the database as an out-of-range error, a 500)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = row_id(value)
        if number is None:
            raise ValueError("not a row id")  # the pattern does not match: 404
        return number

    def to_url(self, value) -> str:
        return str(value)


class UnicodeSlug:
    """A slug as tags and sources have them, Unicode included (开源; Django's ``slug`` is
    ASCII-only): anything but "/" and control characters (a NUL would reach PostgreSQL as an error)."""

    regex = "[^/\x00-\x1f\x7f]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RowId, "rowid")
register_converter(UnicodeSlug, "uslug")
