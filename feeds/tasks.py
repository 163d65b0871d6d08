from __future__ import annotations

import logging

from celery import shared_task

from feeds.services import source_fetch_by_id, sources_lease_due

log = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180, max_retries=0)
def fetch_source(source_id: int) -> dict | None:
    """Thin: load the row, call the service. The service records every failure on the source
    and sets its next fetch, so there is nothing to retry here. Safe to run twice (a worker
    killed mid-way redelivers it): ingest is an upsert on (source, guid)."""
    outcome = source_fetch_by_id(source_id)
    if outcome is None:
        return None
    log.info("fetched source=%s status=%s new=%s updated=%s", source_id, outcome.status, outcome.new, outcome.updated)
    return outcome.as_json()


@shared_task(acks_late=True, soft_time_limit=30, time_limit=60)
def schedule_due_sources() -> int:
    """Lease due sources (committed before we enqueue) and queue one fetch each. If the broker
    or a worker loses a message, the lease expires and a later tick picks the source again."""
    ids = sources_lease_due()
    for sid in ids:
        fetch_source.delay(sid)
    return len(ids)
