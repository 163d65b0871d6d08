"""`/img/<token>/`: a hotlink-safe image proxy for WeChat, Weibo and IT之家 images.

Those CDNs refuse our readers' browsers (wrong or missing Referer); we fetch
the image server-side with the Referer each host expects. The token is signed
(newsroom.imagesign), so the proxy cannot be pointed at arbitrary URLs, and
every fetch still goes through the SSRF-guarded client.
"""
from __future__ import annotations

import hashlib
import logging
from urllib.parse import urlsplit

from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from feeds.http import FetchError, fetch_url
from newsroom.imagesign import unsign_image_url

logger = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 5 * 1024 * 1024
CACHE_SECONDS = 86400
IMAGE_ACCEPT = "image/avif,image/webp,image/apng,image/*;q=0.9,*/*;q=0.1"
# Host suffix → the Referer its hotlink protection wants to see.
REFERER_RULES: tuple[tuple[str, str], ...] = (
    ("mmbiz.qpic.cn", "https://mp.weixin.qq.com/"),
    ("qpic.cn", "https://mp.weixin.qq.com/"),
    ("sinaimg.cn", "https://weibo.com/"),
    ("ithome.com", "https://www.ithome.com/"),
)
# SVG can carry script and would run on our origin: never proxy it.
_REFUSED_TYPES = frozenset({"image/svg+xml"})


def referer_for(url: str) -> str | None:
    host = (urlsplit(url).hostname or "").lower()
    for suffix, referer in REFERER_RULES:
        if host == suffix or host.endswith("." + suffix):
            return referer
    return None


def _cache_key(url: str) -> str:
    return "imgproxy:" + hashlib.sha256(url.encode("utf-8")).hexdigest()


def _image_response(content: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _bad_gateway() -> HttpResponse:
    # No upstream detail in the body: it could leak internal addresses or errors.
    response = HttpResponse(b"", status=502, content_type="text/plain")
    response["Cache-Control"] = "no-store"
    return response


def _fetch_image(url: str) -> tuple[bytes, str] | None:
    try:
        fetched = fetch_url(url, referer=referer_for(url), accept=IMAGE_ACCEPT, max_bytes=MAX_IMAGE_BYTES)
    except FetchError as exc:
        logger.info("image proxy fetch failed: %s", exc)
        return None
    content_type = fetched.content_type.split(";", 1)[0].strip().lower()
    if fetched.status != 200 or not content_type.startswith("image/") or content_type in _REFUSED_TYPES:
        logger.info("image proxy refused %s (%s, %s)", url, fetched.status, content_type)
        return None
    return fetched.content, content_type


@require_safe
def image_proxy(request: HttpRequest, token: str) -> HttpResponse:
    url = unsign_image_url(token)
    if not url or urlsplit(url).scheme not in ("http", "https"):
        raise Http404("bad image token")
    key = _cache_key(url)
    cached = cache.get(key)
    if cached is None:
        cached = _fetch_image(url)
        if cached is None:
            return _bad_gateway()
        cache.set(key, cached, CACHE_SECONDS)
    content, content_type = cached
    return _image_response(content, content_type)
