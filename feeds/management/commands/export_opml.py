from django.core.management.base import BaseCommand

from feeds.models import Source
from feeds.opml import export_opml


class Command(BaseCommand):
    help = "Print all sources as OPML."

    def handle(self, *args, **opts):
        self.stdout.write(export_opml(Source.objects.order_by("name")).decode("utf-8"))
