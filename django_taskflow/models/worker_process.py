"""The WorkerProcess row (one running ``taskworker``) and its WorkerSlot rows."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WorkerProcess(models.Model):
    """One running worker: a supervisor and its slots, kept by its heartbeat.

    Written only by the worker itself (``worker/presence.py``): inserted
    when it starts, refreshed about once per heartbeat interval, deleted on
    a clean stop. A worker that dies without a goodbye (SIGKILL, a lost
    host) leaves its row, which counts as gone once ``alive_until`` passes:
    every heartbeat moves ``alive_until`` ``GONE_AFTER_HEARTBEATS`` heartbeat
    intervals ahead, so "alive" is one indexed comparison, with no column
    that someone must remember to update. Long-gone rows are deleted by the
    next live worker's sweep. Read through ``django_taskflow.worker_status``.
    """

    worker_id = models.CharField(
        _("worker id"),
        max_length=100,
        unique=True,
        help_text=_("host:pid of the supervisor (the name given with --name replaces the host)."),
    )
    host = models.CharField(_("host"), max_length=255)
    pid = models.PositiveIntegerField(_("pid"))
    name = models.CharField(_("name"), max_length=100, blank=True, default="")
    backend = models.CharField(max_length=100, default="default")
    pool = models.CharField(_("pool"), max_length=10)
    queues = models.JSONField(_("queues"), default=list, help_text=_("Empty: every queue."))
    capabilities = models.JSONField(_("capabilities"), default=list)
    concurrency = models.PositiveIntegerField(_("slots"))
    running_task_ids = models.JSONField(
        _("running tasks"), default=list, help_text=_("As of the last heartbeat.")
    )
    started_at = models.DateTimeField(_("started"))
    last_heartbeat = models.DateTimeField(_("last heartbeat"))
    alive_until = models.DateTimeField(
        _("alive until"), help_text=_("Gone if no heartbeat moves this ahead in time.")
    )

    class Meta:
        verbose_name = _("worker")
        verbose_name_plural = _("workers")
        ordering = ["host", "pid"]
        indexes = [models.Index(fields=["alive_until"], name="taskflow_worker_alive_idx")]

    def __str__(self) -> str:
        return self.worker_id

    @property
    def is_alive(self) -> bool:
        """By this host's clock; ``worker_status`` asks the database's, as workers write it."""
        return self.alive_until > timezone.now()


class WorkerSlot(models.Model):
    """One slot of a running worker, by the worker id it writes on claimed tasks.

    ``Task.worker_id`` (and ``Attempt.worker_id``) name a slot; this row
    leads from that id to its WorkerProcess. Replaced when the worker
    replaces the slot (after a crash, or when it recycles it).
    """

    worker_id = models.CharField(_("slot worker id"), max_length=100, primary_key=True)
    process = models.ForeignKey(
        WorkerProcess, on_delete=models.CASCADE, related_name="slots", verbose_name=_("worker")
    )
    index = models.PositiveIntegerField(_("slot"))
    pid = models.PositiveIntegerField(_("pid"))

    class Meta:
        verbose_name = _("worker slot")
        verbose_name_plural = _("worker slots")
        ordering = ["process", "index"]

    def __str__(self) -> str:
        return self.worker_id
