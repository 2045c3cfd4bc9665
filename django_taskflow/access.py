"""Who may see which tasks: the rule the live updates and the API share.

Staff see every task; any other user sees only the tasks they enqueued.
No framework here: plain users and querysets, so that a websocket consumer
(through ``database_sync_to_async``) and an API view ask the same question.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from django_taskflow import models


def is_active_user(user: Any) -> bool:
    """A signed-in user whose account is active (never ``AnonymousUser``)."""
    return bool(user is not None and user.is_authenticated and user.is_active)


def sees_all_tasks(user: Any) -> bool:
    """Staff (and superusers) see every task."""
    return is_active_user(user) and bool(user.is_staff or user.is_superuser)


def owned_tasks(user: Any) -> Q | None:
    """The condition that picks the tasks ``user`` enqueued; None while tasks do not say.

    The hook for ownership: tasks record who enqueued them in
    ``Task.enqueued_by`` once the REST API (issue 11) adds that column.
    Until then a user who is not staff owns no task.
    """
    if any(field.name == "enqueued_by" for field in models.Task._meta.get_fields()):
        return Q(enqueued_by=user.pk)
    return None


def visible_tasks(user: Any, tasks: models.TaskQuerySet) -> models.TaskQuerySet:
    """The part of ``tasks`` that ``user`` may see: all, their own, or none."""
    if sees_all_tasks(user):
        return tasks
    owned = owned_tasks(user) if is_active_user(user) else None
    return tasks.none() if owned is None else tasks.filter(owned)


def visible_ids(user: Any, task_ids: Iterable[str], database: str = "default") -> set[str]:
    """Those of ``task_ids`` (strings) that name a task ``user`` may see, in one query."""
    wanted = list(task_ids)
    if not wanted:
        return set()
    rows = visible_tasks(user, models.Task.objects.using(database).filter(pk__in=wanted))
    return {str(pk) for pk in rows.values_list("pk", flat=True)}
