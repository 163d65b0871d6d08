"""Signed URLs for our hotlink-safe image proxy (`/img/<token>/`).

`articles` rewrites hotlink-protected <img src> to these URLs when it cleans a
body; the proxy view in `feeds` (which owns the network) unsigns and fetches.

A token is the URL signed without a timestamp (nothing expires it), so the same
body cleans to the same bytes at any time and a re-fetched entry is not an edit.
Tokens signed with a timestamp, as stored bodies from before hold, still open.
"""
from __future__ import annotations

from django.core import signing

_SALT = "newsroom.imageproxy"


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SALT)  # reads SECRET_KEY now: settings may change under tests


def sign_image_url(url: str) -> str:
    return _signer().sign_object(url, compress=True)


def unsign_image_url(token: str) -> str | None:
    try:
        value = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError):
        try:
            value = signing.loads(token, salt=_SALT)  # a timestamped token (bodies stored before)
        except signing.BadSignature:
            return None
    return value if isinstance(value, str) else None


def proxied_image_path(url: str) -> str:
    return f"/img/{sign_image_url(url)}/"
