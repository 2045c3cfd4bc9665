"""Vendor SQL: the claim and completion statements and the wake-up waiter.

Everything else in the package uses the ORM. ``dialect_for`` picks the
module for a database alias.
"""

from __future__ import annotations

from types import ModuleType

from django.db import connections

# Columns the claim statement returns, in order; claim.py reads them by index.
CLAIM_COLUMNS = (
    "id",
    "task_path",
    "backend",
    "queue_name",
    "priority",
    "args",
    "kwargs",
    "attempts",
    "max_attempts",
    "retry_policy",
    "timeout_soft",
    "timeout_hard",
    "key",
    "tags",
    "run_after",
    "enqueued_at",
    "started_at",
    "lost_attempts",
    "on_lost",
)

# Columns of one completion, in the order the completion statements bind them.
COMPLETION_COLUMNS = (
    "id",
    "status",
    "result",
    "run_after",
    "started_at",
    "finished_at",
    "final_at",
    "number",
    "outcome",
    "error_class",
    "error_message",
    "traceback",
    "error_value",
)

EVENT_COLUMNS = ("task_id", "kind", "attempt", "created_at", "data")


# Columns enqueue writes, in order; every other column takes its default.
INSERT_COLUMNS = (
    "id",
    "task_path",
    "backend",
    "queue_name",
    "priority",
    "status",
    "args",
    "kwargs",
    "key",
    "tags",
    "attempts",
    "max_attempts",
    "retry_policy",
    "timeout_soft",
    "timeout_hard",
    "progress_detail",
    "run_after",
    "enqueued_at",
    "on_lost",
)


def dialect_for(database: str) -> ModuleType:
    """Return ``db.postgres`` or ``db.sqlite`` for the database alias."""
    vendor = connections[database].vendor
    if vendor == "postgresql":
        from django_taskflow.db import postgres

        return postgres
    from django_taskflow.db import sqlite

    return sqlite
