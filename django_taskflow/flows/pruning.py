"""Retention for flows: a finished flow goes once its retention has passed and no task is left.

``retention`` prunes flows after tasks, with the same cutoffs: a flow's
status (succeeded, failed, cancelled) is a task's, and so is its
retention. A flow is kept while any of its steps' tasks is kept, so a
task's page never links to a missing flow, and a flow's page shows every
step it still has. Like tasks, in short chunks, never loaded into Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import reduce
from operator import or_

from django.db import connections, transaction
from django.db.models import Exists, OuterRef, Q

from django_taskflow import models
from django_taskflow.db import delete_flows


def prune_chunk(database: str, backend: str, status: str, before: datetime, chunk_size: int) -> int:
    """Delete one chunk of flows of ``status`` finished before ``before`` with no task left."""
    quote = connections[database].ops.quote_name
    tables = {
        "flow": quote(models.Flow._meta.db_table),
        "task": quote(models.Task._meta.db_table),
    }
    with transaction.atomic(using=database), connections[database].cursor() as cursor:
        return delete_flows(
            cursor, tables=tables, params=[status, before, backend], limit=chunk_size
        )


def count_prunable(database: str, backend: str, cutoffs: Mapping[str, datetime]) -> int:
    """How many flows a prune by ``cutoffs`` would delete (``dry_run``).

    Counts those whose every task the same prune deletes, as a real prune
    deletes the tasks first.
    """
    if not cutoffs:
        return 0
    past = reduce(
        or_, (Q(status=status, finished_at__lt=before) for status, before in cutoffs.items())
    )
    kept = (
        models.Task.objects.using(database)
        .filter(flow=OuterRef("pk"))
        .exclude(Q(backend=backend) & past)
    )
    return (
        models.Flow.objects.using(database)
        .filter(past, backend=backend)
        .filter(~Exists(kept))
        .count()
    )
