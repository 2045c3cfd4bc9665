"""The body of an enqueue by name, checked in full before anything is written.

A bad name, arguments that do not bind or do not fit their annotations,
and values JSON cannot store each give a 400 with the error beside the
field it concerns: ``task``, ``args`` (by position), ``kwargs`` (by name),
or ``non_field_errors`` for the call as a whole.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from django_taskflow import enqueue_by_name
from django_taskflow.api.base import serving_backend
from django_taskflow.definition import TaskflowTask
from django_taskflow.exceptions import TaskNotExposed


class EnqueueSerializer(serializers.Serializer[Any]):
    task = serializers.CharField(
        max_length=255,
        help_text="The task's full path, or its function name if one exposed task has it.",
    )
    args = serializers.ListField(
        child=serializers.JSONField(), required=False, default=list, help_text="Positional."
    )
    kwargs = serializers.DictField(
        child=serializers.JSONField(), required=False, default=dict, help_text="By name."
    )

    def validate_task(self, name: str) -> TaskflowTask:
        try:
            return enqueue_by_name.find_exposed(name, serving_backend().alias)
        except TaskNotExposed as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        definition: TaskflowTask = data["task"]
        config = serving_backend().config
        problems = enqueue_by_name.check_call(
            definition,
            data["args"],
            data["kwargs"],
            config.max_payload_bytes,
            config.encryption_keys,
        )
        if problems:
            errors: dict[str, Any] = {}
            if problems.args:
                errors["args"] = {str(index): [m] for index, m in problems.args.items()}
            if problems.kwargs:
                errors["kwargs"] = {name: [m] for name, m in problems.kwargs.items()}
            if problems.call:
                errors["non_field_errors"] = problems.call
            raise serializers.ValidationError(errors)
        return data


class EnqueuedSerializer(serializers.Serializer[Any]):
    """The task an enqueue made, or found (``deduplicated``: it was already there)."""

    id = serializers.UUIDField()
    task = serializers.CharField()
    queue = serializers.CharField()
    status = serializers.CharField()
    enqueued_at = serializers.DateTimeField()
    deduplicated = serializers.BooleanField()
