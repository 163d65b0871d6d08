"""The one safe HTTP client every fetch goes through.

Editor-entered URLs and everything a remote server sends are untrusted. This
module guarantees that one bad source costs one error, never a hung worker, a
blown-up memory or a request to our own network:

* connect/read/write timeouts, plus a wall-clock deadline for the whole
  request. The deadline is enforced inside the network stream (every socket
  read/write gets ``min(timeout, time left)``), so a server dripping one byte
  at a time — in the headers or the body — cannot outlive it.
* a cap on the body counted *after* decompression; we decode gzip/deflate
  ourselves with a bounded output size per step, so a compression bomb costs
  at most ``max_bytes`` plus one small chunk of memory.
* redirects followed by hand, bounded, http/https only.
* an SSRF guard on the address actually connected to: our network backend
  resolves the name once, refuses non-public addresses and connects to that
  exact literal address (no second lookup, so DNS rebinding cannot slip
  through), on every hop and every new pooled connection.
"""
from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import urljoin, urlsplit

import certifi
import httpcore
import httpx

try:  # Optional: only advertised/decoded when a bounded decoder is available.
    import brotli  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None

DEFAULT_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, "
    "text/html;q=0.8, application/xhtml+xml;q=0.8, */*;q=0.5"
)
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_DECODE_CHUNK = 64 * 1024  # max bytes produced by one decompression step
_FALLBACKS: dict[str, Any] = {
    "NEWSROOM_ALLOW_PRIVATE_FETCH": False,
    "NEWSROOM_FETCH_MAX_BYTES": 10 * 1024 * 1024,
    "NEWSROOM_FETCH_DEADLINE": 30.0,
    "NEWSROOM_FETCH_TIMEOUT": 10.0,
    "NEWSROOM_FETCH_MAX_REDIRECTS": 5,
    "NEWSROOM_USER_AGENT": "NewsroomBot/0.1 (self-hosted news aggregator)",
}

FETCH_ERROR_KINDS = frozenset(
    {"timeout", "too_large", "refused_address", "bad_url", "too_many_redirects", "http_status", "connection", "tls"}
)
_KIND_LABELS = {
    "timeout": "请求超时",
    "too_large": "响应过大",
    "refused_address": "拒绝访问内网地址",
    "bad_url": "网址无效",
    "too_many_redirects": "重定向次数过多",
    "http_status": "HTTP 错误",
    "connection": "连接失败",
    "tls": "TLS/证书错误",
}


class FetchError(Exception):
    """A fetch that did not produce a usable response.

    ``kind`` is one of FETCH_ERROR_KINDS (stored on the source for editors and
    used for backoff decisions); ``str()`` is a bilingual message.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        url: str = "",
        http_status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        assert kind in FETCH_ERROR_KINDS, kind
        self.kind = kind
        self.url = url
        self.http_status = http_status
        self.retry_after = retry_after
        self.detail = message
        super().__init__(kind, message)

    def __str__(self) -> str:
        text = f"{_KIND_LABELS[self.kind]} ({self.kind}): {self.detail}"
        return f"{text} — {self.url}" if self.url else text


@dataclass
class FetchResponse:
    url: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    etag: str = ""
    last_modified: str = ""
    max_age: int | None = None
    retry_after: int | None = None
    elapsed: float = 0.0
    content_type: str = ""


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------
def _setting(name: str) -> Any:
    # Lazily read so tests can override settings; works outside Django too.
    try:
        from django.conf import settings

        return getattr(settings, name, _FALLBACKS[name])
    except Exception:  # ImproperlyConfigured when Django is not set up
        return _FALLBACKS[name]


# --------------------------------------------------------------------------
# Address policy (SSRF guard)
# --------------------------------------------------------------------------
_NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SHARED_V4 = ipaddress.ip_network("100.64.0.0/10")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to, if any (mapped, NAT64, 6to4)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if any(ip in net for net in _NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def forbidden_reason(address: str) -> str | None:
    """Why we refuse to connect to ``address`` (an IP literal), or None if public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = forbidden_reason(str(inner))
            return f"embeds {inner}: {reason}" if reason else None
    checks = (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("shared address space", isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_V4),
        ("not globally routable", not ip.is_global),
    )
    for label, hit in checks:
        if hit:
            return f"{ip} is {label}"
    return None


def _legacy_ipv4(host: str) -> str | None:
    """Normalize inet_aton spellings (2130706433, 0x7f000001, 0177.0.0.1, 127.1)."""
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", host) or not re.search(r"\d", host):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def _ip_literal(host: str) -> str | None:
    """The address ``host`` is if it is an IP literal in any spelling (``[::1]``, ``127.1``,
    ``0x7f000001``: what ``getaddrinfo`` would answer for it), else None (a name)."""
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
        return bare
    except ValueError:
        return _legacy_ipv4(bare)


def _literal_host_reason(host: str) -> str | None:
    """Early, pre-DNS refusal for hosts that are IP literals in any spelling."""
    bare = host.strip("[]")
    literal = _ip_literal(bare)
    if literal is None:
        if bare.lower() in {"localhost", "localhost.localdomain"} or bare.lower().endswith(".localhost"):
            return f"{bare} is loopback"
        return None
    return forbidden_reason(literal)


# --------------------------------------------------------------------------
# Per-request deadline shared with the network layer
# --------------------------------------------------------------------------
_local = threading.local()


def _time_left() -> float | None:
    deadline = getattr(_local, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


def _clamp(timeout: float | None) -> float | None:
    """Shrink a socket timeout to the time left before the request deadline."""
    left = _time_left()
    if left is None:
        return timeout
    if left <= 0:
        raise httpcore.ReadTimeout("request deadline exceeded")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """Wraps a socket stream so no single read/write can outlive the deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None):
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


# getaddrinfo has no timeout of its own: run it in a small pool and stop waiting
# at the deadline (the worker thread finishes when the resolver gives up).
_resolver_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="newsroom-dns")


def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    literal = _ip_literal(host)
    if literal is not None:  # nothing to look up: no hop through the resolver pool
        return [literal]
    future = _resolver_pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout)
    except FutureTimeout:
        raise httpcore.ConnectTimeout(f"DNS lookup for {host} timed out") from None
    except (OSError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"DNS lookup for {host} failed: {exc}") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, validates and connects to the validated literal address."""

    def __init__(self, guard: bool) -> None:
        self._guard = guard
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port, _clamp(timeout))
        if not addresses:
            raise httpcore.ConnectError(f"{host} did not resolve")
        if self._guard:
            # Refuse when *any* answer is internal: a name mixing public and
            # private answers is an attack, not a misconfiguration to work around.
            for address in addresses:
                reason = forbidden_reason(address)
                if reason:
                    raise FetchError("refused_address", f"{host} → {reason}")
        last_error: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address, port, _clamp(timeout), local_address=local_address, socket_options=socket_options
                )
                return _DeadlineStream(stream)
            except httpcore.ConnectError as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None):
        raise FetchError("refused_address", "unix sockets are never fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, guard: bool) -> None:
        super().__init__(trust_env=False, retries=0)
        # Same trust store httpx uses by default, but our own pool with our backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=100,
            max_keepalive_connections=40,
            keepalive_expiry=30.0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=_GuardedBackend(guard),
        )


class _NoCookies(DefaultCookiePolicy):
    # One client serves every source from many threads: never carry cookies
    # from one site's response into another request.
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


_clients: dict[bool, httpx.Client] = {}
_clients_lock = threading.Lock()


def _client(guard: bool) -> httpx.Client:
    """Module-level pooled clients; guarded and unguarded never share sockets."""
    with _clients_lock:
        client = _clients.get(guard)
        if client is None:
            client = httpx.Client(
                transport=_GuardedTransport(guard),
                follow_redirects=False,
                trust_env=False,  # env proxies would bypass the address guard
                cookies=CookieJar(policy=_NoCookies()),
            )
            _clients[guard] = client
        return client


# --------------------------------------------------------------------------
# Bounded content decoding
# --------------------------------------------------------------------------
class _ZlibDecoder:
    """gzip (multi-member) / deflate (zlib or raw) with bounded output per step."""

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._raw_fallback = kind == "deflate"
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS if kind == "gzip" else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                out = self._obj.decompress(data, _DECODE_CHUNK)
            except zlib.error:
                if not self._raw_fallback:
                    raise
                # Some servers send raw deflate without the zlib header.
                self._raw_fallback = False
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_fallback = False
            if out:
                yield out
            data = self._obj.unconsumed_tail
            if self._obj.eof:
                rest = self._obj.unused_data
                if self._kind == "gzip" and rest.startswith(b"\x1f\x8b"):
                    self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data = rest
                else:
                    return

    def flush(self) -> Iterator[bytes]:
        out = self._obj.flush()
        if out:
            yield out


class _BrotliDecoder:
    """Brotli, only when the installed module can bound its output."""

    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        out = self._obj.process(data, output_buffer_limit=_DECODE_CHUNK)
        yield out
        while not self._obj.is_finished() and not self._obj.can_accept_more_data():
            yield self._obj.process(b"", output_buffer_limit=_DECODE_CHUNK)

    def flush(self) -> Iterator[bytes]:
        return iter(())


def _brotli_bounded() -> bool:
    if brotli is None:
        return False
    try:
        brotli.Decompressor().process(b"", output_buffer_limit=1)
    except TypeError:
        return False
    except Exception:
        return True
    return True


_BROTLI_OK = _brotli_bounded()
_CORRUPT_BODY_ERRORS: tuple[type[BaseException], ...] = (zlib.error,) + (
    (brotli.error,) if brotli is not None and hasattr(brotli, "error") else ()
)
ACCEPT_ENCODING = "gzip, deflate, br" if _BROTLI_OK else "gzip, deflate"


def _decoders(content_encoding: str) -> list[Any]:
    decoders: list[Any] = []
    for token in (t.strip().lower() for t in content_encoding.split(",")):
        if token in ("", "identity"):
            continue
        if token in ("gzip", "x-gzip"):
            decoders.append(_ZlibDecoder("gzip"))
        elif token == "deflate":
            decoders.append(_ZlibDecoder("deflate"))
        elif token == "br" and _BROTLI_OK:
            decoders.append(_BrotliDecoder())
        else:
            raise FetchError("connection", f"unsupported Content-Encoding {token!r} / 无法解码的内容编码")
    # Content-Encoding lists codings in the order applied; undo them in reverse.
    return list(reversed(decoders))


def _run_chain(decoders: list[Any], data: bytes, final: bool) -> Iterator[bytes]:
    if not decoders:
        if data:
            yield data
        return
    head, rest = decoders[0], decoders[1:]
    for piece in head.feed(data):
        yield from _run_chain(rest, piece, False)
    if final:
        for piece in head.flush():
            yield from _run_chain(rest, piece, False)
        yield from _run_chain(rest, b"", True)


# --------------------------------------------------------------------------
# Header helpers
# --------------------------------------------------------------------------
def parse_retry_after(value: str | None, now: datetime | None = None) -> int | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is true too, and int() refuses it
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0, int((when - now).total_seconds()))


def parse_max_age(cache_control: str | None) -> int | None:
    match = re.search(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", cache_control or "", re.I)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------
# The fetch
# --------------------------------------------------------------------------
def _check_url(url: str, guard: bool) -> str:
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise FetchError("bad_url", f"unparseable URL / 无法解析的网址: {exc}", url=url) from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError("bad_url", f"only http/https are fetched, not {parts.scheme or 'none'!r} / 只支持 http、https", url=url)
    if not parts.hostname:
        raise FetchError("bad_url", "URL has no host / 网址缺少主机名", url=url)
    if guard:
        reason = _literal_host_reason(parts.hostname)
        if reason:
            raise FetchError("refused_address", reason, url=url)
    return url.strip()


def _request_headers(accept: str, referer: str | None, etag: str, last_modified: str) -> dict[str, str]:
    headers = {
        "User-Agent": str(_setting("NEWSROOM_USER_AGENT")),
        "Accept": accept,
        "Accept-Encoding": ACCEPT_ENCODING,
        "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.7",
    }
    if referer:
        headers["Referer"] = referer
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _read_body(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    length = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "")
    if length.isascii() and length.isdigit() and not encoding and int(length) > max_bytes:
        raise FetchError("too_large", f"Content-Length {length} > {max_bytes} bytes / 超过上限", url=url)
    decoders = _decoders(encoding)
    body = bytearray()

    def take(pieces: Iterator[bytes]) -> None:
        for piece in pieces:
            body.extend(piece)
            if len(body) > max_bytes:
                raise FetchError("too_large", f"body exceeds {max_bytes} bytes after decompression / 解压后超过上限", url=url)

    try:
        for raw in response.iter_raw(_DECODE_CHUNK):
            take(_run_chain(decoders, raw, False))
            if _time_left() is not None and _time_left() <= 0:
                raise httpcore.ReadTimeout("request deadline exceeded")
        take(_run_chain(decoders, b"", True))
    except _CORRUPT_BODY_ERRORS as exc:
        raise FetchError("connection", f"corrupt compressed body / 压缩数据损坏: {exc}", url=url) from exc
    return bytes(body)


def _translate(exc: Exception, url: str, deadline: float, started: float) -> FetchError:
    """Map httpx/httpcore exceptions to FetchError kinds an editor can act on."""
    if isinstance(exc, FetchError):
        if not exc.url:
            exc.url = url
        return exc
    if isinstance(exc, (httpx.TimeoutException, httpcore.TimeoutException)):
        spent = time.monotonic() - started
        if spent >= deadline - 0.05:
            return FetchError("timeout", f"whole request exceeded the {deadline:g}s deadline / 超过总时限", url=url)
        return FetchError("timeout", f"no response within the timeout ({exc}) / 服务器无响应", url=url)
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return FetchError("bad_url", f"{exc} / 网址无效", url=url)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (ssl.SSLError, ssl.CertificateError)):
            return FetchError("tls", f"{cause} / 证书或 TLS 握手失败", url=url)
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.HTTPError | httpcore.NetworkError | httpcore.ProtocolError | OSError):
        return FetchError("connection", f"{exc or type(exc).__name__} / 网络连接失败", url=url)
    return FetchError("connection", f"{type(exc).__name__}: {exc}", url=url)


def _redirect_target(response: httpx.Response, current: str) -> str | None:
    if response.status_code not in _REDIRECT_CODES:
        return None
    location = response.headers.get("location", "").strip()
    if not location:
        return None
    return urljoin(current, location)


def _build_response(
    response: httpx.Response, url: str, content: bytes, etag: str, last_modified: str, started: float
) -> FetchResponse:
    headers = {k.lower(): v for k, v in response.headers.items()}
    return FetchResponse(
        url=url,
        status=response.status_code,
        headers=headers,
        content=content,
        # On 304 the server may omit validators: keep the ones we sent.
        etag=headers.get("etag", etag if response.status_code == 304 else ""),
        last_modified=headers.get("last-modified", last_modified if response.status_code == 304 else ""),
        max_age=parse_max_age(headers.get("cache-control")),
        retry_after=parse_retry_after(headers.get("retry-after")),
        elapsed=time.monotonic() - started,
        content_type=headers.get("content-type", ""),
    )


def fetch_url(
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    referer: str | None = None,
    accept: str = DEFAULT_ACCEPT,
    allow_private: bool | None = None,
    max_bytes: int | None = None,
    deadline: float | None = None,
    timeout: float | None = None,
    max_redirects: int | None = None,
) -> FetchResponse:
    """GET ``url`` safely; returns a 200/304 FetchResponse or raises FetchError."""
    allow = bool(_setting("NEWSROOM_ALLOW_PRIVATE_FETCH")) if allow_private is None else allow_private
    max_bytes = int(_setting("NEWSROOM_FETCH_MAX_BYTES")) if max_bytes is None else max_bytes
    deadline = float(_setting("NEWSROOM_FETCH_DEADLINE")) if deadline is None else deadline
    timeout = float(_setting("NEWSROOM_FETCH_TIMEOUT")) if timeout is None else timeout
    max_redirects = int(_setting("NEWSROOM_FETCH_MAX_REDIRECTS")) if max_redirects is None else max_redirects
    guard = not allow
    started = time.monotonic()
    previous_deadline = getattr(_local, "deadline", None)
    _local.deadline = started + deadline
    client = _client(guard)
    current = url
    try:
        for _hop in range(max_redirects + 1):
            current = _check_url(current, guard)
            request = client.build_request(
                "GET",
                current,
                headers=_request_headers(accept, referer, etag, last_modified),
                timeout=httpx.Timeout(timeout, pool=min(timeout, deadline)),
            )
            response = client.send(request, stream=True)
            try:
                target = _redirect_target(response, current)
                if target is not None:
                    current = target
                    continue
                status = response.status_code
                if status == 304:
                    return _build_response(response, current, b"", etag, last_modified, started)
                if not 200 <= status < 300:
                    raise FetchError(
                        "http_status",
                        f"server answered {status} {response.reason_phrase} / 服务器返回 {status}",
                        url=current,
                        http_status=status,
                        retry_after=parse_retry_after(response.headers.get("retry-after")),
                    )
                content = _read_body(response, max_bytes, current)
                return _build_response(response, current, content, etag, last_modified, started)
            finally:
                response.close()
        raise FetchError("too_many_redirects", f"more than {max_redirects} redirects / 重定向超过 {max_redirects} 次", url=url)
    except FetchError as exc:
        raise _translate(exc, current, deadline, started)
    except Exception as exc:  # httpx/httpcore/OS errors: never let them escape untyped
        raise _translate(exc, current, deadline, started) from exc
    finally:
        _local.deadline = previous_deadline
