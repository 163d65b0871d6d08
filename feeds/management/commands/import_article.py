from django.core.management.base import BaseCommand, CommandError

from articles.related import refreshed_in_process
from feeds.services import article_import


class Command(BaseCommand):
    help = "Import one page (e.g. a WeChat article) as an article and print its id."

    def add_arguments(self, parser):
        parser.add_argument("url")
        parser.add_argument("--tags", default="")

    def handle(self, *args, url, tags, **opts):
        try:
            # Related posts are ready when the command returns, with or without a worker.
            with refreshed_in_process():
                article_id = article_import(url=url, tags=[t for t in tags.split(",") if t.strip()])
        except Exception as exc:
            raise CommandError(f"import failed: {exc}")
        self.stdout.write(str(article_id))
