"""Services: long-running handlers owned by one worker at a time, their messages and events."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ServiceState(models.TextChoices):
    """Where a service is in its life."""

    # Wanted running: a worker owns it, or one takes it over soon.
    RUNNING = "running", _("Running")
    # services.stop() was called: its owner runs on_stop, then it is stopped.
    STOPPING = "stopping", _("Stopping")
    STOPPED = "stopped", _("Stopped")
    # It failed max_restarts times within restart_window.
    FAILED = "failed", _("Failed")


class Service(models.Model):
    """One named, long-running service and its owner's lease.

    It exists so that exactly one worker at a time runs the service: the
    owner holds a lease (by the database's clock) that its host renews, and
    any worker with ``--services`` takes over a service whose lease expired.
    """

    name = models.CharField(max_length=200, primary_key=True)
    service_path = models.CharField(max_length=300)
    config = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=16, choices=ServiceState.choices, default=ServiceState.RUNNING
    )
    owner = models.CharField(max_length=200, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    last_tick_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Failures of on_start / on_tick within the restart window (their times),
    # and the latest errors, newest last.
    restart_times = models.JSONField(default=list, blank=True)
    restarts = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ["name"]
        permissions = [("steer_service", _("Can stop or restart a service"))]
        indexes = [
            models.Index(fields=["state", "lease_expires_at"], name="taskflow_service_claim_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class MessageState(models.TextChoices):
    PENDING = "pending", _("Pending")
    # Its handler raised max_deliveries times: set aside, the service goes on.
    DEAD = "dead", _("Dead")


class ServiceMessage(models.Model):
    """One message sent to a service: durable, delivered in id order, deleted once handled.

    It exists so that messages survive their sender and the service's owner:
    a message is deleted only after ``on_message`` returned, so a worker
    that dies mid-message leaves it for the next owner.
    """

    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    body = models.JSONField()
    state = models.CharField(
        max_length=8, choices=MessageState.choices, default=MessageState.PENDING
    )
    deliveries = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("service message")
        verbose_name_plural = _("service messages")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["service", "state", "id"], name="taskflow_svcmsg_next_idx"),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} to {self.service_id}"


class ServiceEvent(models.Model):
    """Append-only log of what services did and emitted, behind ``services.events()``.

    A table of its own rather than ``Event`` rows without a task: the task
    event log is written by the workers' batched raw SQL on the hot path
    and can hold millions of rows, and a service's events are read by
    service name.
    """

    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=16)
    owner = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("service event")
        verbose_name_plural = _("service events")
        ordering = ["id"]
        indexes = [models.Index(fields=["service", "id"], name="taskflow_svcevent_idx")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.service_id}"
