"""Steering: the one home of what operators do to tasks, queues and schedules.

The admin, the ``taskflow`` command, the API and the dashboard call these
functions and nothing below them; none of them writes a task's status, a
``QueueState`` or a schedule run itself. They check their arguments, then
call the module that writes (``cancellation.py``, ``rerun.py``,
``stuck.py``, ``retention.py``, ``scheduler.py``). No permission checks
here: the callers own those. Each function that acts on tasks has an async
twin with an ``a`` prefix. One module per kind of action:

- ``cancelling``: cancel, cancel_tasks, cancel_all, cancel_selected;
- ``rerunning``: requeue, retry_now, retry_with_arguments, recover_stuck;
- ``queue_control``: pause_queue, resume_queue, set_queue_limit;
- ``deleting``: purge_queue, prune, prune_by_retention, discard;
- ``schedule_runs``: run_schedule_now, enable_schedules, disable_schedules;
- ``flows``: cancel_flow, resume_flow;
- ``service_control``: stop_service, restart_service.
"""

from __future__ import annotations

# `django_taskflow.operations.time.sleep` stays patchable, as it was before
# this module became a package: tests skip pause_queue's wait through it.
import time  # noqa: F401

from django_taskflow.operations.cancelling import (
    acancel,
    acancel_all,
    acancel_selected,
    acancel_tasks,
    cancel,
    cancel_all,
    cancel_selected,
    cancel_tasks,
)
from django_taskflow.operations.deleting import (
    adiscard,
    discard,
    prune,
    prune_by_retention,
    purge_queue,
)
from django_taskflow.operations.flows import (
    acancel_flow,
    aresume,
    aresume_flow,
    cancel_flow,
    resume,
    resume_flow,
)
from django_taskflow.operations.queue_control import (
    PAUSE_MARGIN_SECONDS,
    apause_queue,
    aresume_queue,
    aset_queue_limit,
    pause_queue,
    resume_queue,
    set_queue_limit,
)
from django_taskflow.operations.rerunning import (
    arecover_stuck,
    arequeue,
    aretry_now,
    aretry_with_arguments,
    recover_stuck,
    requeue,
    retry_now,
    retry_with_arguments,
)
from django_taskflow.operations.schedule_runs import (
    arun_schedule_now,
    disable_schedules,
    enable_schedules,
    run_schedule_now,
)
from django_taskflow.operations.service_control import (
    arestart_service,
    astop_service,
    restart_service,
    stop_service,
)

__all__ = [
    "PAUSE_MARGIN_SECONDS",
    "acancel",
    "acancel_all",
    "acancel_flow",
    "acancel_selected",
    "acancel_tasks",
    "adiscard",
    "apause_queue",
    "arecover_stuck",
    "arequeue",
    "arestart_service",
    "aresume",
    "aresume_flow",
    "aresume_queue",
    "aretry_now",
    "aretry_with_arguments",
    "arun_schedule_now",
    "aset_queue_limit",
    "astop_service",
    "cancel",
    "cancel_all",
    "cancel_flow",
    "cancel_selected",
    "cancel_tasks",
    "disable_schedules",
    "discard",
    "enable_schedules",
    "pause_queue",
    "prune",
    "prune_by_retention",
    "purge_queue",
    "recover_stuck",
    "requeue",
    "restart_service",
    "resume",
    "resume_flow",
    "resume_queue",
    "retry_now",
    "retry_with_arguments",
    "run_schedule_now",
    "set_queue_limit",
    "stop_service",
]
