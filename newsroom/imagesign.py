"""Signed URLs for our hotlink-safe image proxy (`/img/<token>/`).

`articles` rewrites hotlink-protected <img src> to these URLs when it cleans a
body; the proxy view in `feeds` (which owns the network) unsigns and fetches.
"""
from __future__ import annotations

from django.core import signing

_SALT = "newsroom.imageproxy"


def sign_image_url(url: str) -> str:
    return signing.dumps(url, salt=_SALT, compress=True)


def unsign_image_url(token: str) -> str | None:
    try:
        value = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, str) else None


def proxied_image_path(url: str) -> str:
    return f"/img/{sign_image_url(url)}/"
