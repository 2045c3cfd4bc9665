"""How tasks, their attempts and events look in the API, with payload hidden where due.

Arguments, results, progress details, error messages and tracebacks are
``null`` (and ``payload_visible`` false) for a user without the
``view_payload`` permission; see ``django_taskflow.access``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from django_taskflow import access, models, payload_display

# A task's page shows its latest events, oldest first; a task that reports
# progress every second for a day would otherwise return 86,400 of them.
EVENTS_SHOWN = 200

# The list's fields: what a task is and where it stands. The API renames
# two model fields (``task``, ``queue``), read from ``task_path`` and ``queue_name``.
_RENAMED = {"task": "task_path", "queue": "queue_name"}
TASK_FIELDS = (
    "id",
    "task",
    "queue",
    "priority",
    "status",
    "key",
    "tags",
    "attempts",
    "max_attempts",
    "progress",
    "run_after",
    "enqueued_at",
    "started_at",
    "finished_at",
    "worker_id",
    "enqueued_by",
    "cancel_requested_at",
    "cancelled_by",
    "cancel_reason",
    "original",
)
# What the list reads of each row: never the arguments, result or details.
LIST_FIELDS = tuple(_RENAMED.get(name, name) for name in TASK_FIELDS)


def sees_encrypted(context: Mapping[str, Any]) -> bool:
    """Whether the request's user may see encrypted tasks' payloads decrypted."""
    return payload_display.sees_encrypted(getattr(context.get("request"), "user", None))


def sees_payload(context: Mapping[str, Any]) -> bool:
    """Whether the request's user may see payload (Django caches a user's permissions)."""
    return access.sees_payload(getattr(context.get("request"), "user", None))


class TaskSerializer(serializers.ModelSerializer[models.Task]):
    """One task in a list: what it is and where it stands, without its payload."""

    task = serializers.CharField(source="task_path", read_only=True)
    queue = serializers.CharField(source="queue_name", read_only=True)
    enqueued_by: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )

    class Meta:
        model = models.Task
        fields = list(TASK_FIELDS)
        read_only_fields = fields


class AttemptSerializer(serializers.ModelSerializer[models.Attempt]):
    class Meta:
        model = models.Attempt
        fields = [
            "number",
            "worker_id",
            "started_at",
            "finished_at",
            "outcome",
            "error_class",
            "error_message",
            "traceback",
            "error_value",
        ]
        read_only_fields = fields

    def to_representation(self, instance: models.Attempt) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        if not sees_payload(self.context):
            data.update(error_message=None, traceback=None, error_value=None)
        elif instance.task.encoding is not None:
            reveal = sees_encrypted(self.context)
            for name, field in (
                ("error_message", payload_display.ERROR_MESSAGE),
                ("traceback", payload_display.TRACEBACK),
                ("error_value", payload_display.ERROR_VALUE),
            ):
                if isinstance(data[name], str):
                    data[name] = payload_display.attempt_text(
                        instance.task, instance.number, field, data[name], reveal=reveal
                    )
        return data


class EventSerializer(serializers.ModelSerializer[models.Event]):
    class Meta:
        model = models.Event
        fields = ["id", "kind", "attempt", "created_at", "data"]
        read_only_fields = fields

    def to_representation(self, instance: models.Event) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        if not sees_payload(self.context):
            data["data"] = access.public_event_data(instance.data or {})
        elif instance.task.encoding is not None:
            data["data"] = payload_display.event_data(
                instance, instance.task, reveal=sees_encrypted(self.context)
            )
        return data


class TaskDetailSerializer(TaskSerializer):
    """One task in full: its payload (when the user may see it), attempts and latest events."""

    payload_visible = serializers.SerializerMethodField()
    attempt_history = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()

    class Meta(TaskSerializer.Meta):
        fields = [
            *TaskSerializer.Meta.fields,
            "backend",
            "lost_attempts",
            "on_lost",
            "timeout_soft",
            "timeout_hard",
            "requires",
            "payload_visible",
            "args",
            "kwargs",
            "result",
            "progress_detail",
            "attempt_history",
            "events",
        ]
        read_only_fields = fields

    def get_payload_visible(self, task: models.Task) -> bool:
        return sees_payload(self.context)

    @extend_schema_field(AttemptSerializer(many=True))
    def get_attempt_history(self, task: models.Task) -> Any:
        attempts = models.Attempt.objects.using(task._state.db).filter(task=task)
        return AttemptSerializer(attempts.order_by("number"), many=True, context=self.context).data

    @extend_schema_field(EventSerializer(many=True))
    def get_events(self, task: models.Task) -> Any:
        latest = models.Event.objects.using(task._state.db).filter(task=task).order_by("-id")
        events = list(latest[:EVENTS_SHOWN])[::-1]
        return EventSerializer(events, many=True, context=self.context).data

    def to_representation(self, instance: models.Task) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        if not sees_payload(self.context):
            data.update(dict.fromkeys(access.PAYLOAD_FIELDS))
        elif instance.encoding is not None:
            data.update(payload_display.task_payload(instance, reveal=sees_encrypted(self.context)))
        return data


class ActionSerializer(serializers.Serializer[Any]):
    """The body of a cancel: an optional reason, stored with the task."""

    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


class ActionResultSerializer(serializers.Serializer[Any]):
    """What an action did: the task's status now, and the new task a requeue made."""

    id = serializers.UUIDField()
    status = serializers.CharField()
    new_task = serializers.UUIDField(allow_null=True, required=False)
