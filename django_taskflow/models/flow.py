"""The Flow row: a chain, group, chord or batch of tasks, advanced step by step."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_taskflow.models.task import new_task_id


class FlowStatus(models.TextChoices):
    """Where a flow is in its life."""

    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class Flow(models.Model):
    """One enqueued flow: its graph, its steps' states and results.

    Exists because a flow must outlive the processes that run its steps:
    the graph (``graph``: stages of steps, each a task path with bound
    arguments and options) and each step's state (``steps``: its task id,
    state, and result) are rows, so any worker can advance the flow, an
    operator can see and resume it, and a crashed worker loses nothing.
    Each step's Task row is created when the step is due and points back
    here (``Task.flow``, ``Task.flow_position``).
    """

    id = models.UUIDField(primary_key=True, default=new_task_id, editable=False)
    kind = models.CharField(max_length=16, default="chain")
    backend = models.CharField(max_length=100, default="default")
    status = models.CharField(max_length=16, choices=FlowStatus.choices, default=FlowStatus.RUNNING)
    graph = models.JSONField(default=dict)
    steps = models.JSONField(default=list)
    options = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # The stage whose steps run now (an index into graph["stages"]).
    stage = models.PositiveIntegerField(default=0)
    deadline = models.DateTimeField(null=True, blank=True)
    # Of a task's children (context.spawn): the parent task's id. A plain
    # UUID, as Task.original, so pruning the parent neither cascades nor waits.
    parent_task = models.UUIDField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # Set by every advance: the sweep looks for steps that ended after it.
    advanced_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("flow")
        verbose_name_plural = _("flows")
        ordering = ["-created_at"]
        permissions = [
            ("cancel_flow", _("Can cancel flows")),
            ("resume_flow", _("Can resume flows")),
        ]
        indexes = [
            # The sweep reads running flows only.
            models.Index(
                fields=["advanced_at"],
                name="taskflow_flow_running_idx",
                condition=models.Q(status="running"),
            ),
            models.Index(fields=["-created_at"], name="taskflow_flow_created_idx"),
            # Retention deletes finished flows of a status, oldest first
            # (flows/pruning.py); running flows have no finished_at.
            models.Index(fields=["status", "finished_at"], name="taskflow_flow_finished_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} [{self.id}]"
