from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from feeds.models import Source
from feeds.opml import parse_opml
from feeds.services import source_create


class Command(BaseCommand):
    help = "Import sources from an OPML file (folders become default tags)."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **opts):
        path = Path(file)
        if not path.exists():
            raise CommandError(f"no such file: {file}")
        try:
            outlines = parse_opml(path.read_bytes())
        except Exception as exc:
            raise CommandError(f"cannot read OPML: {exc}")
        created = skipped = 0
        for o in outlines:
            if Source.objects.filter(url=o.url).exists():
                skipped += 1
                continue
            try:
                source_create(url=o.url, name=o.title, tags=o.tags, site_url=o.site_url)
                created += 1
            except Exception as exc:
                self.stderr.write(f"skipped {o.url}: {exc}")
                skipped += 1
        self.stdout.write(f"{created} sources imported, {skipped} skipped")
