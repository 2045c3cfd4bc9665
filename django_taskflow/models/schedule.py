"""The Schedule row (periodic work) and the ScheduleRun row (one planned run of it)."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils.translation import gettext_lazy as _

from django_taskflow.scheduling import CatchUp, Overlap, TimeWindow, Timing


class Source(models.TextChoices):
    """Where a schedule was declared: sync from code only ever touches ``code`` rows."""

    CODE = "code", _("Code (synced)")
    ADMIN = "admin", _("Admin")
    RUNTIME = "runtime", _("schedule() at run time")


class RunState(models.TextChoices):
    """What became of one planned run."""

    FIRED = "fired", _("Fired: its task was enqueued")
    WAITING = "waiting", _("Waiting for the previous run (overlap=queue)")
    SKIPPED = "skipped", _("Skipped: the previous run was still queued or running")
    FAILED = "failed", _("Could not be enqueued")


class Schedule(models.Model):
    """Periodic work: which task to enqueue, with what arguments, and when.

    Every scheduler (one per ``taskworker``) reads the enabled rows whose
    ``next_run_at`` has come, and fires each planned run exactly once: the
    cursor moves by a guarded UPDATE, and (schedule, planned time) is unique
    in ScheduleRun. Editing a row takes effect at the next tick.
    """

    name = models.CharField(_("name"), max_length=200, unique=True)
    task_path = models.CharField(_("task"), max_length=255)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    cron = models.CharField(
        _("cron expression"),
        max_length=120,
        blank=True,
        default="",
        help_text=_("Five fields: minute hour day-of-month month day-of-week. Or an interval."),
    )
    interval_seconds = models.PositiveIntegerField(
        _("interval (seconds)"), null=True, blank=True, help_text=_("Run every this many seconds.")
    )
    timezone = models.CharField(
        _("time zone"), max_length=64, help_text=_("IANA name, e.g. Europe/Paris.")
    )
    window_start = models.TimeField(_("window opens"), null=True, blank=True)
    window_end = models.TimeField(_("window closes"), null=True, blank=True)
    window_days = models.CharField(
        _("window days"),
        max_length=40,
        blank=True,
        default="",
        help_text=_("Days the window opens, e.g. MON,TUE; empty: every day."),
    )
    catch_up = models.CharField(
        _("catch-up"), max_length=16, choices=CatchUp.choices, default=CatchUp.SKIP
    )
    overlap = models.CharField(
        _("overlap"), max_length=16, choices=Overlap.choices, default=Overlap.SKIP
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ADMIN)
    # Set by sync when a code schedule disappears from the code, cleared
    # when it returns; an admin's own disabling is left alone.
    missing_from_code = models.BooleanField(default=False)
    next_planned_at = models.DateTimeField(_("next planned time"), null=True, blank=True)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True)
    # Intervals count from here, so that their phase survives restarts.
    anchor_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(_("last planned run"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("schedule")
        verbose_name_plural = _("schedules")
        ordering = ["name"]
        permissions = [("run_schedule_now", _("Can run a schedule now"))]
        indexes = [
            # The tick's query: enabled rows by their next run.
            models.Index(
                fields=["next_run_at"],
                name="taskflow_schedule_due_idx",
                condition=models.Q(enabled=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(cron="", interval_seconds__isnull=False)
                    | (~models.Q(cron="") & models.Q(interval_seconds__isnull=True))
                ),
                name="taskflow_schedule_cron_or_interval",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def window(self) -> TimeWindow | None:
        if self.window_start is None or self.window_end is None:
            return None
        return TimeWindow(self.window_start, self.window_end, self.window_days or None)

    @property
    def timing(self) -> Timing:
        """The row's timing; raises ``InvalidSchedule`` if a field holds a bad value."""
        return Timing(
            cron=self.cron or None,
            every=timedelta(seconds=self.interval_seconds) if self.interval_seconds else None,
            timezone=self.timezone,
            window=self.window,
        )


class ScheduleRun(models.Model):
    """One planned run of a schedule, and the task it fired.

    A table of its own rather than columns on Task: the unique
    (schedule, planned_at) pair is what makes every planned run fire once,
    skipped and failed runs are history too, and the task table and its
    insert path stay as they are for tasks without a schedule.
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="runs")
    planned_at = models.DateTimeField(_("planned time"))
    fired_at = models.DateTimeField(_("fired at"))
    state = models.CharField(max_length=16, choices=RunState.choices)
    task = models.ForeignKey(
        "django_taskflow.Task",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="schedule_runs",
    )
    note = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = _("schedule run")
        verbose_name_plural = _("schedule runs")
        ordering = ["-planned_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "planned_at"], name="taskflow_schedulerun_once"
            ),
        ]
        indexes = [
            models.Index(
                fields=["schedule"],
                name="taskflow_schedulerun_wait_idx",
                condition=models.Q(state="waiting"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} @ {self.planned_at.isoformat()}"
