"""Structured logs: a JSON formatter (LOG_FORMAT=json) and a filter that puts
the Celery task id/name and the source id on every record.

Where the ids come from, in order: ``extra={"source_id": …}`` on the call; the
``log_context(source_id=…)`` block around the work (a contextvar, so threads
of sources_fetch_many each keep their own); the running Celery task
(``celery.current_task``) — for ``feeds.tasks.fetch_source`` its first
argument is the source id.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
from datetime import datetime, timezone
from typing import Iterator

_context: contextvars.ContextVar[dict] = contextvars.ContextVar("newsroom_log_context", default={})

SOURCE_TASKS = {"feeds.tasks.fetch_source"}

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "context"}


@contextlib.contextmanager
def log_context(**values) -> Iterator[None]:
    """Attach ids (source_id=…, article_id=…) to every record logged inside the block."""
    token = _context.set({**_context.get(), **{k: v for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def _task_fields() -> dict:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a dependency
        return {}
    task = current_task
    request = getattr(task, "request", None) if task else None
    task_id = getattr(request, "id", None)
    if not task_id:
        return {}
    fields = {"task_id": task_id, "task_name": task.name}
    args = getattr(request, "args", None) or ()
    if task.name in SOURCE_TASKS and args:
        fields["source_id"] = args[0]
    return fields


class ContextFilter(logging.Filter):
    """Adds task_id / task_name / source_id (when known) and a compact `context`
    string for the plain format. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = {**_task_fields(), **_context.get()}
        for key, value in fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        shown = [f"{k}={getattr(record, k)}" for k in ("task_id", "source_id") if getattr(record, k, None) is not None]
        record.context = f" [{' '.join(shown)}]" if shown else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, exception."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def _keep_django_logging_in_celery() -> None:
    """Celery replaces the root logger's handlers with its own plain format;
    in JSON mode keep Django's LOGGING (a receiver on setup_logging tells
    Celery not to configure logging at all)."""
    try:
        from celery.signals import setup_logging
    except ImportError:  # pragma: no cover
        return

    @setup_logging.connect(weak=False)
    def _use_django_logging(**kwargs) -> None:
        return None


if os.environ.get("LOG_FORMAT", "").lower() == "json":
    _keep_django_logging_in_celery()
