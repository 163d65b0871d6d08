"""Step 5 (exact duplicates): one canonical form per article URL.

The same article arrives with different tracking decorations (utm_*, spm,
WeChat's share parameters, fbclid …); the canonical URL drops them so the
url_hash index finds the existing row. WeChat article URLs are special: only
__biz/mid/idx/sn identify the article, everything else is share noise.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = ["TRACKING_PARAMS", "canonicalize_url", "url_hash"]

TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "spm", "spm_id_from", "from", "isappinstalled", "scene", "srcid", "share_token", "fbclid", "gclid",
        "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "ref", "ref_src", "ref_url",
        "referer", "share_source", "share_medium", "share_from", "share_plat", "share_tag", "share_session_id",
        "shareid", "share_id", "sharer_sharetime", "sharer_shareid", "sharer_shareinfo", "sharer_shareinfo_first",
        "sharer_share_id", "wfr", "tt_from", "tt_medium", "timestamp", "tdsourcetag", "chksm", "mpshare",
        "exptype", "subscene", "sessionid", "clicktime", "enterid", "ascene", "devicetype", "version", "nettype",
        "abtest_cookie", "lang", "pass_ticket", "wx_header", "poc_token", "cmpid", "ncid", "ocid", "wt.mc_id",
        "wt_mc", "s_trackid", "vd_source", "utm", "bdtype", "xhsshare", "app_platform", "unique_k", "mid_token",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "hmsr", "hmpl", "hmcu", "hmkw", "hmci", "sharer_", "share_")
_WECHAT_HOST = "mp.weixin.qq.com"
_WECHAT_KEEP = ("__biz", "mid", "idx", "sn")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


@lru_cache(maxsize=4096)
def canonicalize_url(url: str) -> str:
    """Lowercase scheme/host, no default port/fragment/userinfo, tracking
    parameters removed, the rest sorted. Non-http(s) input comes back stripped.

    Kept per process for the last few thousand URLs (the answer depends on the URL
    only): ingest asks it four times an entry, for the link and for its canonical
    form, when the batch looks rows up and when the entry is prepared."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~-._")
    params = parse_qsl(parts.query, keep_blank_values=True)
    if host == _WECHAT_HOST and path.startswith("/s"):
        params = [(k, v) for k, v in params if k in _WECHAT_KEEP]
    else:
        params = [(k, v) for k, v in params if not _is_tracking(k)]
    query = urlencode(sorted(params), doseq=True)
    return urlunsplit((scheme, netloc, path, query, ""))


def url_hash(url: str) -> str:
    """sha1 hex of the canonical URL (the Article.url_hash column)."""
    return hashlib.sha1(canonicalize_url(url).encode("utf-8", "surrogatepass")).hexdigest()
