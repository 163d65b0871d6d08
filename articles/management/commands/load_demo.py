"""Demo sources with bundled offline snapshots (static/demo/feeds/, written for this project).

Each demo source points at its snapshot served by our own web process
(NEWSROOM_DEMO_BASE, default http://127.0.0.1:8000), so the scheduler and
worker run the real fetch path even with no network; the snapshot is also
ingested right away from disk so the site has articles before the first fetch.
"""
from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from articles.models import Article
from articles.tags import tags_seed_default_aliases
from feeds.models import Source
from feeds.services import source_create, source_fetch

DEMO_SOURCES = [
    ("chips.xml", "芯片与算力快讯", ["芯片"]),
    ("opensource.xml", "开源观察", ["开源"]),
    ("devices.xml", "终端与手机", ["手机"]),
    ("wechat-repost.xml", "科技公众号精选", []),
]


class Command(BaseCommand):
    help = "Load demo sources and ingest their bundled snapshots (works offline)."

    def add_arguments(self, parser):
        parser.add_argument("--base", default=os.environ.get("NEWSROOM_DEMO_BASE", "http://127.0.0.1:8000"))
        parser.add_argument("--no-editor", action="store_true", help="do not create the demo editor account")

    def handle(self, *args, base, no_editor, **opts):
        tags_seed_default_aliases()
        folder = Path(settings.BASE_DIR) / "static" / "demo" / "feeds"
        total = 0
        for filename, name, tags in DEMO_SOURCES:
            path = folder / filename
            if not path.exists():
                self.stderr.write(f"missing snapshot {path}")
                continue
            url = f"{base.rstrip('/')}/static/demo/feeds/{filename}"
            source = Source.objects.filter(url=url).first() or source_create(url=url, name=name, tags=tags)
            source.site_url = source.site_url or base
            source.fetch_full_text = False  # demo links point at .invalid hosts
            source.save(update_fields=["site_url", "fetch_full_text"])
            outcome = source_fetch(source=source, content=path.read_bytes(), content_type="application/rss+xml")
            total += outcome.new
            self.stdout.write(f"{name}: {outcome.status} new={outcome.new} updated={outcome.updated} {outcome.error}")
        if not no_editor:
            self._editor()
        self.stdout.write(f"demo loaded: {total} new articles, {Article.objects.count()} in total")

    def _editor(self) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(username="editor", defaults={"is_staff": True})
        if created:
            user.set_password("newsroom-demo")
            user.save()
            user.groups.add(Group.objects.get(name="editors"))
            self.stdout.write("demo editor account: editor / newsroom-demo (change it!)")
