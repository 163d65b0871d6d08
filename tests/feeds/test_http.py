"""The safe HTTP client against a real, hostile local server (no HTTP mocking)."""
from __future__ import annotations

import json
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import quote

import pytest
from django.test import RequestFactory

from feeds.http import FetchError, FetchResponse, fetch_url, forbidden_reason, parse_max_age, parse_retry_after
from feeds.imageproxy import image_proxy, referer_for
from newsroom.imagesign import sign_image_url
from tests.feeds.hostile import ETAG, LAST_MODIFIED, HostileServer

MB = 1024 * 1024


def fetch_error(url: str, **kwargs) -> FetchError:
    kwargs.setdefault("allow_private", True)
    with pytest.raises(FetchError) as info:
        fetch_url(url, **kwargs)
    return info.value


# --------------------------------------------------------------------------
# Plain success, headers, conditional GET
# --------------------------------------------------------------------------
def test_fetch_ok_returns_a_complete_response(hostile: HostileServer) -> None:
    response = fetch_url(hostile.url("/ok"), allow_private=True)
    assert isinstance(response, FetchResponse)
    assert (response.status, response.content, response.url) == (200, b"hello", hostile.url("/ok"))
    assert response.content_type == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "5"  # lower-case keys
    assert response.max_age == 600
    assert 0 < response.elapsed < 5


def test_request_headers_are_honest(hostile: HostileServer, settings) -> None:
    settings.NEWSROOM_USER_AGENT = "NewsroomBot/test (+https://example.org)"
    response = fetch_url(hostile.url("/echo"), allow_private=True, referer="https://mp.weixin.qq.com/")
    sent = json.loads(response.content)
    assert sent["user-agent"] == "NewsroomBot/test (+https://example.org)"
    assert sent["referer"] == "https://mp.weixin.qq.com/"
    assert "gzip" in sent["accept-encoding"] and "rss+xml" in sent["accept"]
    assert "cookie" not in sent


def test_conditional_get_returns_304_without_body(hostile: HostileServer) -> None:
    first = fetch_url(hostile.url("/conditional"), allow_private=True)
    assert (first.status, first.etag, first.last_modified) == (200, ETAG, LAST_MODIFIED)
    by_etag = fetch_url(hostile.url("/conditional"), allow_private=True, etag=first.etag)
    by_date = fetch_url(hostile.url("/conditional"), allow_private=True, last_modified=first.last_modified)
    for response in (by_etag, by_date):
        assert (response.status, response.content) == (304, b"")
        assert (response.etag, response.last_modified) == (ETAG, LAST_MODIFIED)


@pytest.mark.parametrize(
    ("code", "retry_after", "expected"),
    [(404, None, None), (500, None, None), (429, "120", 120), (503, "http-date", 300)],
)
def test_error_statuses_raise_http_status(hostile: HostileServer, code: int, retry_after, expected) -> None:
    url = hostile.url(f"/status/{code}")
    if retry_after == "http-date":
        retry_after = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=300), usegmt=True)
    if retry_after:
        url += "?retry_after=" + quote(retry_after)
    error = fetch_error(url)
    assert (error.kind, error.http_status) == ("http_status", code)
    if expected is None:
        assert error.retry_after is None
    else:
        assert expected - 3 <= error.retry_after <= expected
    assert str(code) in str(error) and "internal detail" not in str(error)


def test_header_parsers() -> None:
    now = datetime(2024, 5, 6, 4, 30, tzinfo=timezone.utc)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Mon, 06 May 2024 04:31:00 GMT", now=now) == 60
    assert parse_retry_after("Mon, 06 May 2024 04:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("\u00b2") is None  # "²".isdigit() is true, int() refuses it
    assert parse_max_age("public, max-age=3600, s-maxage=60") == 3600
    assert parse_max_age("no-cache") is None


# --------------------------------------------------------------------------
# Time: deadline and timeouts
# --------------------------------------------------------------------------
def test_dripping_body_fails_at_the_deadline(hostile: HostileServer) -> None:
    started = time.monotonic()
    error = fetch_error(hostile.url("/drip"), deadline=2, timeout=5)
    spent = time.monotonic() - started
    assert error.kind == "timeout"
    assert 1.9 <= spent < 2.8, spent


def test_dripping_headers_fail_at_the_deadline(hostile: HostileServer) -> None:
    started = time.monotonic()
    error = fetch_error(hostile.url("/slow-headers"), deadline=1.5, timeout=5)
    assert error.kind == "timeout"
    assert time.monotonic() - started < 2.3


def test_silent_server_hits_the_read_timeout(hostile: HostileServer) -> None:
    started = time.monotonic()
    error = fetch_error(hostile.url("/stall?seconds=20"), deadline=10, timeout=1)
    assert error.kind == "timeout"
    assert time.monotonic() - started < 1.8


# --------------------------------------------------------------------------
# Size: plain and compressed bodies
# --------------------------------------------------------------------------
def test_endless_body_is_cut_at_max_bytes(hostile: HostileServer) -> None:
    started = time.monotonic()
    error = fetch_error(hostile.url("/endless"), max_bytes=MB, deadline=5)
    assert error.kind == "too_large"
    assert time.monotonic() - started < 3


def test_content_length_over_the_cap_fails_before_reading(hostile: HostileServer) -> None:
    assert fetch_error(hostile.url("/big?n=50000"), max_bytes=1000).kind == "too_large"
    assert len(fetch_url(hostile.url("/big?n=1000"), allow_private=True, max_bytes=1000).content) == 1000


@pytest.mark.parametrize("path", ["/gzip-bomb", "/deflate-bomb", "/deflate-bomb?raw=1", "/gzip-small-bomb"])
def test_compression_bombs_are_capped_after_decompression(hostile: HostileServer, path: str) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        error = fetch_error(hostile.url(path), max_bytes=2 * MB, deadline=10)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.kind == "too_large"
    assert time.monotonic() - started < 5
    assert peak < 12 * MB, f"peak memory {peak / MB:.1f} MB"


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/gzip-ok", "<rss>你好，世界</rss>".encode()), ("/deflate-ok", "deflated 内容".encode()),
     ("/deflate-ok?raw=1", "deflated 内容".encode())],
)
def test_compressed_bodies_are_decoded(hostile: HostileServer, path: str, expected: bytes) -> None:
    assert fetch_url(hostile.url(path), allow_private=True).content == expected


@pytest.mark.parametrize("path", ["/br-bogus", "/zstd-bogus"])
def test_undecodable_content_encoding_is_an_error_not_garbage(hostile: HostileServer, path: str) -> None:
    assert fetch_error(hostile.url(path)).kind == "connection"


# --------------------------------------------------------------------------
# URLs and redirects
# --------------------------------------------------------------------------
def test_redirect_loop_is_bounded(hostile: HostileServer) -> None:
    error = fetch_error(hostile.url("/redirect-loop"), max_redirects=5)
    assert error.kind == "too_many_redirects"
    assert "5" in str(error)


def test_redirect_chain_within_the_limit_is_followed(hostile: HostileServer) -> None:
    response = fetch_url(hostile.url("/chain/2"), allow_private=True, max_redirects=3)  # 3 hops
    assert (response.content, response.url) == (b"hello", hostile.url("/ok"))
    assert fetch_error(hostile.url("/chain/3"), max_redirects=3).kind == "too_many_redirects"


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://example.com/feed", "gopher://127.0.0.1:6379/_INFO"])
def test_redirect_to_another_scheme_is_refused(hostile: HostileServer, target: str) -> None:
    assert fetch_error(hostile.url("/redirect?to=" + quote(target, safe=""))).kind == "bad_url"


@pytest.mark.parametrize("url", ["ftp://example.com/rss", "javascript:alert(1)", "http://", "not a url", "file:///etc/passwd"])
def test_bad_urls(url: str) -> None:
    assert fetch_error(url).kind == "bad_url"


def test_untrusted_certificate_is_a_tls_error() -> None:
    server = HostileServer(tls=True)
    try:
        error = fetch_error(server.url("/ok"), deadline=3)
    finally:
        server.close()
    assert error.kind == "tls" and "certif" in str(error).lower()


def test_connection_refused_is_a_connection_error() -> None:
    assert fetch_error("http://127.0.0.1:9/feed", deadline=3).kind == "connection"


# --------------------------------------------------------------------------
# SSRF guard
# --------------------------------------------------------------------------
FORBIDDEN = [
    "http://127.0.0.1/", "http://127.5.6.7:8080/", "http://localhost/", "http://10.0.0.1/", "http://172.16.3.4/",
    "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://0.0.0.0/",
    "http://224.0.0.1/", "http://240.0.0.1/", "http://255.255.255.255/", "http://[::1]/", "http://[::]/",
    "http://[fe80::1]/", "http://[fc00::1]/", "http://[ff02::1]/", "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/", "http://[::127.0.0.1]/", "http://[64:ff9b::a00:1]/",
    "http://[2002:7f00:1::]/", "http://0x7f000001/", "http://2130706433/", "http://0177.0.0.1/",
    "http://127.1/", "http://0x7f.0.0.1/", "http://017700000001/",
]


@pytest.mark.parametrize("url", FORBIDDEN)
def test_internal_addresses_are_refused_in_every_spelling(url: str) -> None:
    started = time.monotonic()
    error = fetch_error(url, allow_private=False, deadline=3)
    assert error.kind == "refused_address", str(error)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2001:4860:4860::8888", "64:ff9b::808:808"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(address) is None


def test_an_address_written_out_is_connected_to_without_a_lookup(hostile: HostileServer, monkeypatch) -> None:
    """A feed at an IP literal, in any spelling a resolver takes (``127.1``, ``0x7f000001``),
    needs no DNS: no hop through the resolver pool (a fetch pool's threads each paid two
    thread switches for it). A name still goes through it, and still arrives."""
    from feeds import http

    looked_up: list[str] = []
    real = http._resolver_pool.submit

    def counting(fn, host, *args, **kwargs):
        looked_up.append(host)
        return real(fn, host, *args, **kwargs)

    monkeypatch.setattr(http._resolver_pool, "submit", counting)
    for host in ("127.0.0.1", "127.1", "0x7f000001", "2130706433"):
        assert fetch_url(f"http://{host}:{hostile.port}/ok", allow_private=True).status == 200, host
    assert looked_up == []
    assert fetch_url(f"http://localhost:{hostile.port}/ok", allow_private=True).status == 200
    assert looked_up == ["localhost"]


def test_hostname_resolving_to_loopback_is_refused_after_dns(hostile: HostileServer, fake_dns) -> None:
    fake_dns["feeds.example.com"] = ["127.0.0.1"]
    before = hostile.hit_count("/ok")
    error = fetch_error(f"http://feeds.example.com:{hostile.port}/ok", allow_private=False)
    assert error.kind == "refused_address" and "127.0.0.1" in str(error)
    assert hostile.hit_count("/ok") == before  # nothing was sent


def test_hostname_with_any_private_answer_is_refused(fake_dns) -> None:
    fake_dns["mixed.example.com"] = ["93.184.216.34", "10.1.2.3"]
    assert fetch_error("http://mixed.example.com/", allow_private=False, deadline=3).kind == "refused_address"


def test_settings_default_refuses_private_addresses(hostile: HostileServer, settings) -> None:
    settings.NEWSROOM_ALLOW_PRIVATE_FETCH = False
    with pytest.raises(FetchError) as info:
        fetch_url(hostile.url("/ok"))
    assert info.value.kind == "refused_address"
    settings.NEWSROOM_ALLOW_PRIVATE_FETCH = True
    assert fetch_url(hostile.url("/ok")).content == b"hello"


def test_pretend_public_server_is_reachable(public_server: HostileServer, fake_dns, pretend_public) -> None:
    fake_dns["public.example.com"] = [pretend_public]
    response = fetch_url(f"http://public.example.com:{public_server.port}/chain/1", allow_private=False)
    assert response.content == b"hello"


@pytest.mark.parametrize(
    "target",
    ["http://127.0.0.1:{port}/ok", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/",
     "http://[::1]:{port}/ok", "http://0x7f000001:{port}/ok", "http://rebind.example.com:{port}/ok"],
)
def test_every_redirect_hop_is_checked(
    public_server: HostileServer, hostile: HostileServer, fake_dns, pretend_public, target: str
) -> None:
    fake_dns["public.example.com"] = [pretend_public]
    fake_dns["rebind.example.com"] = ["127.0.0.1"]
    target = target.format(port=hostile.port)
    before = hostile.hit_count("/ok")
    start = f"http://public.example.com:{public_server.port}/redirect?to={quote(target, safe='')}"
    error = fetch_error(start, allow_private=False, deadline=3)
    assert error.kind == "refused_address", str(error)
    assert hostile.hit_count("/ok") == before


# --------------------------------------------------------------------------
# Concurrency
# --------------------------------------------------------------------------
def test_thread_pool_of_32_gets_its_own_answers(hostile: HostileServer) -> None:
    for n in range(40):
        hostile.add(f"t{n}.txt", f"body {n}".encode(), "text/plain")

    def one(n: int) -> tuple[int, bytes | str]:
        if n % 10 == 9:  # a few hostile sources among the good ones
            try:
                fetch_url(hostile.url("/drip"), allow_private=True, deadline=1.5)
            except FetchError as exc:
                return n, exc.kind
        return n, fetch_url(hostile.url(f"/file/t{n}.txt"), allow_private=True).content

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = dict(pool.map(one, range(40)))
    assert time.monotonic() - started < 6
    for n, result in results.items():
        assert result == ("timeout" if n % 10 == 9 else f"body {n}".encode())


# --------------------------------------------------------------------------
# Image proxy
# --------------------------------------------------------------------------
def proxy_get(url: str):
    request = RequestFactory().get("/img/x/")
    return image_proxy(request, sign_image_url(url))


def test_image_proxy_serves_and_caches_images(hostile: HostileServer) -> None:
    url = hostile.url("/image?size=100&type=image/png&n=1")
    before = hostile.hit_count("/image")
    first = proxy_get(url)
    assert first.status_code == 200 and first["Content-Type"] == "image/png"
    assert first.content.startswith(b"\x89PNG")
    assert first["Cache-Control"] == "public, max-age=86400"
    assert first["X-Content-Type-Options"] == "nosniff"
    second = proxy_get(url)
    assert second.content == first.content
    assert hostile.hit_count("/image") == before + 1  # the second one came from the cache


@pytest.mark.parametrize(
    "path", ["/image?type=text/html&n=2", "/image?type=image/svg%2Bxml&n=3", "/image?size=6000000&n=4", "/status/404",
             "/drip"],
)
def test_image_proxy_errors_are_502_without_detail(hostile: HostileServer, settings, path: str) -> None:
    settings.NEWSROOM_FETCH_DEADLINE = 1.5
    response = proxy_get(hostile.url(path))
    assert response.status_code == 502
    assert response.content == b""


def test_image_proxy_rejects_bad_tokens() -> None:
    from django.http import Http404

    with pytest.raises(Http404):
        image_proxy(RequestFactory().get("/img/x/"), "not-a-valid-token")


def test_image_proxy_refuses_internal_addresses(hostile: HostileServer, settings) -> None:
    settings.NEWSROOM_ALLOW_PRIVATE_FETCH = False
    assert proxy_get(hostile.url("/image?n=5")).status_code == 502


@pytest.mark.parametrize(
    ("host", "referer"),
    [("mmbiz.qpic.cn", "https://mp.weixin.qq.com/"), ("puui.qpic.cn", "https://mp.weixin.qq.com/"),
     ("wx1.sinaimg.cn", "https://weibo.com/"), ("img.ithome.com", "https://www.ithome.com/"),
     ("images.example.com", "<none>")],
)
def test_image_proxy_sends_the_referer_each_host_expects(hostile: HostileServer, fake_dns, host: str, referer: str) -> None:
    fake_dns[host] = ["127.0.0.1"]
    response = proxy_get(f"http://{host}:{hostile.port}/referer-image")
    assert response.status_code == 200
    assert response.content.decode() == referer
    assert referer_for(f"https://{host}/a.jpg") == (None if referer == "<none>" else referer)
