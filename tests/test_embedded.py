"""Smoke test of the embedded default: SQLite, no Redis, file broker — migrate, demo, serve."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import page_text

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_embedded_default_serves_demo_articles(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="newsroom.settings.local", NEWSROOM_VAR_DIR=str(tmp_path / "var"), DEBUG="0")
    manage = [sys.executable, "manage.py"]
    for cmd in (["migrate", "--noinput"], ["load_demo"]):
        done = subprocess.run(manage + cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    assert "demo loaded" in done.stdout
    assert (tmp_path / "var" / "newsroom.sqlite3").exists()
    # Loaded again: every entry is found unchanged (ingest's lookups on SQLite), nothing is doubled.
    again = subprocess.run(manage + ["load_demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "demo loaded: 0 new articles" in again.stdout, again.stdout[-2000:]

    port = _free_port()
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "newsroom.wsgi", "--bind", f"127.0.0.1:{port}",
                            "--workers", "1"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        html = ""
        for _ in range(60):
            try:
                html = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        links = set(re.findall(r'href="/articles/(\d+)/"', html))
        assert len(links) >= 10, html[:2000]
        article = urllib.request.urlopen(f"http://127.0.0.1:{port}/articles/{sorted(links)[0]}/", timeout=5).read().decode()
        assert "<h1>" in article and "<article" in article
        # No Redis: the read is written straight to the database, and this reader sees it counted.
        assert "阅读 1" in page_text(article)
        # Search and a tag page on SQLite: cards with their source and tags.
        found = page_text(urllib.request.urlopen(f"http://127.0.0.1:{port}/search/?q=%E6%8E%A8%E7%90%86",
                                                 timeout=10).read().decode())
        assert "芯片与算力快讯" in found and "推理" in found, found[:2000]
        tag = page_text(urllib.request.urlopen(f"http://127.0.0.1:{port}/tags/%E8%8A%AF%E7%89%87/", timeout=10)
                        .read().decode())
        assert "芯片与算力快讯" in tag and "芯片" in tag, tag[:2000]
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read().decode()
        assert '"database": "ok"' in health and '"broker": "ok"' in health
    finally:
        web.terminate()
        web.wait(timeout=10)
