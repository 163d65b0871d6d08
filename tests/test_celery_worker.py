"""A real Celery worker (not eager mode) against Redis: beat schedules, the worker fetches."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from articles.models import Article
from feeds.services import source_create
from tests.conftest import app_env, corpus_path

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_scheduled_fetch_lands_as_article(feed_server):
    url = feed_server.add_file("/worker.atom", corpus_path("real-feeds", "rssant", "well", "www-ruangyifeng-com-blog-atom.xml"),
                               content_type="application/atom+xml")
    source = source_create(url=url, tags=["开源"])
    env = app_env(NEWSROOM_SCHEDULE_SECONDS="1", NEWSROOM_VAR_DIR=str(Path(settings.VAR_DIR) / "worker"))
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "newsroom", "worker", "-B", "-Q", "fetch,process,maintenance",
         "--pool", "threads", "-c", "2", "--loglevel", "INFO", "--without-mingle", "--without-gossip",
         "-s", str(Path(settings.VAR_DIR) / "worker-beat-schedule")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            source.refresh_from_db()
            # Articles commit one by one; the source's state is saved after the last one.
            if Article.objects.filter(source=source).count() == 3 and source.last_status == "ok":
                break
            if worker.poll() is not None:
                break
            time.sleep(0.5)
        count = Article.objects.filter(source=source).count()
        source.refresh_from_db()
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
    assert count == 3, f"worker output:\n{output[-4000:]}"
    assert source.last_status == "ok" and source.last_fetched_at is not None
    assert "feeds.tasks.fetch_source" in output
