"""`make bench`: Newsroom benchmarks on a seeded 100k-article corpus.

Uses its own PostgreSQL database (newsroom_bench, created and migrated if
missing) and Redis db 14; seeds the corpus once (reused while N matches).
Each result is printed as a ratio against a baseline measured in the same run
(or against its target where the baseline is a number), with PASS/FAIL, and
written to bench/results.json. Query plans of the list pages go to
bench/plans.txt.

    .venv/bin/python bench/run.py                     # 100,000 articles
    .venv/bin/python bench/run.py --articles 20000 --duration 5
    make bench BENCH_ARGS="--articles 20000"

Traffic goes to 127.0.0.1 only: gunicorn and the feed server of the refresh
bench are started here on loopback; full-text fetching is off.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CORPUS = REPO.parent / "shared" / "corpora" / "real-feeds"
RESULTS = REPO / "bench" / "results.json"
PLANS = REPO / "bench" / "plans.txt"

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "newsroom_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "newsroom.settings.production",
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "REDIS_URL": REDIS_URL,
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "NEWSROOM_BENCH": "1",
    "NEWSROOM_ALLOW_PRIVATE_FETCH": "1",  # the refresh bench's feed server is on loopback
    "NEWSROOM_FULLTEXT": "0",  # never fetch article pages from the internet
    "NEWSROOM_VAR_DIR": "/tmp/newsroom-bench-var",
    "LOG_LEVEL": "WARNING",
}


def log(msg: str) -> None:
    print(msg, flush=True)


# --- setup ----------------------------------------------------------------------


def ensure_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
            log(f"created database {DB_NAME}")


def manage(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def stop(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


# --- HTTP load --------------------------------------------------------------------


def _wrk(base: str, paths: list[str], duration: float, connections: int, threads: int) -> dict:
    script = None
    if len(paths) > 1:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        listed = ",".join(json.dumps(p) for p in paths)
        # Each wrk thread walks its own slice of distinct URLs, the slices apart (from a random
        # start): every request a page not asked for before, unless a run outlasts its slice.
        script.write(
            "local paths = {" + listed + "}\n"
            "local i = 0\nlocal threads = 0\nlocal start = math.random(#paths)\n"
            f"function setup(thread) thread:set('offset', (start + math.floor(threads * #paths / {threads})) % #paths); "
            "threads = threads + 1 end\n"
            "function init(args) i = offset or 0 end\n"
            "function request() i = (i % #paths) + 1; return wrk.format('GET', paths[i]) end\n"
        )
        script.close()
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(duration)}s", "--timeout", "10s"]
    if script:
        cmd += ["-s", script.name]
    cmd.append(base + paths[0])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if script:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency = re.search(r"Latency\s+([\d.]+)(\w+)", out)
    lat_ms = float(latency.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}.get(latency.group(2), 1) if latency else 0
    return {"rps": rps, "requests": total, "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(int(x) for x in errs.groups()) if errs else 0, "mean_latency_ms": round(lat_ms, 2)}


def _pyload(base: str, paths: list[str], duration: float, connections: int, threads: int) -> dict:
    """Fallback when wrk is not installed: keep-alive http.client loops in threads."""
    import http.client

    host, port = base.split("//")[1].split(":")
    stop = time.monotonic() + duration
    counts = {"ok": 0, "bad": 0, "err": 0}
    lock = threading.Lock()
    cursor = [random.randrange(len(paths))]

    def loop() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        while time.monotonic() < stop:
            with lock:
                cursor[0] = (cursor[0] + 1) % len(paths)
                p = paths[cursor[0]]
            try:
                conn.request("GET", p)
                resp = conn.getresponse()
                resp.read()
                key = "ok" if resp.status < 400 else "bad"
            except Exception:
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
                key = "err"
            with lock:
                counts[key] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(connections) as pool:
        for _ in range(connections):
            pool.submit(loop)
    elapsed = time.monotonic() - started
    total = sum(counts.values())
    return {"rps": total / elapsed, "requests": total, "non_2xx": counts["bad"], "socket_errors": counts["err"],
            "mean_latency_ms": round(elapsed * connections / max(total, 1) * 1000, 2)}


def load(base: str, paths: list[str], duration: float, connections: int = 8, threads: int = 2) -> dict:
    tool = _wrk if shutil.which("wrk") else _pyload
    result = tool(base, paths, duration, connections, threads)
    result["tool"] = "wrk" if tool is _wrk else "python"
    return result


# --- benches --------------------------------------------------------------------


PAGE_ROUNDS = 3


def bench_pages(args, env: dict, sample: dict) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    mp_dir = tempfile.mkdtemp(prefix="newsroom-bench-prom-")
    genv = {**env, "PROMETHEUS_MULTIPROC_DIR": mp_dir}
    gunicorn = subprocess.Popen(
        [str(BIN / "gunicorn"), "newsroom.wsgi", "-c", "ops/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO, env=genv, stdout=subprocess.DEVNULL, stderr=open("/tmp/newsroom-bench-gunicorn.log", "w"),
    )
    import urllib.request

    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/bench/minimal", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start, see /tmp/newsroom-bench-gunicorn.log")

        def warm(paths: list[str]) -> None:
            # A single page is asked for enough times to reach every worker (which one accepts a
            # request is up to them): a worker's first request of a page loads its templates.
            for p in paths:
                for _ in range(3 if len(paths) > 1 else 8 * max(1, len(children(gunicorn.pid)))):
                    urllib.request.urlopen(base + p, timeout=30).read()

        targets = {
            "article": ([f"/articles/{sample['article']}/"], [f"/articles/{i}/" for i in sample["cold_articles"]]),
            "tag": ([f"/tags/{sample['tag']}/"], [f"/tags/{s}/?page={p}&n={n}" for n, (s, p) in
                                                  enumerate(sample["cold_tags"] * (20_000 // len(sample["cold_tags"]) + 1))]),
            # Each cold home request a URL of its own (the page cache keys the full path): always a miss.
            "home": (["/"], [f"/?page={p}&n={n}" for n, p in enumerate(sample["cold_home_pages"])]),
        }
        results: dict = {}
        minimal_rps = []

        def minimal() -> float:
            warm(["/bench/minimal"])
            r = load(base, ["/bench/minimal"], args.duration)
            minimal_rps.append(r["rps"])
            results.setdefault("minimal", []).append(r)
            log(f"  minimal            {r['rps']:8.1f} req/s")
            return r["rps"]

        # Each page measurement between two of the minimal view, and compared with their mean: the
        # machine's speed drifts by 10-15 % over the minutes of the bench, the baseline next to a
        # measurement is the one taken at its speed.
        measures = []
        for name in ("article", "tag", "home"):
            warm_paths, cold_paths = targets[name]
            if name == "article":
                # The two measures with targets, PAGE_ROUNDS times each, the median counting: the
                # minimal view alone moved 1,100 → 1,870 req/s between neighbouring runs. Each cold
                # round asks for articles of its own, never asked for by another round.
                chunk = len(cold_paths) // PAGE_ROUNDS
                measures += [(name, "warm", warm_paths)] * PAGE_ROUNDS
                measures += [(name, "cold", cold_paths[k * chunk:(k + 1) * chunk]) for k in range(PAGE_ROUNDS)]
                # The cold pages again, as misses that keep the page (each asked for before, as a
                # page read more than once in ten minutes is): render, then the second script.
                measures.append((name, "cold, kept", [f"/articles/{i}/" for i in sample["kept_articles"]]))
            else:
                measures += [(name, "warm", warm_paths), (name, "cold", cold_paths)]
        rounds: dict[str, list[dict]] = {}
        before = minimal()
        for name, kind, paths in measures:
            if kind == "warm":
                warm(paths)
            elif kind == "cold, kept":
                _mark_asked(paths)
            r = load(base, paths, args.duration)
            log(f"  {name:8} {kind:10}{r['rps']:8.1f} req/s  (non-2xx {r['non_2xx']}, errors {r['socket_errors']})")
            key = f"{name}_{kind}".replace(", ", "_")  # article_warm, …, article_cold_kept
            after = minimal()
            r["baseline_rps"] = round((before + after) / 2, 1)
            r["ratio"] = round(r["rps"] / r["baseline_rps"], 3)
            rounds.setdefault(key, []).append(r)
            before = after
        for key, runs in rounds.items():  # the run of the median ratio, with every round's ratio
            results[key] = {**sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2],
                            "round_ratios": [r["ratio"] for r in runs]}
        results.update(_pages_while_ingesting(base, [f"/articles/{i}/" for i in sample["cold_articles"][:200]],
                                              args.duration, warm))
        baseline = statistics.mean(minimal_rps)
        results["minimal_rps"] = baseline
        master_rss = rss_mb(gunicorn.pid)
        workers = children(gunicorn.pid)
        results["web_worker_rss_mb"] = round(max((rss_mb(p) for p in workers), default=0), 1)
        results["web_master_rss_mb"] = round(master_rss, 1)
        results["web_workers"] = len(workers)
        # /metrics aggregates every gunicorn worker (multiprocess mode): the request counts add up.
        text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
        results["metrics_requests_counted"] = int(sum(
            float(m.group(1)) for m in re.finditer(r'^newsroom_request_seconds_count\{[^}]*\} ([\d.e+]+)$', text, re.M)
        ))
        return results
    finally:
        stop(gunicorn, 20)
        shutil.rmtree(mp_dir, ignore_errors=True)


def _mark_asked(paths: list[str]) -> None:
    """Leave the page cache's marker of a recent miss on these paths (as a first reader
    would): their next miss renders and keeps the page (articles.pagecache)."""
    from articles.pagecache import ASKED_PREFIX, ASKED_SECONDS, path_hash

    pipe = __import__("redis").Redis.from_url(REDIS_URL).pipeline(transaction=False)
    for p in paths:
        pipe.set(ASKED_PREFIX + path_hash(p), 1, ex=ASKED_SECONDS)
    pipe.execute()


def _page_cache_counts(base: str) -> dict[str, float]:
    import urllib.request

    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    counts: dict[str, float] = {}
    for m in re.finditer(r'^newsroom_page_cache_total\{outcome="(\w+)"\} ([\d.e+]+)$', text, re.M):
        counts[m.group(1)] = counts.get(m.group(1), 0) + float(m.group(2))
    return counts


def _bench_source(kind: str, run: str, n: int):
    """A source the bench stores corpus bytes into (never fetched: inactive, no full text);
    bench.cleanup.forget_sources removes it and what it stored."""
    from feeds.models import Source

    return Source.objects.create(name=f"{kind} {n}", slug=f"{kind}-{run}-{n}", url=f"https://{kind}.invalid/{run}/{n}.xml",
                                 active=False, fetch_full_text=False)


def _ingest_until(stop: threading.Event, done: dict) -> None:
    """Store the real-feeds corpus again and again as new sources (and refresh their related
    posts, as a process worker would), until ``stop``: a site fetching feeds all day."""
    from django.db import connection

    from articles import related
    from feeds.services import source_fetch

    files = [f.read_bytes() for f in feed_files()]
    run = f"{int(time.time())}-{os.getpid()}"
    try:
        while not stop.is_set():
            n = done["fetches"]
            source = _bench_source("ingest-while", run, n)
            done["sources"].append(source.pk)
            with related.refreshed_in_process():
                outcome = source_fetch(source=source, content=files[n % len(files)], content_type="application/xml")
            done["fetches"] += 1
            done["new"] += outcome.new
    except Exception as exc:  # measured as far as it got; the failure is reported
        done["error"] = repr(exc)
    finally:
        connection.close()


def _pages_while_ingesting(base: str, paths: list[str], duration: float, warm) -> dict:
    """Cached article pages while feeds are being stored: with the page cache's scoped
    generations, new articles elsewhere leave them cached (only pages whose own related
    posts or story changed are rendered again). The same pages without ingestion first:
    the difference beyond the hit ratio is the CPU the ingestion takes."""
    for path in paths:
        warm([path])
    quiet = load(base, paths, duration)
    log(f"  {len(paths)} articles warm  {quiet['rps']:8.1f} req/s")
    before = _page_cache_counts(base)
    stop, done = threading.Event(), {"fetches": 0, "new": 0, "sources": []}
    worker = threading.Thread(target=_ingest_until, args=(stop, done), daemon=True)
    worker.start()
    try:
        busy = load(base, paths, duration)
    finally:
        stop.set()
        worker.join(600)
    after = _page_cache_counts(base)
    hits = after.get("hit", 0) - before.get("hit", 0)
    total = sum(after.values()) - sum(before.values())
    from bench.cleanup import forget_sources

    forget_sources(done["sources"])
    __import__("redis").Redis.from_url(REDIS_URL).delete("process")
    ratio = round(hits / total, 4) if total else 0.0
    log(f"  … while ingesting  {busy['rps']:8.1f} req/s, page-cache hit ratio {ratio:.1%} "
        f"({done['fetches']} fetches stored {done['new']} new articles meanwhile{', ' + done['error'] if 'error' in done else ''})")
    return {"articles_warm_quiet": quiet, "articles_warm_ingesting": busy,
            "ingesting_hit_ratio": ratio, "ingesting_fetches": done["fetches"], "ingesting_new": done["new"]}


def prewarm() -> None:
    """Read the corpus's tables, indexes and TOAST into the OS page cache (pg_prewarm,
    'read' mode) before measuring: a running site has its database in memory, and a
    run that follows whatever evicted it (a test suite, a reboot) would otherwise time
    the disk in its first measures (plans ×10–30, related and cold pages)."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            cursor.execute("""
                SELECT coalesce(sum(pg_prewarm(c.oid::regclass, 'read')), 0) FROM pg_class c
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'i', 't') AND c.relpersistence = 'p'
                   AND (n.nspname = 'public' OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relnamespace =
                        'public'::regnamespace) OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN
                        (SELECT reltoastrelid FROM pg_class WHERE relnamespace = 'public'::regnamespace)))""")
            blocks = cursor.fetchone()[0]
        log(f"prewarmed {blocks * 8 // 1024} MB into the OS page cache")
    except Exception as exc:  # no contrib modules: measure as it is
        log(f"pg_prewarm unavailable ({exc.__class__.__name__}); measuring without it")


def feed_files() -> list[Path]:
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    return [CORPUS / m["file"] for m in manifest if m.get("fp_entries") and not m["file"].startswith("rssant/failed")]


INGEST_PASSES = 5


def bench_ingest(args) -> dict:
    """The corpus through the whole pipeline (``source_fetch`` with the bytes: parse, clean,
    dedup, tag, store) against bare ``feedparser.parse`` of the same bytes.

    The two sides are paired file by file: each feed is parsed bare, then goes through the
    pipeline (or the other way round, in turns), then the next feed. This machine's speed
    moves by ±20 % over seconds; a bare pass and a pipeline pass timed one after the other,
    seconds apart, could meet different speeds, while a file's two timings, milliseconds
    apart, meet the same. A pass's ratio is its bare seconds over its pipeline seconds; the
    result is the median ratio of the passes after the first. The first pass is reported
    apart: on a fresh database it also creates the corpus's new tags and teaches the tokenizer
    their names (a one-time cost per name on a site). Each pipeline pass stores into sources
    of its own (all new entries, as a first fetch)."""
    import feedparser

    files = [(f, f.read_bytes()) for f in feed_files()]
    entries = sum(len(feedparser.parse(b).entries) for _, b in files)
    passes = [_ingest_pass(files, n) for n in range(INGEST_PASSES)]
    later = passes[1:]
    ratio = statistics.median(p["bare_s"] / p["s"] for p in later)
    bare_s = statistics.median(p["bare_s"] for p in later)
    pipeline_s = statistics.median(p["s"] for p in later)
    parts = _ingest_parts(files)
    ms = 1000 / entries
    return {"files": len(files), "entries": entries, "passes": INGEST_PASSES,
            "failed_files": max(p["failed"] for p in passes), "stored": passes[-1]["stored"],
            "prepare_failed": parts["prepare_failed"],
            "bare_feedparser_s": round(bare_s, 3), "pipeline_s": round(pipeline_s, 3),
            "bare_passes_s": [round(p["bare_s"], 3) for p in passes],
            "pipeline_passes_s": [round(p["s"], 3) for p in passes],
            "pass_ratios": [round(p["bare_s"] / p["s"], 3) for p in passes],
            "bare_entries_per_s": round(entries / bare_s, 1), "pipeline_entries_per_s": round(entries / pipeline_s, 1),
            "first_pass_ratio": round(passes[0]["bare_s"] / passes[0]["s"], 3), "ratio": round(ratio, 3),
            # Where a pass goes, per entry: our parse and the text pipeline each timed alone (median
            # of INGEST_PASSES, no database), the rest is storing (lookups, INSERTs, waits, bookkeeping).
            "ms_per_entry": {"bare_feedparser": round(bare_s * ms, 3), "pipeline": round(pipeline_s * ms, 3),
                             "parse": round(parts["parse_s"] * ms, 3), "prepare": round(parts["prepare_s"] * ms, 3),
                             "store_and_rest": round((pipeline_s - parts["parse_s"] - parts["prepare_s"]) * ms, 3)},
            # The search index merge of what a pass stored, done by the maintenance queue (not in "pipeline").
            "index_merge": {"ms_per_entry": round(statistics.mean(p["merge_s"] for p in passes) * ms, 3),
                            "pages": round(statistics.mean(p["merged_pages"] for p in passes))},
            # The ratio the pipeline would reach if the text pipeline (prepare_entry) cost nothing.
            "ratio_if_prepare_free": round(bare_s / max(pipeline_s - parts["prepare_s"], 1e-9), 3)}


def _ingest_parts(files: list) -> dict:
    """Our parse (``parse_feed``) and the text pipeline (``prepare_entry``: clean, normalize,
    dedup keys, tags, search vector; no writes) over the corpus, each timed alone, the median of
    ``INGEST_PASSES`` (as the pipeline's seconds are: the rest of a pass is what is left). The entries are prepared for an unsaved source with the defaults."""
    from articles.ingest import _Context, prepare_entry
    from feeds.models import Source
    from feeds.parse import ParseError, parse_feed

    parse_s, entries = [], []
    for _ in range(INGEST_PASSES):
        entries = []
        t = time.perf_counter()
        for path, data in files:
            try:
                entries += parse_feed(data, url=f"https://ingest-bench.invalid/{path.name}",
                                      content_type="application/xml").entries
            except ParseError:
                pass
        parse_s.append(time.perf_counter() - t)
    ctx = _Context(Source(name="ingest parts", slug="ingest-parts", url="https://ingest-bench.invalid/parts.xml"))
    prepare_s, failed = [], 0
    for _ in range(INGEST_PASSES):
        failed = 0
        t = time.perf_counter()
        for entry in entries:
            try:
                prepare_entry(entry, ctx)
            except Exception:  # ingest would count the entry as failed: so does the bench, and times on
                failed += 1
        prepare_s.append(time.perf_counter() - t)
    return {"parse_s": statistics.median(parse_s), "prepare_s": statistics.median(prepare_s), "prepare_failed": failed}


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def _ingest_pass(files: list, n: int) -> dict:
    """One timed pass of the corpus, file by file: bare ``feedparser.parse``, then ``source_fetch``
    into a new source (forgotten after the pass)."""
    import feedparser
    from django.db import connection

    from feeds.services import source_fetch

    run = f"{int(time.time())}-{os.getpid()}-{n}"
    sources = [_bench_source("ingest-bench", run, i) for i in range(len(files))]
    try:
        seconds = bare_s = 0.0
        stored = 0
        failed = 0
        for i, (source, (path, data)) in enumerate(zip(sources, files)):
            # Which side goes first alternates: what one leaves warm for the other (the caches
            # of URL joins that feeds.parse gives feedparser, the CPU's) favours neither.
            bare_first = (i + n) % 2 == 0
            if bare_first:
                bare_s += _timed(feedparser.parse, data)
            t = time.perf_counter()
            try:
                outcome = source_fetch(source=source, content=data, content_type="application/xml")
            except Exception:  # e.g. PostgreSQL restarted by someone else mid-run: count it, go on
                failed += 1
                connection.close()
                outcome = None
            seconds += time.perf_counter() - t
            if not bare_first:
                bare_s += _timed(feedparser.parse, data)
            if outcome is not None:
                stored += outcome.new + outcome.spam
        # What the pass left in the search index's pending list: the maintenance queue merges it
        # (search.schedule_merge), off the ingest path. Timed here so that its cost is shown.
        from articles.search import merge_pending

        t = time.perf_counter()
        merged_pages = merge_pending()
        merge_s = time.perf_counter() - t
    finally:
        from bench.cleanup import forget_sources

        forget_sources([s.pk for s in sources])
        connection.close()
        # Ingest queued related-post refreshes for articles that are gone now: nobody needs them.
        __import__("redis").Redis.from_url(REDIS_URL).delete("process", "maintenance")
    return {"s": seconds, "bare_s": bare_s, "stored": stored, "failed": failed, "merge_s": merge_s, "merged_pages": merged_pages}


FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>源 {n}</title>
<link>http://127.0.0.1/</link><description>bench</description>{items}</channel></rss>"""
ITEM = """<item><title>{title}</title><link>https://refresh-bench.invalid/post/{k}</link><guid>refresh-{k}</guid>
<pubDate>Mon, 01 Dec 2025 08:00:00 GMT</pubDate><description>&lt;p&gt;{body}&lt;/p&gt;</description></item>"""


def bench_refresh(args) -> dict:
    sys.path.insert(0, str(REPO))
    from bench.bench_refresh import run_refresh_bench

    return dict(run_refresh_bench(n_sources=args.refresh_sources, delay=0.2))


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


SEARCH_ROUNDS = 3


def bench_search(args) -> dict:
    from articles.management.commands.seed_corpus import COMPANIES, PRODUCTS, TOPICS
    from articles.models import Article
    from articles.search import search_articles

    rng = random.Random(7)
    queries = [rng.choice(TOPICS) for _ in range(40)] + [rng.choice(COMPANIES) for _ in range(30)]
    queries += [f"{rng.choice(COMPANIES)} {rng.choice(TOPICS)}" for _ in range(50)]
    queries += [rng.choice(PRODUCTS) for _ in range(30)] + ["不存在的词语组合", "量子 光刻机 固态电池"]

    def one(q: str) -> float:
        t = time.perf_counter()
        hits = search_articles(q)
        hits.count()  # the paginator's count
        hits[:20]  # the first page: its articles with source and tags
        return (time.perf_counter() - t) * 1000

    for q in queries[:20]:
        one(q)  # warm the buffer cache and the tokenizer
    # Every query is timed in SEARCH_ROUNDS rounds over the whole list, and counts with its
    # median: a query's own cost comes back in every round, a moment of the machine running
    # slow (±20 % over seconds here) meets different queries in each round.
    rounds = [[one(q) for q in queries] for _ in range(SEARCH_ROUNDS)]
    times = [statistics.median(samples) for samples in zip(*rounds)]
    every = [t for r in rounds for t in r]
    slowest = sorted(zip(times, queries), reverse=True)[:5]
    return {"queries": len(times), "rounds": SEARCH_ROUNDS,
            "p50_ms": round(_percentile(times, 50), 2), "p95_ms": round(_percentile(times, 95), 2),
            "max_ms": round(max(times), 2), "slowest": [[q, round(t, 1)] for t, q in slowest],
            # Every single timing, not each query's median: what one search may meet on this machine.
            "p95_every_timing_ms": round(_percentile(every, 95), 2), "max_every_timing_ms": round(max(every), 2)}


def bench_related(args, ids: list[int]) -> dict:
    from articles.models import Article
    from articles.related import compute_related, refresh_for

    times = []
    for aid in ids:
        article = Article.objects.get(pk=aid)
        t = time.perf_counter()
        compute_related(article)
        times.append((time.perf_counter() - t) * 1000)
    for aid in ids[:20]:
        refresh_for(aid)  # the article pages of the page bench show a filled 相关推荐
    return {"articles": len(times), "mean_ms": round(statistics.mean(times), 2),
            "p95_ms": round(_percentile(times, 95), 2), "max_ms": round(max(times), 2)}


def bench_worker_memory(env: dict, article_ids: list[int]) -> dict:
    """RSS of a Celery prefork worker process after it ran real tasks (related refresh)."""
    from celery import Celery

    proc = subprocess.Popen(
        [str(BIN / "celery"), "-A", "newsroom", "worker", "-Q", "process", "-c", "1", "--pool", "prefork",
         "--without-mingle", "--without-gossip", "--loglevel", "WARNING", "-n", f"bench-{os.getpid()}@%h"],
        cwd=REPO, env={**env, "PROMETHEUS_MULTIPROC_DIR": ""}, stdout=subprocess.DEVNULL,
        stderr=open("/tmp/newsroom-bench-worker.log", "w"),
    )
    try:
        app = Celery(broker=REDIS_URL)
        for aid in article_ids:  # one task per article: the worker's memory after many tasks
            app.send_task("articles.tasks.refresh_related_many", args=[[aid]], queue="process")
        client = __import__("redis").Redis.from_url(REDIS_URL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and client.llen("process"):
            time.sleep(0.5)
        time.sleep(3)
        kids = children(proc.pid)
        return {"worker_master_rss_mb": round(rss_mb(proc.pid), 1),
                "worker_child_rss_mb": round(max((rss_mb(k) for k in kids), default=0), 1),
                "tasks": len(article_ids), "queue_left": client.llen("process")}
    finally:
        stop(proc, 30)


EXPLAINS = {
    "home": "articles.selectors.article_list()",
    "tag": "articles.selectors.article_list(Article.objects.filter(tags=tag))",
    "source": "articles.selectors.article_list(Article.objects.filter(source=source))",
    "hot (fallback)": "Article.objects.published().filter(published_at__gte=since).order_by('-read_count', '-bookmark_count', '-published_at')",
}


def write_plans(sample: dict) -> dict:
    from contextlib import nullcontext
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from articles import selectors
    from articles.models import Article, Tag
    from articles.search import parse_query, window_sql
    from feeds.models import Source
    from newsroom.db import index_scans

    tag = Tag.objects.get(slug=sample["tag_slug"])
    rare = Tag.objects.filter(articles_count__gt=0).order_by("articles_count").first()
    source = Source.objects.filter(slug=sample["source"]).first()
    since = timezone.now() - timedelta(hours=24)
    # The statements the pages run (prepared: a page's ids off the list's index, then its 20 cards).
    home = selectors.home_articles()
    sqls = {
        "home": home.statement(0, 20),
        "home (page 100)": home.statement(1980, 2000),
        "tag (popular)": selectors.tag_articles(tag).statement(0, 20),
        "tag (popular, page 5)": selectors.tag_articles(tag).statement(80, 100),
        "tag (rare)": selectors.tag_articles(rare).statement(0, 20),
        "source": selectors.source_articles(source).statement(0, 20),
        "hot (fallback)": Article.objects.published().filter(published_at__gte=since)
        .order_by("-read_count", "-bookmark_count", "-published_at").values("id")[:20].query.sql_with_params(),
    }
    out, timings = [], {}
    sqls["search (newest matches, one query)"] = window_sql(parse_query("英伟达 芯片"))
    sqls["search (a word not always cut whole: split in two)"] = window_sql(parse_query("智能体"))
    for name, (sql, params) in sqls.items():
        with index_scans() if name.startswith("search") else nullcontext(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = "\n".join(r[0] for r in cursor.fetchall())
        m = re.search(r"Execution Time: ([\d.]+) ms", plan)
        timings[name] = float(m.group(1)) if m else None
        out.append(f"== {name} (20 rows)\n{plan}\n")
    PLANS.write_text("\n".join(out), encoding="utf-8")
    return timings


# --- main -------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per page measurement")
    parser.add_argument("--refresh-sources", type=int, default=1000)
    parser.add_argument("--reseed", action="store_true", help="rebuild the corpus even if it matches")
    parser.add_argument("--skip", default="", help="comma-separated: pages,ingest,refresh,search,related,memory")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    started = time.monotonic()

    env = {**os.environ, **BENCH_ENV}
    os.environ.update(BENCH_ENV)
    ensure_database()
    log(f"migrating {DB_NAME} …")
    manage("migrate", "--noinput", "-v", "0", env=env)
    log(f"seeding {args.articles} articles (reused when already seeded) …")
    manage("seed_corpus", "--articles", str(args.articles), *(["--reset"] if args.reseed else []), env=env)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()

    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.db import connection

    from articles.models import Article, Tag
    from feeds.models import Source

    prewarm()
    rng = random.Random(42)
    published = list(Article.objects.published().filter(story__isnull=True).order_by("-published_at")
                     .values_list("id", flat=True)[:70_000])
    related_ids = rng.sample(published[:20_000], min(50, len(published)))
    tags = list(Tag.objects.filter(articles_count__gt=0).order_by("-articles_count").values_list("slug", "articles_count"))
    popular = tags[min(5, len(tags) - 1)][0]  # a busy tag, not the very largest
    sample = {
        "article": related_ids[0],
        "cold_articles": rng.sample(published, min(30_000, len(published) // 2)),  # PAGE_ROUNDS slices
        "tag": popular,
        "cold_tags": [(s, rng.randint(1, max(1, min(5, c // 20)))) for s, c in rng.sample(tags, min(1500, len(tags)))],
        "cold_home_pages": [rng.randint(2, 200) for _ in range(20_000)],
        "source": Source.objects.filter(article_count__gt=0).order_by("-article_count").values_list("slug", flat=True).first(),
    }
    # Other articles for the cold pages that keep their page: none of them just read by the cold run.
    cold = set(sample["cold_articles"])
    others = [i for i in published if i not in cold]
    sample["kept_articles"] = rng.sample(others, min(20_000, len(others)))
    from urllib.parse import quote

    sample["tag_slug"] = sample["tag"]
    sample["tag"] = quote(sample["tag"])
    sample["cold_tags"] = [(quote(s), p) for s, p in sample["cold_tags"]]

    results: dict = {
        "articles": Article.objects.count(), "tags": Tag.objects.count(), "sources": Source.objects.count(),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "load_tool": "wrk" if shutil.which("wrk") else "python"},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        # Other processes on the machine skew throughput; the load average says how much.
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    log("query plans → bench/plans.txt")
    results["plans_ms"] = write_plans(sample)
    for name, ms in results["plans_ms"].items():
        log(f"  {name:16} {ms} ms")
    if "related" not in skip:
        log("related posts (compute_related at this corpus size) …")
        results["related"] = bench_related(args, related_ids)
    else:
        for aid in related_ids[:20]:
            __import__("articles.related", fromlist=["refresh_for"]).refresh_for(aid)
    if "search" not in skip:
        log("search …")
        results["search"] = bench_search(args)
    connection.close()
    if "pages" not in skip:
        log(f"pages (gunicorn, {args.duration:.0f} s each, {results['machine']['load_tool']}) …")
        results["pages"] = bench_pages(args, env, sample)
    if "ingest" not in skip:
        log("ingestion (real-feeds corpus) …")
        results["ingest"] = bench_ingest(args)
    if "refresh" not in skip:
        log(f"refresh ({args.refresh_sources} sources, 200 ms each) …")
        results["refresh"] = bench_refresh(args)
    if "memory" not in skip:
        log("worker memory …")
        results["worker"] = bench_worker_memory(env, related_ids[:10])
    connection.close()
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    # --- summary: ratios against baselines, PASS/FAIL against targets -------------------
    rows = []
    p = results.get("pages")
    if p:
        base = p["minimal_rps"]
        for page, target in (("article", (0.7, 0.25)), ("tag", (None, None)), ("home", (None, None))):
            for i, kind in enumerate(("warm", "cold")):
                r = p[f"{page}_{kind}"]
                around = r.get("baseline_rps", base)  # the minimal view measured either side of it
                ratio = r["rps"] / around
                t = target[i]
                of = f", median of {r['round_ratios']}" if len(r.get("round_ratios", ())) > 1 else ""
                rows.append((f"{page} page {kind}", f"{r['rps']:.0f} req/s vs minimal {around:.0f}{of}", ratio,
                             f"≥ {t}" if t else "—", verdict(ratio >= t) if t else "info"))
                if page == "article" and kind == "cold" and "article_cold_kept" in p:
                    rk = p["article_cold_kept"]
                    around = rk.get("baseline_rps", base)
                    rows.append(("article cold, kept", f"{rk['rps']:.0f} req/s vs minimal {around:.0f} (2nd miss)",
                                 rk["rps"] / around, "—", "info"))
        if "articles_warm_ingesting" in p:
            q, b = p["articles_warm_quiet"]["rps"], p["articles_warm_ingesting"]["rps"]
            rows.append(("articles while ingesting", f"{b:.0f} vs {q:.0f} req/s quiet, {p['ingesting_hit_ratio']:.1%} hits",
                         b / base, "—", "info"))
        rows.append(("web worker RSS", f"{p['web_worker_rss_mb']} MB", None, "—", "info"))
    if "ingest" in results:
        r = results["ingest"]
        rows.append(("ingestion", f"{r['pipeline_entries_per_s']} vs feedparser {r['bare_entries_per_s']} entries/s",
                     r["ratio"], "≥ 0.5", verdict(r["ratio"] >= 0.5)))
        rows.append(("ingestion, each pass", f"ratios {r['pass_ratios']} (the first: new tags)",
                     r["first_pass_ratio"], "—", "info"))
        m = r["ms_per_entry"]
        rows.append(("ingestion, ms per entry", f"parse {m['parse']} + text {m['prepare']} + store {m['store_and_rest']}",
                     None, "—", "info"))
        rows.append(("ingestion, text free", f"bare {m['bare_feedparser']} ms vs pipeline less text",
                     r["ratio_if_prepare_free"], "—", "info"))
        merge = r["index_merge"]
        rows.append(("ingestion, index merge", f"{merge['ms_per_entry']} ms per entry, maintenance queue "
                     f"({merge['pages']} pages a pass)", None, "—", "info"))
    if "refresh" in results and "seconds" in results["refresh"]:
        r = results["refresh"]
        s = r["seconds"]
        rows.append((f"refresh {r.get('sources', '?')} sources", f"{s} s (nothing new), median of {r.get('rounds_seconds')}",
                     15 / s, "≤ 15 s", verdict(s <= 15)))
        if "first_fetch_seconds" in r:
            rows.append((f"first fetch {r.get('sources', '?')} sources",
                         f"{r['first_fetch_seconds']} s ({r.get('first_fetch_new', '?')} new articles)", None, "—", "info"))
    if "search" in results:
        r = results["search"]
        s = r["p95_ms"]
        rows.append(("search p95", f"{s} ms, each query's median of {r['rounds']}", 20 / s, "≤ 20 ms", verdict(s <= 20)))
        rows.append(("search p95, every timing", f"{r['p95_every_timing_ms']} ms (max {r['max_every_timing_ms']})",
                     None, "—", "info"))
    if "related" in results:
        s = results["related"]["mean_ms"]
        rows.append(("related per article", f"{s} ms (p95 {results['related']['p95_ms']})", 50 / s, "≤ 50 ms",
                     verdict(s <= 50)))
    if "worker" in results:
        rows.append(("celery worker RSS", f"{results['worker']['worker_child_rss_mb']} MB", None, "—", "info"))
    results["summary"] = [
        {"measure": m, "value": v, "ratio": round(r, 3) if r is not None else None, "target": t, "result": res}
        for m, v, r, t, res in rows
    ]
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    log("")
    log(f"{'measure':24} {'value':44} {'ratio':>7}  {'target':9} result")
    for m, v, r, t, res in rows:
        log(f"{m:24} {v:44} {'' if r is None else f'{r:7.2f}':>7}  {t:9} {res}")
    log(f"\nresults → {RESULTS.relative_to(REPO)} ({results['bench_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
