"""The call a schedule makes: checked where the schedule is declared or saved."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.tasks import Task

from django_taskflow import invocation
from django_taskflow.encoding.encoders import seals
from django_taskflow.exceptions import InvalidSchedule


def check_call(definition: Task[Any, Any] | None, task_path: str, args: Any, kwargs: Any) -> None:
    """Raise :class:`InvalidSchedule` unless a schedule may call ``definition`` so."""
    if not isinstance(args, list | tuple):
        raise InvalidSchedule(f"args of schedule for {task_path} must be a tuple, got {args!r}.")
    if not isinstance(kwargs, Mapping):
        raise InvalidSchedule(f"kwargs of schedule for {task_path} must be a dict, got {kwargs!r}.")
    try:
        json.dumps([list(args), dict(kwargs)], allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidSchedule(
            f"arguments of schedule for {task_path} must be plain JSON ({exc})."
        ) from exc
    if definition is not None and (args or kwargs) and seals(definition):
        raise InvalidSchedule(
            f"schedule for {task_path} gives arguments to an encrypted task: the schedule's row "
            "stores them in plain JSON. Schedule it without arguments and let the task read "
            "its inputs, or enqueue it yourself."
        )
    if definition is not None:
        try:
            invocation.bind_arguments(definition, args, kwargs)
        except TypeError as exc:
            raise InvalidSchedule(
                f"arguments of schedule for {task_path} do not fit the task: {exc}"
            ) from exc
