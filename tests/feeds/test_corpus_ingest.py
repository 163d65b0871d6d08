"""The whole third-party corpus through the FULL pipeline.

Every feed file in ../shared/corpora/feedparser-tests/ and ../shared/corpora/real-feeds/
(all of them; only the folders' LICENSE / README / manifest files are left out)
is served over real HTTP — with the HTTP headers feedparser's test files
declare in their leading comment — added as a source, and fetched by
`manage.py fetch --all --json` (thread pool, ingest included, full text off).

Asserted: no crash, no hang, an outcome for each source recorded on the source
and in its fetch log, no "internal" errors (an internal error is a bug, not an
input problem), and the known-good Chinese feeds stored with CJK titles.
"""
from __future__ import annotations

import io
import json
import re
from collections import Counter
from urllib.parse import quote

import pytest
from django.core.management import call_command

from articles.models import Article
from feeds.models import FetchLog, Source
from tests.conftest import corpus_path
from tests.feeds.hostile import HostileServer

CJK = re.compile(r"[\u4e00-\u9fff]")
META_FILES = {"LICENSE", "README.md", "manifest.json"}
ERROR_KINDS = {"timeout", "too_large", "refused_address", "bad_url", "too_many_redirects", "http_status",
               "connection", "tls", "not_a_feed", "parse_error"}


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~2-3 min on an idle 2-core machine; a loaded CI box needs headroom
@pytest.mark.django_db(transaction=True)
def test_every_corpus_file_through_fetch_and_ingest(hostile: HostileServer, settings) -> None:
    root = corpus_path()
    files = sorted(
        p for folder in ("feedparser-tests", "real-feeds") for p in (root / folder).rglob("*")
        if p.is_file() and p.name not in META_FILES
    )
    assert len(files) > 2000
    settings.NEWSROOM_FULLTEXT = False
    settings.NEWSROOM_PER_HOST_CONCURRENCY = 16  # one local host serves every "site"
    rel = {p: p.relative_to(root).as_posix() for p in files}
    sources = Source.objects.bulk_create(
        Source(name=f"corpus {n}", slug=f"corpus-{n}", url=hostile.url("/corpus/" + quote(rel[p])), fetch_full_text=False)
        for n, p in enumerate(files)
    )
    by_id = {s.pk: rel[p] for s, p in zip(sources, files)}

    out = io.StringIO()
    call_command("fetch", "--all", "--json", "--concurrency", "16", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]

    assert sorted(o["source"] for o in lines) == sorted(by_id)  # an outcome for every source
    statuses = Counter(o["status"] for o in lines)
    kinds = Counter(o["error_kind"] for o in lines if o["status"] == "error")
    print(f"\n{len(lines)} corpus sources: {dict(statuses)}; errors by kind: {dict(kinds)}; "
          f"{Article.objects.count()} articles stored")
    internal = [(by_id[o["source"]], o["error"]) for o in lines if o["status"] == "error" and o["error_kind"] not in ERROR_KINDS]
    assert not internal, internal[:10]
    assert statuses["ok"] > 0.8 * len(lines)
    # Recorded where an editor looks: on the source and in its log.
    assert not Source.objects.filter(pk__in=by_id, last_status="").exists()
    assert not Source.objects.filter(pk__in=by_id, leased_until__isnull=False).exists()
    assert FetchLog.objects.filter(source_id__in=by_id).count() == len(by_id)
    errors = Source.objects.filter(pk__in=by_id, last_status="error")
    assert not errors.filter(last_error_kind="").exists() and not errors.filter(last_error="").exists()

    # The known-good Chinese feeds: fetched fine, every one stored with CJK titles.
    well = {sid: path for sid, path in by_id.items() if path.startswith("real-feeds/rssant/well/")}
    assert len(well) == 10
    outcome = {o["source"]: o for o in lines}
    for sid, path in well.items():
        assert outcome[sid]["status"] == "ok", (path, outcome[sid])
        titles = list(Article.objects.filter(source_id=sid).values_list("title", flat=True))
        assert titles, path
        assert sum(bool(CJK.search(t)) for t in titles) >= max(1, len(titles) // 2), (path, titles[:5])
    # rssant's "failed" fixtures are HTML error pages served at feed URLs: never stored as articles.
    failed = [sid for sid, path in by_id.items() if path.startswith("real-feeds/rssant/failed/")]
    assert all(outcome[sid]["status"] == "error" for sid in failed), [(by_id[s], outcome[s]) for s in failed]
