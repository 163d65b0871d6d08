from __future__ import annotations

from celery import shared_task

from articles import counters, related


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def flush_counters() -> int:
    return counters.flush_reads()


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def refresh_related(article_id: int) -> None:
    related.refresh_for(article_id)
