from django.core.management.base import BaseCommand

from articles.search import reindex_all


class Command(BaseCommand):
    help = "Rebuild every article's search index (after a tokenizer or index-format change)."

    def handle(self, *args, **opts):
        count = reindex_all()
        self.stdout.write(f"{count} articles reindexed")
