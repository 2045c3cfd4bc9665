"""The form that checks a schedule an operator edits, in the admin or through the API.

It checks every field a scheduler will read (cron expression, interval,
time zone, window, task and arguments), so that a saved schedule can run,
and says what is wrong beside the field. :func:`move_cursor_if_needed`
is what saving an edit does besides writing the row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from django_taskflow import cron, invocation, models, registry, schedules
from django_taskflow.exceptions import InvalidSchedule, UnknownTask
from django_taskflow.scheduling import Timing, parse_days, zone

# What a schedule declared in code takes from the code: sync would undo an edit.
CODE_FIELDS = (
    "name",
    "task_path",
    "args",
    "kwargs",
    *schedules.TIMING_FIELDS,
    "catch_up",
    "overlap",
)


class ScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    """Checks every field a scheduler will read, so that a saved schedule can run."""

    class Meta:
        model = models.Schedule
        fields = [
            "name",
            "task_path",
            "args",
            "kwargs",
            "cron",
            "interval_seconds",
            "timezone",
            "window_start",
            "window_end",
            "window_days",
            "catch_up",
            "overlap",
            "enabled",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "timezone" in self.fields and not self.initial.get("timezone"):
            self.fields["timezone"].initial = schedules.default_timezone()
        if "task_path" in self.fields:
            known = ", ".join(registry.known_paths()) or "(none found)"
            self.fields["task_path"].help_text = f"A task's dotted path. Known tasks: {known}."

    def clean_cron(self) -> str:
        value: str = (self.cleaned_data.get("cron") or "").strip()
        if value:
            try:
                cron.check_expression(value)
            except InvalidSchedule as exc:
                raise forms.ValidationError(str(exc)) from exc
        return value

    def clean_timezone(self) -> str:
        value: str = (self.cleaned_data.get("timezone") or "").strip()
        try:
            zone(value)
        except InvalidSchedule as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value

    def clean_window_days(self) -> str:
        value: str = (self.cleaned_data.get("window_days") or "").strip().upper()
        try:
            parse_days(value)
        except InvalidSchedule as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value.replace(" ", "")

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if "cron" in self.fields:
            has_cron, has_interval = bool(data.get("cron")), data.get("interval_seconds")
            if has_cron == bool(has_interval) and "cron" not in self.errors:
                self.add_error("cron", _("Give a cron expression or an interval, not both."))
            if (data.get("window_start") is None) != (data.get("window_end") is None):
                self.add_error("window_end", _("A window needs both its opening and closing."))
        if not self.errors and "cron" in self.fields:
            try:
                Timing(
                    cron=data.get("cron") or None,
                    every=None if data.get("cron") else _seconds(data.get("interval_seconds")),
                    timezone=data["timezone"],
                    window=models.Schedule(
                        window_start=data.get("window_start"),
                        window_end=data.get("window_end"),
                        window_days=data.get("window_days", ""),
                    ).window,
                )
            except InvalidSchedule as exc:
                self.add_error(None, str(exc))
        if "task_path" in self.fields and "task_path" not in self.errors:
            self._check_task(data)
        return data

    def _check_task(self, data: dict[str, Any]) -> None:
        args, kwargs = data.get("args"), data.get("kwargs")
        if not isinstance(args, list):
            self.add_error("args", _('A JSON list of positional arguments, e.g. [1, "a"].'))
        if not isinstance(kwargs, dict):
            self.add_error("kwargs", _('A JSON object of keyword arguments, e.g. {"n": 1}.'))
        try:
            definition = registry.resolve(data.get("task_path", ""))
        except UnknownTask as exc:
            self.add_error("task_path", str(exc))
            return
        if isinstance(args, list) and isinstance(kwargs, dict):
            try:
                invocation.bind_arguments(definition, args, kwargs)
            except TypeError as exc:
                self.add_error(None, f"The arguments do not fit the task: {exc}")


def _seconds(value: Any) -> Any:
    from datetime import timedelta

    return timedelta(seconds=value) if value else None


def move_cursor_if_needed(
    schedule: models.Schedule, changed: Iterable[str], *, created: bool, now: datetime
) -> None:
    """Plan the next run again when the edit changes when the schedule runs.

    A new schedule, a changed timing, a schedule turned back on, or one
    without a next run starts from ``now``; the schedulers use it at their
    next tick. Call before saving the row.
    """
    changed = set(changed)
    timing_changed = bool(changed & set(schedules.TIMING_FIELDS))
    turned_on = "enabled" in changed and schedule.enabled
    if created or timing_changed or turned_on or schedule.next_planned_at is None:
        schedules.reset_cursor(schedule, now)
