from __future__ import annotations

from celery import shared_task

from articles import counters, related, search


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def flush_counters() -> int:
    return counters.flush_reads()


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def refresh_related(article_id: int) -> None:
    """One article: what earlier versions queued per article (kept so such messages still run)."""
    related.refresh_for(article_id)


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def refresh_related_many(article_ids: list[int]) -> None:
    """What one ingest call stored (see related.schedule_refresh): at most
    related.TASK_BATCH articles, well inside the time limit."""
    related.refresh_many(article_ids)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def merge_search_index() -> int:
    """The search index's pending list, merged off the ingest path (search.schedule_merge)."""
    return search.merge_pending()
