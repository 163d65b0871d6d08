"""The refresh bench (`make bench`) end to end at a small size: its feed server, the first
fetch, three steady refreshes with their median, and its cleanup."""
from __future__ import annotations

import statistics

import pytest

from articles.models import Article
from feeds.models import FetchLog, Source


@pytest.mark.django_db(transaction=True)
def test_the_refresh_bench_counts_the_median_of_three_refreshes_and_leaves_nothing_behind():
    from bench.bench_refresh import ENTRIES_PER_FEED, REFRESH_ROUNDS, run_refresh_bench

    before = (Source.objects.count(), Article.objects.count(), FetchLog.objects.count())
    result = run_refresh_bench(n_sources=4, delay=0.05, concurrency=2)
    assert result["errors"] == 0, result["first_error"]
    assert result["first_fetch_new"] == 4 * ENTRIES_PER_FEED and result["new"] == 0  # refetches find nothing new
    assert len(result["rounds_seconds"]) == REFRESH_ROUNDS
    assert result["seconds"] == round(statistics.median(result["rounds_seconds"]), 3)
    assert min(result["rounds_seconds"]) >= 0.05 * 2  # two sources a thread, each answered after the delay
    assert (Source.objects.count(), Article.objects.count(), FetchLog.objects.count()) == before
