import json

from django.core.management.base import BaseCommand, CommandError

from articles.related import refreshed_in_process
from feeds.models import Source
from feeds.services import sources_fetch_many


class Command(BaseCommand):
    help = "Fetch sources in-process and print a summary (or one JSON object per source with --json)."

    def add_arguments(self, parser):
        parser.add_argument("--source", type=int, action="append", help="source id (repeatable)")
        parser.add_argument("--all", action="store_true", help="every active source, due or not")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--concurrency", type=int, default=None)

    def handle(self, *args, source, all, json: bool, concurrency, **opts):
        as_json = json
        if source:
            ids = list(Source.objects.filter(pk__in=source).values_list("pk", flat=True))
            missing = set(source) - set(ids)
            if missing:
                raise CommandError(f"no such source: {', '.join(map(str, sorted(missing)))}")
        elif all:
            ids = list(Source.objects.active().values_list("pk", flat=True))
        else:
            from django.utils import timezone

            ids = list(Source.objects.due(timezone.now()).values_list("pk", flat=True))
        # In-process from end to end: the related posts of what was stored are done
        # when the command returns, whether or not a worker serves the process queue.
        with refreshed_in_process():
            outcomes = sources_fetch_many(ids, concurrency=concurrency)
        errors = 0
        for o in outcomes:
            if o.status == "error":
                errors += 1
            if as_json:
                self.stdout.write(_json_line(o))
            else:
                line = f"source {o.source}: {o.status} new={o.new} updated={o.updated} health={o.health}"
                if o.error:
                    line += f" error[{o.error_kind}]={o.error}"
                self.stdout.write(line)
        if not as_json:
            self.stdout.write(f"{len(outcomes)} sources, {errors} errors, "
                              f"{sum(o.new for o in outcomes)} new, {sum(o.updated for o in outcomes)} updated")


def _json_line(outcome) -> str:
    return json.dumps(outcome.as_json(), ensure_ascii=False)
