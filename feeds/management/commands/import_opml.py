from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from feeds.services import sources_import_opml


class Command(BaseCommand):
    help = "Import sources from an OPML file (folders become default tags)."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **opts):
        path = Path(file)
        if not path.exists():
            raise CommandError(f"no such file: {file}")
        try:
            report = sources_import_opml(data=path.read_bytes())
        except ValueError as exc:
            raise CommandError(str(exc))
        for problem in report.problems:
            self.stderr.write(f"skipped {problem}")
        self.stdout.write(f"{report.created} sources imported, {report.skipped} skipped")
