"""The Task row: one enqueued unit of work."""

from __future__ import annotations

import threading
import time
import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_taskflow import random_bytes
from django_taskflow.states import FINISHED, OnLost, Status

_id_lock = threading.Lock()
_last_id = (0, 0)  # (milliseconds, 12-bit sequence) of the previous id


def new_task_id() -> uuid.UUID:
    """Return a time-ordered UUID (version 7), so new rows append to the index.

    Within one process ids are strictly increasing: inside one millisecond a
    12-bit sequence counts up (RFC 9562, method 1), so the tasks of one
    ``enqueue_many`` call are claimed in the order they were given.
    """
    global _last_id
    with _id_lock:
        millis = time.time_ns() // 1_000_000
        last_millis, last_sequence = _last_id
        if millis <= last_millis:
            millis, sequence = last_millis, last_sequence + 1
            if sequence > 0xFFF:  # sequence exhausted: borrow the next millisecond
                millis, sequence = millis + 1, 0
        else:
            sequence = int.from_bytes(random_bytes.take(2)) & 0x3FF  # leave room to count up
        _last_id = (millis, sequence)
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= sequence << 64
    value |= 0x2 << 62  # RFC 9562 variant
    value |= int.from_bytes(random_bytes.take(8)) & ((1 << 62) - 1)
    return uuid.UUID(int=value)


# The partial unique index behind ``unique=True``; ``db/*.py`` repeat its
# condition in ``ON CONFLICT``, which must match it.
UNIQUE_ACTIVE_CONSTRAINT = "taskflow_task_unique_active"
UNIQUE_ACTIVE_CONDITION = models.Q(status__in=["queued", "running"], unique_key__isnull=False)


class TaskQuerySet(models.QuerySet["Task"]):
    """Querysets named after the states the worker and the docs' pruning recipe look for."""

    def running(self) -> TaskQuerySet:
        """Tasks a worker holds under a lease (recovery of a dead slot reads these)."""
        return self.filter(status=Status.RUNNING)

    def lease_expired(self) -> TaskQuerySet:
        """Running tasks whose lease ran out, by the database's clock (lease recovery)."""
        return self.filter(status=Status.RUNNING, lease_expires_at__lt=Now())

    def finished(self) -> TaskQuerySet:
        """Tasks in a final state: what pruning deletes (docs/howto/postgres.md)."""
        return self.filter(status__in=FINISHED)


class Task(models.Model):
    """One enqueued unit of work, from enqueue to its final state."""

    id = models.UUIDField(primary_key=True, default=new_task_id, editable=False)
    task_path = models.CharField(_("task"), max_length=255)
    backend = models.CharField(max_length=100, default="default")
    queue_name = models.CharField(_("queue"), max_length=100, default="default")
    priority = models.SmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    # NULL, not "", means "no key", so future unique-key constraints skip it.
    key = models.CharField(  # noqa: DJ001
        max_length=255,
        null=True,
        blank=True,
        help_text=_("The caller's own identifier for this task."),
    )
    tags = models.JSONField(default=list, blank=True)
    # @task(unique=True): the call's key while the task is queued or running
    # (a partial unique index); NULL for every other task.
    unique_key = models.CharField(  # noqa: DJ001
        max_length=64,
        null=True,
        blank=True,
        editable=False,
        help_text=_("Of a unique task: at most one queued or running task has it."),
    )
    # The capabilities a worker must offer to run it (a sorted list), or NULL
    # for none: the common case, which the claim's filter passes at no cost.
    requires = models.JSONField(
        null=True,
        blank=True,
        help_text=_("Capabilities a worker must offer (taskworker --capabilities) to run it."),
    )
    attempts = models.PositiveIntegerField(default=0)
    # Attempts lost mid-run (the worker died) or interrupted by a forced stop:
    # counted in attempts, but not against max_attempts, since they are the
    # worker's failure; OPTIONS["MAX_LOST_ATTEMPTS"] caps them instead.
    lost_attempts = models.PositiveIntegerField(default=0, db_default=0)
    max_attempts = models.PositiveIntegerField(default=1)
    on_lost = models.CharField(
        max_length=16,
        choices=OnLost.choices,
        default=OnLost.REQUEUE,
        db_default=OnLost.REQUEUE,
        help_text=_("What happens when the attempt is lost mid-run."),
    )
    retry_policy = models.JSONField(
        default=dict, blank=True, help_text=_("How long to wait before each retry.")
    )
    timeout_soft = models.FloatField(
        null=True, blank=True, help_text=_("Seconds before on_soft_timeout fires.")
    )
    timeout_hard = models.FloatField(
        null=True, blank=True, help_text=_("Seconds before the attempt is stopped.")
    )
    progress = models.FloatField(null=True, blank=True)
    progress_detail = models.JSONField(default=dict, blank=True)
    run_after = models.DateTimeField(
        _("run after"), default=timezone.now, help_text=_("The earliest time it may run.")
    )
    worker_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    # Concurrency caps and rate limits (django_taskflow.limits), NULL for a
    # task with neither: the claim of such rows is unchanged, and only rows
    # with a gate_key go through the gated claim. The gate is the unit the
    # gated claim picks (the concurrency group, the rate key, or both).
    gate_key = models.CharField(  # noqa: DJ001
        max_length=400,
        null=True,
        blank=True,
        editable=False,
        help_text=_("The group of a task under a concurrency cap or a rate limit."),
    )
    concurrency_key = models.CharField(  # noqa: DJ001
        _("concurrency group"), max_length=400, null=True, blank=True, editable=False
    )
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True, editable=False)
    concurrency_strategy = models.CharField(  # noqa: DJ001
        max_length=8, null=True, blank=True, editable=False
    )
    rate_key = models.CharField(  # noqa: DJ001
        _("rate limit group"), max_length=400, null=True, blank=True, editable=False
    )
    rate_limit = models.PositiveIntegerField(null=True, blank=True, editable=False)
    rate_seconds = models.FloatField(null=True, blank=True, editable=False)
    # How args, kwargs and result are stored when not as plain JSON of the
    # task's first version (django_taskflow.encoding.stored): NULL for most
    # tasks, which the worker then reads as before.
    encoding = models.CharField(  # noqa: DJ001
        max_length=200,
        null=True,
        blank=True,
        editable=False,
        help_text=_("How the payload is stored: its version, encoder and key."),
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A cancel request (operations.cancel): when, by whom, why. On a running
    # task it asks the worker to stop it; the status changes when it has.
    cancel_requested_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When cancelling this task was asked for.")
    )
    cancelled_by = models.CharField(
        max_length=255, blank=True, default="", db_default="", help_text=_("Who cancelled it.")
    )
    cancel_reason = models.TextField(
        blank=True, default="", db_default="", help_text=_("Why it was cancelled.")
    )

    # Set on a task made by operations.requeue(), or by a dead-letter retry
    # with edited arguments: the id of the task it repeats. A plain UUID, not
    # a foreign key, so pruning the original neither cascades nor needs an
    # index on a 10 M-row table.
    original = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text=_("The task this one repeats (requeued or retried with edited arguments)."),
    )

    # Who enqueued it through the API (NULL from code, the CLI or a schedule):
    # the API shows a user who is not staff only their own tasks. No index
    # of its own: taskflow_task_enqueued_by_idx holds the non-NULL rows only.
    enqueued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        db_index=False,
        related_name="+",
        help_text=_("The user who enqueued it through the API."),
    )
    # A step of a flow (chain, group, batch, child task): its flow and its
    # position among the flow's steps. NULL for every other task.
    flow = models.ForeignKey(
        "django_taskflow.Flow",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
        db_index=False,
        editable=False,
    )
    flow_position = models.PositiveIntegerField(null=True, blank=True, editable=False)

    objects = TaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["-enqueued_at"]
        # The operator's actions (admin, API); the command line is trusted.
        permissions = [
            ("cancel_task", _("Can cancel tasks")),
            ("requeue_task", _("Can requeue tasks")),
            ("retry_task", _("Can retry tasks now")),
            ("view_payload", _("Can view task arguments, results and tracebacks")),
            (
                "view_encrypted_payload",
                _("Can view the decrypted payloads of encrypted tasks"),
            ),
        ]
        indexes = [
            # The claim reads this index in its own order and stops after
            # LIMIT rows: queued rows only, so finished history never enters
            # it, and queue_name is checked in the index, before the heap.
            models.Index(
                models.F("priority").desc(),
                "run_after",
                "id",
                "queue_name",
                name="taskflow_task_claim_idx",
                condition=models.Q(status="queued", gate_key__isnull=True),
            ),
            # The gated claim: its groups (a loose scan), each group's next
            # task in ready order (fifo, and lifo read backwards) or by
            # priority, and each group's running tasks. Rows without a
            # gate never enter these indexes.
            models.Index(
                "gate_key",
                "run_after",
                "id",
                name="taskflow_task_gate_idx",
                condition=models.Q(status="queued", gate_key__isnull=False),
            ),
            models.Index(
                "gate_key",
                models.F("priority").desc(),
                "run_after",
                "id",
                name="taskflow_task_gate_prio_idx",
                condition=models.Q(status="queued", gate_key__isnull=False),
            ),
            models.Index(
                fields=["concurrency_key"],
                name="taskflow_task_group_running",
                condition=models.Q(status="running", concurrency_key__isnull=False),
            ),
            # Lease recovery and renewal look at running rows only.
            models.Index(
                fields=["lease_expires_at"],
                name="taskflow_task_lease_idx",
                condition=models.Q(status="running"),
            ),
            models.Index(
                fields=["worker_id"],
                name="taskflow_task_worker_idx",
                condition=models.Q(status="running"),
            ),
            # Only tasks given a key: the others never pay for it.
            models.Index(
                fields=["key"],
                name="taskflow_task_key_idx",
                condition=models.Q(key__isnull=False),
            ),
            # A flow's steps; tasks outside flows never enter it.
            models.Index(
                fields=["flow", "flow_position"],
                name="taskflow_task_flow_idx",
                condition=models.Q(flow__isnull=False),
            ),
            models.Index(fields=["status", "-enqueued_at"], name="taskflow_task_status_idx"),
            models.Index(fields=["-enqueued_at"], name="taskflow_task_enqueued_idx"),
            # find_tasks(name=...), history() and status_counts(name) (queries.py);
            # on PostgreSQL, migration 0004 adds a GIN index for tags.
            models.Index(fields=["task_path", "-enqueued_at"], name="taskflow_task_path_idx"),
            models.Index(fields=["queue_name", "-enqueued_at"], name="taskflow_task_queue_idx"),
            # The API's list for a user who sees only their own tasks; rows
            # enqueued from code (NULL) never enter it.
            models.Index(
                "enqueued_by",
                models.F("enqueued_at").desc(),
                models.F("id").desc(),
                name="taskflow_task_enqueued_by_idx",
                condition=models.Q(enqueued_by__isnull=False),
            ),
            # Pruning (retention.py) deletes finished rows oldest first by this
            # index, and stats' throughput counts recent finishes with it.
            # Finished rows only: a queued or running row (no finished_at)
            # costs enqueue and claim nothing here.
            models.Index(
                fields=["status", "finished_at"],
                condition=models.Q(finished_at__isnull=False),
                name="taskflow_task_finished_idx",
            ),
        ]
        constraints = [
            # unique=True: one queued or running task per call. Partial, so a
            # finished task frees its key with the status change alone, and
            # rows without a key (most) never enter the index.
            models.UniqueConstraint(
                fields=["unique_key"],
                name=UNIQUE_ACTIVE_CONSTRAINT,
                condition=UNIQUE_ACTIVE_CONDITION,
            ),
            models.CheckConstraint(
                condition=models.Q(
                    priority__gte=TASK_MIN_PRIORITY, priority__lte=TASK_MAX_PRIORITY
                ),
                name="taskflow_task_priority_range",
            ),
            models.CheckConstraint(
                condition=models.Q(max_attempts__gte=1),
                name="taskflow_task_max_attempts_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_path} [{self.id}]"

    @property
    def counted_attempts(self) -> int:
        """Attempts that use up ``max_attempts``: all but the lost ones."""
        return self.attempts - self.lost_attempts

    @property
    def duration(self) -> float | None:
        """Seconds from first start to finish, when both are known."""
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
