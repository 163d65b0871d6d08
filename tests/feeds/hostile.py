"""A deliberately hostile HTTP server and hostile payloads for the fetcher tests.

Real sockets, real HTTP: a threaded ``http.server`` on a loopback address and
a random port. Every endless response stops when the client hangs up or after
``MAX_LIFETIME`` seconds, so a failing test cannot leave threads spinning.
"""
from __future__ import annotations

import gzip
import json
import re
import ssl
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

MAX_LIFETIME = 60.0
ZERO_BLOCK = bytes(1024 * 1024)
LAST_MODIFIED = "Mon, 06 May 2024 04:30:00 GMT"
ETAG = '"v1-newsroom"'
_HEADER_LINE = re.compile(r"^Header:\s+([^:]+):(.*)$", re.M)

# ---------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>laughs &lol9;</title><link>http://example.com/1</link><description>&lol9;</description></item>
</channel></rss>
"""


def quadratic_blowup(size: int = 100_000, refs: int = 20_000) -> bytes:
    """One big entity referenced many times (defeats naive depth limits)."""
    entity = "A" * size
    body = "&a;" * refs
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "{entity}">]>\n'
        f'<rss version="2.0"><channel><title>q</title><item><title>blow</title>'
        f"<link>http://example.com/q</link><description>{body}</description></item></channel></rss>"
    ).encode()


EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
  <!ENTITY remote SYSTEM "http://127.0.0.1:9/evil.dtd">
  <!ENTITY % pe SYSTEM "http://127.0.0.1:9/param.dtd"> %pe;
]>
<rss version="2.0"><channel><title>xxe &xxe;</title>
<item><title>leak &xxe; &remote;</title><link>http://example.com/x</link><description>&xxe;</description></item>
</channel></rss>
"""

# The DOCTYPE hides behind tricks a naive regex would miss: '>' inside a quoted
# entity value, a comment inside the internal subset, a CDATA opener in a comment.
TRICKY_DOCTYPE = b"""<?xml version="1.0"?>
<!-- <![CDATA[ -->
<!DOCTYPE rss [
  <!-- ] > -->
  <!ENTITY a "x>]>&#60;">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<!-- ]]> -->
<rss version="2.0"><channel><title>tricky</title>
<item><title>t &c;</title><link>http://example.com/t</link><description><![CDATA[<p>ok <!DOCTYPE html> &nbsp;</p>]]></description></item>
</channel></rss>
"""

ZH_TITLE = "华为发布昇腾芯片，朱镕基题词"  # 镕 is outside GB2312 but in GBK/GB18030


def chinese_feed(declared: str, *, title: str = ZH_TITLE, encode_as: str = "gb18030") -> bytes:
    decl = f'<?xml version="1.0" encoding="{declared}"?>\n' if declared else ""
    text = (
        f"{decl}<rss version=\"2.0\"><channel><title>{title}</title><link>http://example.cn/</link>"
        f"<language>zh-cn</language><item><title>{title}</title><link>http://example.cn/a/1</link>"
        f"<pubDate>2024-05-06 12:30:00</pubDate><description>正文摘要：{title}</description></item>"
        "</channel></rss>"
    )
    return text.encode(encode_as)


def _small_gzip_bomb(megabytes: int = 50) -> bytes:
    """50 MB of zeros in ~50 KB, built once with a bounded buffer."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(ZERO_BLOCK) for _ in range(megabytes)]
    return b"".join(parts) + compressor.flush()


SMALL_GZIP_BOMB = _small_gzip_bomb()

# A throwaway self-signed certificate for 127.0.0.1 (test only, valid until 2126):
# our client must reject it because nothing trusts it.
SELF_SIGNED_PEM = """-----BEGIN CERTIFICATE-----
MIIBmjCCAUGgAwIBAgIURsDRUHxY54w56inkGbekKaeOG4kwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNTE0NDkwMloYDzIxMjYxMTAx
MTQ0OTAyWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASkllUUGgeif3AiTAtkGYNOl5R5NooN1eTsBntihMtiaYoNshnJb/VL
9ZPHwynLF7U/BEUt2uMGEZ72543DftOzo28wbTAdBgNVHQ4EFgQUKCqqEAdxFSDe
9oHC1yMGcdMJ5zIwHwYDVR0jBBgwFoAUKCqqEAdxFSDe9oHC1yMGcdMJ5zIwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDRwAwRAIgRE/qUIR3LcfUoHcreov5y/zlBtzbwBFWTv/pyvOvfUQCIAvt
SqIfMnduWn1TsOEZ/7Nj8BAprPloxt21S5sLhYne
-----END CERTIFICATE-----
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg92CEL0NTrcU9pvQu
UjzI+guOi3K6ikoCV9Uay0Jp/omhRANCAASkllUUGgeif3AiTAtkGYNOl5R5NooN
1eTsBntihMtiaYoNshnJb/VL9ZPHwynLF7U/BEUt2uMGEZ72543DftOz
-----END PRIVATE KEY-----
"""

HTML_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>域名出售</title></head>
<body><h1>This domain is for sale / 本域名出售</h1><p>Contact us.</p></body></html>""".encode()


def corpus_headers(data: bytes) -> list[tuple[str, str]]:
    """``Header: Name: value`` lines from a feedparser test file's leading comment."""
    text = data[:4096]
    for bom, codec in ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                       (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if text.startswith(bom):
            decoded = text.decode(codec, "ignore")
            break
    else:
        if text[:4] in (b"\x00\x00\x00<", b"<\x00\x00\x00"):
            decoded = text.decode("utf-32-be" if text[0] == 0 else "utf-32-le", "ignore")
        elif text[:4] in (b"\x00<\x00?", b"<\x00?\x00"):
            decoded = text.decode("utf-16-be" if text[0] == 0 else "utf-16-le", "ignore")
        else:
            decoded = text.decode("utf-8", "ignore")
    return [(name.strip(), value.strip()) for name, value in _HEADER_LINE.findall(decoded)]


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------
class HostileServer:
    """Routes (all GET):

    /ok, /echo (request headers as JSON), /file/<name> (registered bytes),
    /corpus/<relative path>, /drip, /slow-headers, /stall, /endless,
    /big?n=, /gzip-bomb (streamed, up to 1 GiB of zeros), /gzip-small-bomb,
    /gzip-ok, /deflate-bomb?raw=1, /deflate-ok?raw=1, /br-bogus,
    /redirect-loop, /chain/<n>, /redirect?to=<url>, /status/<code>?retry_after=,
    /conditional, /image?type=&size=, /referer-image.
    """

    def __init__(self, host: str = "127.0.0.1", corpus_root: Path | None = None, *, tls: bool = False) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.hits: dict[str, int] = {}
        self.corpus_root = corpus_root
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, 0), self._handler())
        self.httpd.daemon_threads = True
        self.scheme = "https" if tls else "http"
        if tls:
            self._wrap_tls()
        self.host, self.port = host, self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name=f"hostile-{self.port}")
        self.thread.start()

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def _wrap_tls(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
            pem.write(SELF_SIGNED_PEM)
            pem.flush()
            context.load_cert_chain(pem.name)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)

    def add(self, name: str, body: bytes, content_type: str = "application/xml") -> str:
        self.files[name] = (body, content_type)
        return self.url(f"/file/{name}")

    def hit_count(self, path: str) -> int:
        with self._lock:
            return self.hits.get(path, 0)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # bodies end when the connection closes

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                with server._lock:
                    server.hits[parts.path] = server.hits.get(parts.path, 0) + 1
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                try:
                    self._route(parts.path, query)
                except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
                    pass  # the client gave up, which is the point of most routes

            # -- helpers --------------------------------------------------
            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
                headers.setdefault("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def _stream(self, chunks, headers: dict[str, str]) -> None:
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                started = time.monotonic()
                for chunk in chunks:
                    if time.monotonic() - started > MAX_LIFETIME:
                        return
                    self.wfile.write(chunk)

            def _bomb(self, compressor) -> object:
                for _ in range(1024):  # 1 GiB of zeros, compressed on the fly
                    out = compressor.compress(ZERO_BLOCK)
                    if out:
                        yield out
                yield compressor.flush()

            # -- routes ---------------------------------------------------
            def _route(self, path: str, q: dict[str, str]) -> None:
                if path == "/ok":
                    return self._send(200, b"hello", {"Cache-Control": "public, max-age=600"})
                if path == "/echo":
                    body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
                    return self._send(200, body, {"Content-Type": "application/json"})
                if path.startswith("/file/"):
                    body, ctype = server.files[unquote(path[len("/file/"):])]
                    return self._send(200, body, {"Content-Type": ctype})
                if path.startswith("/corpus/") and server.corpus_root is not None:
                    return self._corpus(unquote(path[len("/corpus/"):]))
                if path == "/drip":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/xml")
                    self.end_headers()
                    return self._drip(b"<rss>" + b" " * 10_000)
                if path == "/slow-headers":
                    return self._drip(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nX-Slow: " + b"a" * 10_000)
                if path == "/stall":
                    time.sleep(min(MAX_LIFETIME, float(q.get("seconds", "30"))))
                    return self._send(200, b"late")
                if path == "/endless":
                    return self._stream(iter(lambda: b"A" * 65536, None), {"Content-Type": "text/plain"})
                if path == "/big":
                    return self._send(200, b"B" * int(q.get("n", "1000")))
                if path == "/gzip-bomb":
                    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
                    return self._stream(self._bomb(compressor), {"Content-Type": "application/xml", "Content-Encoding": "gzip"})
                if path == "/gzip-small-bomb":
                    body = SMALL_GZIP_BOMB
                    return self._send(200, body, {"Content-Type": "application/xml", "Content-Encoding": "gzip"})
                if path == "/gzip-ok":
                    # Two gzip members back to back: legal, and some servers do it.
                    body = gzip.compress("<rss>你好，".encode()) + gzip.compress("世界</rss>".encode())
                    return self._send(200, body, {"Content-Type": "application/xml", "Content-Encoding": "gzip"})
                if path == "/deflate-bomb":
                    wbits = -zlib.MAX_WBITS if q.get("raw") else zlib.MAX_WBITS
                    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
                    return self._stream(self._bomb(compressor), {"Content-Type": "application/xml", "Content-Encoding": "deflate"})
                if path == "/deflate-ok":
                    wbits = -zlib.MAX_WBITS if q.get("raw") else zlib.MAX_WBITS
                    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
                    body = compressor.compress("deflated 内容".encode()) + compressor.flush()
                    return self._send(200, body, {"Content-Encoding": "deflate"})
                if path == "/br-bogus":
                    return self._send(200, b"\x8b\x7f\x00not brotli at all" * 10, {"Content-Encoding": "br"})
                if path == "/zstd-bogus":
                    return self._send(200, b"\x28\xb5\x2f\xfd garbage", {"Content-Encoding": "zstd"})
                if path == "/redirect-loop":
                    return self._send(302, b"", {"Location": "/redirect-loop"})
                if path.startswith("/chain/"):
                    n = int(path.rsplit("/", 1)[1])
                    return self._send(302, b"", {"Location": f"/chain/{n - 1}" if n > 0 else "/ok"})
                if path == "/redirect":
                    return self._send(int(q.get("code", "302")), b"", {"Location": q["to"]})
                if path.startswith("/status/"):
                    headers = {"Retry-After": q["retry_after"]} if "retry_after" in q else {}
                    return self._send(int(path.rsplit("/", 1)[1]), b"error page with internal detail", headers)
                if path == "/conditional":
                    validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
                    if self.headers.get("If-None-Match") == ETAG or self.headers.get("If-Modified-Since") == LAST_MODIFIED:
                        self.send_response(304)
                        for name, value in validators.items():
                            self.send_header(name, value)
                        self.end_headers()
                        return None
                    return self._send(200, b"<rss/>", {"Content-Type": "application/rss+xml", **validators})
                if path == "/image":
                    size = int(q.get("size", "68"))
                    return self._send(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * size, {"Content-Type": q.get("type", "image/png")})
                if path == "/referer-image":
                    body = (self.headers.get("Referer") or "<none>").encode()
                    return self._send(200, body, {"Content-Type": "image/gif"})
                return self._send(404, b"not found")

            def _drip(self, payload: bytes) -> None:
                started = time.monotonic()
                for byte in payload:
                    if time.monotonic() - started > MAX_LIFETIME:
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.5)

            def _corpus(self, relative: str) -> None:
                root = server.corpus_root
                assert root is not None
                file = (root / relative).resolve()
                if root.resolve() not in file.parents or not file.is_file():
                    return self._send(404, b"no such corpus file")
                data = file.read_bytes()
                headers = {"Content-Type": "application/xml"}
                for name, value in corpus_headers(data):
                    headers[name] = value
                return self._send(200, data, headers)

        return Handler
