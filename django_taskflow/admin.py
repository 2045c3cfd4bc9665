"""The admin: importing this module registers every taskflow admin page.

Django's admin autodiscovery imports it. Each page lives in a module of its
own: the tasks in ``task_admin.py`` (with ``admin_inlines.py`` for attempts
and the timeline, ``admin_actions.py``, ``admin_filters.py``), what the
pages show in ``admin_display.py``, the dead-letter and stuck-task views in
``operator_admin.py``, then schedules, flows, services, workers and alerts.
"""

from __future__ import annotations

# Kept importable from here, where other admin modules found them before the split.
from django_taskflow.admin_display import (
    LIST_DEFERRED,
    ReadOnlyMixin,
    attempts_summary,
    format_time,
    precise_time,
    pretty_json,
)
from django_taskflow.admin_inlines import AttemptInline, EventInline
from django_taskflow.task_admin import TaskAdmin

# isort: split
# Importing each module registers its admin. They import the helpers above
# from their own modules; service_admin still finds them here.
from django_taskflow import (  # noqa: F401
    alert_admin,
    flow_admin,
    operator_admin,
    schedule_admin,
    service_admin,
    worker_admin,
)

__all__ = [
    "LIST_DEFERRED",
    "AttemptInline",
    "EventInline",
    "ReadOnlyMixin",
    "TaskAdmin",
    "attempts_summary",
    "format_time",
    "precise_time",
    "pretty_json",
]
