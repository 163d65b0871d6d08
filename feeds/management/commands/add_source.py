from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from feeds.models import Source
from feeds.services import source_create


class Command(BaseCommand):
    help = "Add a source (RSS/Atom URL or HTML listing page) and print its id."

    def add_arguments(self, parser):
        parser.add_argument("url")
        parser.add_argument("--kind", choices=[k.value for k in Source.Kind], default=Source.Kind.RSS)
        parser.add_argument("--tags", default="", help="comma-separated default tags")
        parser.add_argument("--name", default="")
        parser.add_argument("--selectors", default="", help='JSON for html sources, e.g. {"item": "a.title"}')

    def handle(self, *args, url, kind, tags, name, selectors, **opts):
        import json

        if Source.objects.filter(url=url).exists():
            raise CommandError(f"source already exists: {url} (id {Source.objects.get(url=url).pk})")
        try:
            sel = json.loads(selectors) if selectors else {}
        except ValueError as exc:
            raise CommandError(f"--selectors is not valid JSON: {exc}")
        try:
            source = source_create(url=url, kind=kind, name=name,
                                   tags=[t.strip() for t in tags.replace("，", ",").split(",") if t.strip()],
                                   selectors=sel)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {', '.join(v)}" for k, v in exc.message_dict.items()))
        self.stdout.write(str(source.pk))
