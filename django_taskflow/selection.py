"""Which tasks an operation acts on, walked in chunks of ids.

``operations.py`` takes a selection (ids, a queryset such as the admin's
"select all", or ``find_tasks`` filters) and hands it here to be read
``rerun.CHUNK`` ids at a time: 100,000 selected tasks are never loaded at
once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypedDict, Unpack

from django.db.models import QuerySet

from django_taskflow import models, queries, rerun
from django_taskflow.exceptions import InvalidQuery

TaskSelection = str | uuid.UUID | Iterable[str | uuid.UUID] | QuerySet[models.Task] | None


class TaskFilters(TypedDict, total=False):
    """The filters of ``find_tasks`` that select tasks instead of ids (all must match)."""

    name: str | None
    tag: str | None
    queue: str | None
    status: str | Iterable[str] | None


def in_chunks(
    write: Callable[[str, list[uuid.UUID]], rerun.Report],
    task_ids: TaskSelection,
    *,
    backend: str,
    operation: str,
    **filters: Unpack[TaskFilters],
) -> rerun.Report:
    """Call ``write(database, ids)`` on the selection, chunk by chunk; add up the reports.

    ``operation`` names the caller in the error raised for no selection,
    or for ids and filters both given.
    """
    unexpected = sorted(set(filters) - TaskFilters.__optional_keys__)
    if unexpected:
        # As a plain signature would: a misspelt filter must not select everything else.
        raise TypeError(f"{operation}() got an unexpected keyword argument {unexpected[0]!r}")
    database = queries.database_for(backend)
    report = rerun.Report()
    selection = _selection(
        task_ids,
        filters.get("name"),
        filters.get("tag"),
        filters.get("queue"),
        filters.get("status"),
        backend,
        operation,
    )
    for chunk in task_id_chunks(selection, rerun.CHUNK):
        report.add(write(database, chunk))
    return report


def _selection(
    task_ids: TaskSelection,
    name: str | None,
    tag: str | None,
    queue: str | None,
    status: str | Iterable[str] | None,
    backend: str,
    operation: str,
) -> QuerySet[models.Task] | list[uuid.UUID]:
    has_filters = not (name is None and tag is None and queue is None and status is None)
    if task_ids is None:
        if not has_filters:
            raise InvalidQuery(f"{operation} needs task ids or at least one filter.")
        return queries.filter_tasks(name=name, tag=tag, queue=queue, status=status, backend=backend)
    if has_filters:
        raise InvalidQuery(f"{operation} takes task ids or filters, not both.")
    if isinstance(task_ids, QuerySet):
        return task_ids
    if isinstance(task_ids, str | uuid.UUID):
        task_ids = [task_ids]
    try:
        return [uuid.UUID(str(task_id)) for task_id in task_ids]
    except (TypeError, ValueError) as exc:
        raise InvalidQuery(f"task_ids must be task ids, got {task_ids!r}.") from exc


def task_id_chunks(
    selection: QuerySet[models.Task] | Sequence[uuid.UUID], size: int
) -> Iterator[list[uuid.UUID]]:
    """Yield the ids of ``selection`` in lists of at most ``size``, never all at once.

    A queryset is read by keyset on the primary key, up to the largest id
    it held when the walk began: tasks that the walk itself creates
    (``requeue``) are not walked again, and rows leaving the selection
    (``retry_now`` on ``status=failed``) do not shift the pages.
    """
    if not isinstance(selection, QuerySet):
        for start in range(0, len(selection), size):
            yield list(selection[start : start + size])
        return
    ids = selection.order_by("pk").values_list("pk", flat=True)
    last = selection.order_by("-pk").values_list("pk", flat=True).first()
    if last is None:
        return
    ids = ids.filter(pk__lte=last)
    after: uuid.UUID | None = None
    while True:
        page = list((ids if after is None else ids.filter(pk__gt=after))[:size])
        if not page:
            return
        yield page
        if len(page) < size:
            return
        after = page[-1]
