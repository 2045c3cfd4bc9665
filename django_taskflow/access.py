"""Who may see which tasks, and their payloads: the rules the API and live updates share.

Staff see every task; any other user sees only the tasks they enqueued
(``Task.enqueued_by``). Arguments, results, progress details, error
messages and tracebacks are payload: shown only to users with the
``django_taskflow.view_payload`` permission. Steering a task takes the
admin's permissions (``cancel_task``, ``requeue_task``, ``retry_task``)
and being able to see it.

Services are seen by staff with ``view_service`` (the admin's own rule:
its service pages), and stopped or restarted by those who also have
``steer_service``. What a service emits is its output, shown to whoever
may see the service; the error messages in its other events are payload.
No framework here: plain users and querysets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django_taskflow import models

# Task fields that are payload, and the event data keys that are not (the
# rest of an event's data, e.g. a progress detail or an error message, is).
PAYLOAD_FIELDS = ("args", "kwargs", "result", "progress_detail")
PUBLIC_EVENT_KEYS = frozenset({"progress", "message", "by", "seconds", "error_class"})

CANCEL = "django_taskflow.cancel_task"
REQUEUE = "django_taskflow.requeue_task"
RETRY = "django_taskflow.retry_task"
VIEW_PAYLOAD = "django_taskflow.view_payload"
VIEW_SERVICE = "django_taskflow.view_service"
STEER_SERVICE = "django_taskflow.steer_service"
# Keys of a service event's data that are payload, except in what it emitted.
SERVICE_PAYLOAD_KEYS = frozenset({"error"})


def is_active_user(user: Any) -> bool:
    """A signed-in user whose account is active (never ``AnonymousUser``)."""
    return bool(user is not None and user.is_authenticated and user.is_active)


def sees_all_tasks(user: Any) -> bool:
    """Staff (and superusers) see every task, the queue's figures and the workers."""
    return is_active_user(user) and bool(user.is_staff or user.is_superuser)


def visible_tasks(user: Any, tasks: models.TaskQuerySet) -> models.TaskQuerySet:
    """The part of ``tasks`` that ``user`` may see: all, their own, or none."""
    if sees_all_tasks(user):
        return tasks
    if not is_active_user(user):
        return tasks.none()
    return tasks.filter(enqueued_by=user.pk)


def may_see(user: Any, task: models.Task) -> bool:
    """Whether ``user`` may see this one task (a row already read)."""
    if sees_all_tasks(user):
        return True
    return is_active_user(user) and task.enqueued_by_id == user.pk


def sees_payload(user: Any) -> bool:
    """Whether ``user`` may see arguments, results, error messages and tracebacks."""
    return is_active_user(user) and bool(user.has_perm(VIEW_PAYLOAD))


def public_event_data(data: dict[str, Any]) -> dict[str, Any]:
    """An event's data without its payload, for a user who may not see it."""
    return {key: value for key, value in data.items() if key in PUBLIC_EVENT_KEYS}


def sees_services(user: Any) -> bool:
    """Staff with ``view_service`` see services, their state and their events."""
    return sees_all_tasks(user) and bool(user.has_perm(VIEW_SERVICE))


def steers_services(user: Any) -> bool:
    """Staff who see services and have ``steer_service`` may stop and restart them."""
    return sees_services(user) and bool(user.has_perm(STEER_SERVICE))


def public_service_data(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """A service event's data without error messages, for a user who may not see payload."""
    if kind == "emitted":
        return data
    return {key: value for key, value in data.items() if key not in SERVICE_PAYLOAD_KEYS}


def visible_ids(user: Any, task_ids: Iterable[str], database: str = "default") -> set[str]:
    """Those of ``task_ids`` (strings) that name a task ``user`` may see, in one query."""
    wanted = list(task_ids)
    if not wanted:
        return set()
    rows = visible_tasks(user, models.Task.objects.using(database).filter(pk__in=wanted))
    return {str(pk) for pk in rows.values_list("pk", flat=True)}
