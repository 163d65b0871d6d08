"""Refresh benchmark: N sources whose server answers each request after `delay` seconds.

Call with Django set up against the test PostgreSQL database:

    from bench.bench_refresh import run_refresh_bench
    run_refresh_bench(n_sources=1000, delay=0.2)
    # {"sources": 1000, "seconds": 9.8, "errors": 0, ...}: the median of three refreshes

Every source is on one host (the local server, run in a process of its own
as a feed's server would be), so this also exercises the
per-host politeness limit: the bench raises NEWSROOM_PER_HOST_CONCURRENCY to
the pool size, as an operator would for a host they own. The rows it creates
(sources, their articles, fetch logs) are deleted afterwards (bench.cleanup).
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

ENTRIES_PER_FEED = 3
REFRESH_ROUNDS = 3


def _feed(n: int) -> bytes:
    now = datetime.now(timezone.utc)
    items = []
    for i in range(ENTRIES_PER_FEED):
        when = format_datetime(now - timedelta(hours=6 * i + n % 5), usegmt=True)
        items.append(
            f"<item><title>基准源 {n} 的第 {i} 篇：芯片与开源模型的新进展</title>"
            f"<link>http://bench.invalid/{n}/{i}</link><guid>bench-{n}-{i}</guid><pubDate>{when}</pubDate>"
            f"<description>&lt;p&gt;第 {n} 个源第 {i} 篇文章的摘要，介绍处理器、显卡与大模型推理的最新消息。"
            f"Source {n} entry {i}.&lt;/p&gt;</description></item>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>基准源 {n}</title>'
        f"<link>http://bench.invalid/{n}/</link><language>zh-cn</language>{''.join(items)}</channel></rss>"
    ).encode()


class _SlowServer:
    def __init__(self, delay: float) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                time.sleep(delay)
                try:
                    n = int(self.path.strip("/").split("/")[1].split(".")[0])
                except (IndexError, ValueError):
                    n = 0
                body = _feed(n)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _ServerProcess:
    """The slow server in a process of its own, as a feed's server is: in the fetching
    process its request handling took the interpreter lock from the fetches it serves."""

    def __init__(self, delay: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_refresh", "--serve", str(delay)],
            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self.process.kill()
            raise RuntimeError(f"the refresh bench's feed server did not start: {line!r}")
        self.port = int(line)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def run_refresh_bench(n_sources: int = 1000, delay: float = 0.2, *, concurrency: int | None = None) -> dict:
    from django.conf import settings
    from django.test import override_settings

    from feeds.models import Source
    from feeds.services import sources_fetch_many

    concurrency = concurrency or settings.NEWSROOM_FETCH_CONCURRENCY
    run = uuid.uuid4().hex[:8]
    server = _ServerProcess(delay)
    created: list[int] = []
    try:
        sources = [
            Source(
                name=f"bench-{run}-{n}", slug=f"bench-{run}-{n}", url=f"http://127.0.0.1:{server.port}/{run}/{n}.xml",
                fetch_full_text=False,
            )
            for n in range(n_sources)
        ]
        created = [s.pk for s in Source.objects.bulk_create(sources)]
        with override_settings(NEWSROOM_ALLOW_PRIVATE_FETCH=True, NEWSROOM_FULLTEXT=False,
                               NEWSROOM_FETCH_CONCURRENCY=concurrency, NEWSROOM_PER_HOST_CONCURRENCY=concurrency):
            started = time.perf_counter()
            first = sources_fetch_many(created)
            first_seconds = time.perf_counter() - started
            # The steady state a scheduler lives in: every source fetched again, the
            # server sends the whole feed again (no validators), nothing is new. Three
            # times, the median counts: this machine's speed moves by ±20 % over seconds.
            rounds, outcomes = [], []
            for _ in range(REFRESH_ROUNDS):
                started = time.perf_counter()
                outcomes += sources_fetch_many(created)
                rounds.append(time.perf_counter() - started)
        errors = [o for o in first + outcomes if o.status == "error"]
        return {
            "sources": n_sources,
            "seconds": round(statistics.median(rounds), 3),
            "rounds_seconds": [round(s, 3) for s in rounds],
            "first_fetch_seconds": round(first_seconds, 3),
            "first_fetch_new": sum(o.new for o in first),
            "errors": len(errors) + (n_sources * REFRESH_ROUNDS - len(outcomes)) + (n_sources - len(first)),
            "new": sum(o.new for o in outcomes),
            "concurrency": concurrency,
            "delay": delay,
            "first_error": errors[0].error if errors else "",
        }
    finally:
        server.close()
        if created:
            from bench.cleanup import forget_sources

            forget_sources(created)  # their articles and fetch logs too; tag counts put back


if __name__ == "__main__":
    # python -m bench.bench_refresh --serve DELAY: the feed server alone (prints its port).
    # python bench/bench_refresh.py [N]: the bench (uses DJANGO_SETTINGS_MODULE / DATABASE_URL).
    if sys.argv[1:2] == ["--serve"]:
        served = _SlowServer(float(sys.argv[2]))
        print(served.port, flush=True)
        served.thread.join()
        raise SystemExit(0)
    import json
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsroom.settings.test")
    import django

    django.setup()
    print(json.dumps(run_refresh_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)))
