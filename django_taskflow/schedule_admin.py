"""The Schedule admin: create, edit, enable, disable, run now; runs and their tasks.

Imported by ``admin.py``. The form (``schedule_form.py``) checks the cron
expression, interval, time zone, window, task and arguments, and shows
what is wrong beside the field. Saving a changed timing moves the schedule's cursor to the next
planned time, and the schedulers use it at their next tick.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from django_taskflow import cron, models, operations, schedule_form
from django_taskflow.exceptions import InvalidSchedule
from django_taskflow.scheduling import zone

UPCOMING_RUNS = 5
# Runs listed on a schedule's page; all of them are in the ScheduleRun admin.
RECENT_RUNS = 20


@admin.register(models.ScheduleRun)
class ScheduleRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Every run of every schedule, read-only: the history behind "all runs"."""

    list_display = ["planned_at", "schedule", "state", "fired_at", "task_link", "note"]
    list_filter = ["state", "schedule"]
    date_hierarchy = "planned_at"
    list_select_related = ["schedule", "task"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("task"))
    def task_link(self, run: models.ScheduleRun) -> str:
        return _task_link(run.task)


def _task_link(task: models.Task | None) -> str:
    if task is None:
        return ""
    url = reverse("admin:django_taskflow_task_change", args=[task.pk])
    return format_html('<a href="{}">{}</a>', url, task.pk)


def describe(schedule: models.Schedule) -> str:
    """The schedule's timing in words, with its window and time zone."""
    if schedule.cron:
        words = cron.describe(schedule.cron)
    elif schedule.interval_seconds:
        words = f"every {_interval_words(schedule.interval_seconds)}"
    else:
        return ""
    window = schedule.window
    if window is not None:
        words += f", only between {window}"
    return f"{words} ({schedule.timezone})"


def _interval_words(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def upcoming(schedule: models.Schedule, count: int = UPCOMING_RUNS) -> list[str]:
    """The next ``count`` run times, in the schedule's own time zone."""
    if not schedule.enabled or schedule.next_planned_at is None or schedule.next_run_at is None:
        return []
    try:
        timing = schedule.timing
    except InvalidSchedule:
        return []
    times = [schedule.next_run_at]
    for fire in timing.upcoming(schedule.next_planned_at, count, schedule.anchor_at):
        if fire != times[-1]:
            times.append(fire)
    tz = timing.tz
    return [moment.astimezone(tz).strftime("%a %Y-%m-%d %H:%M:%S %Z") for moment in times[:count]]


def _zone_or_current(name: str) -> Any:
    try:
        return zone(name)
    except InvalidSchedule:  # a hand-edited row; its form shows the error
        return timezone.get_current_timezone()


def last_run(schedule: models.Schedule) -> models.ScheduleRun | None:
    """The schedule's latest run, read once per object (two columns show it)."""
    if not hasattr(schedule, "_last_run"):
        schedule._last_run = (  # type: ignore[attr-defined]
            models.ScheduleRun.objects.filter(schedule=schedule)
            .select_related("task")
            .order_by("-planned_at")
            .first()
        )
    return schedule._last_run  # type: ignore[attr-defined,no-any-return]


def outcome(run: models.ScheduleRun | None) -> str:
    """What became of a run: its task's status, or why it did not fire."""
    if run is None:
        return ""
    if run.state == models.RunState.FIRED:
        return run.task.get_status_display() if run.task else str(_("fired (task deleted)"))
    return f"{run.get_state_display()}{': ' + run.note if run.note else ''}"


@admin.register(models.Schedule)
class ScheduleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = schedule_form.ScheduleForm
    list_display = [
        "name",
        "task_path",
        "when",
        "enabled",
        "next_run",
        "last_run_display",
        "last_outcome",
        "source",
    ]
    list_filter = ["enabled", "source", "task_path"]
    search_fields = ["name", "task_path"]
    actions = ["enable", "disable", "run_now"]
    readonly_fields = [
        "when",
        "next_runs",
        "last_run_display",
        "last_outcome",
        "recent_runs",
        "source",
    ]
    fieldsets = [
        (None, {"fields": ["name", "task_path", "args", "kwargs", "enabled", "source"]}),
        (
            _("When"),
            {
                "fields": ["cron", "interval_seconds", "timezone", "when", "next_runs"],
                "description": _(
                    "A cron expression (minute hour day-of-month month day-of-week) in the "
                    "schedule's time zone, or an interval in seconds."
                ),
            },
        ),
        (
            _("Window"),
            {
                "fields": ["window_start", "window_end", "window_days"],
                "description": _(
                    "Optional hours in which runs may start; a run planned outside waits "
                    "for the next opening. A window ending before it starts crosses midnight."
                ),
            },
        ),
        (_("Policies"), {"fields": ["catch_up", "overlap"]}),
        (_("Runs"), {"fields": ["last_run_display", "last_outcome", "recent_runs"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.source == models.Source.CODE:
            fields += list(schedule_form.CODE_FIELDS)  # declared in code: sync would undo an edit
        return fields

    @admin.display(description=_("when"))
    def when(self, schedule: models.Schedule) -> str:
        return describe(schedule)

    @admin.display(description=_("next run"), ordering="next_run_at")
    def next_run(self, schedule: models.Schedule) -> str:
        runs = upcoming(schedule, 1)
        return runs[0] if runs else "—"

    @admin.display(description=_("next runs"))
    def next_runs(self, schedule: models.Schedule) -> str:
        runs = upcoming(schedule)
        if not runs:
            return str(_("none (disabled)")) if schedule.pk else ""
        return format_html_join("", "<div>{}</div>", ((run,) for run in runs))

    @admin.display(description=_("last run"), ordering="last_run_at")
    def last_run_display(self, schedule: models.Schedule) -> str:
        run = last_run(schedule) if schedule.pk else None
        if run is None:
            return ""
        tz = _zone_or_current(schedule.timezone)
        when = run.planned_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")
        return format_html("{} {}", when, _task_link(run.task))

    @admin.display(description=_("last outcome"))
    def last_outcome(self, schedule: models.Schedule) -> str:
        return outcome(last_run(schedule)) if schedule.pk else ""

    @admin.display(description=_("recent runs"))
    def recent_runs(self, schedule: models.Schedule) -> str:
        if not schedule.pk:
            return ""
        runs = list(
            models.ScheduleRun.objects.filter(schedule=schedule)
            .select_related("task")
            .order_by("-planned_at")[:RECENT_RUNS]
        )
        if not runs:
            return str(_("none yet"))
        tz = _zone_or_current(schedule.timezone)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (run.planned_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z"), outcome(run),
                 _task_link(run.task))
                for run in runs
            ),
        )  # fmt: skip
        everything = reverse("admin:django_taskflow_schedulerun_changelist")
        return format_html(
            '<table><tr><th>{}</th><th>{}</th><th>{}</th></tr>{}</table><a href="{}">{}</a>',
            _("planned"),
            _("outcome"),
            _("task"),
            rows,
            f"{everything}?schedule__id__exact={schedule.pk}",
            _("all runs"),
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.source = models.Source.ADMIN
        schedule_form.move_cursor_if_needed(
            obj, form.changed_data, created=not change, now=timezone.now()
        )
        super().save_model(request, obj, form, change)

    def has_run_now_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return bool(request.user.has_perm(f"{opts.app_label}.run_schedule_now"))

    @admin.action(description=_("Enable selected schedules"), permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[models.Schedule]) -> None:
        count = operations.enable_schedules(queryset.filter(enabled=False), by=request.user)
        self.message_user(request, _("Enabled %(count)d schedule(s).") % {"count": count})

    @admin.action(description=_("Disable selected schedules"), permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[models.Schedule]) -> None:
        count = operations.disable_schedules(queryset.filter(enabled=True), by=request.user)
        self.message_user(request, _("Disabled %(count)d schedule(s).") % {"count": count})

    @admin.action(description=_("Run selected schedules now"), permissions=["run_now"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[models.Schedule]) -> None:
        for schedule in queryset:
            run = operations.run_schedule_now(schedule, by=request.user)
            if run is not None and run.state == models.RunState.FIRED:
                self.message_user(request, _("%(name)s: task enqueued.") % {"name": schedule.name})
            else:
                note = run.note if run is not None else ""
                self.message_user(
                    request,
                    _("%(name)s: could not enqueue (%(note)s).")
                    % {"name": schedule.name, "note": note},
                    level=messages.ERROR,
                )
