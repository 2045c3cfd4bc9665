"""``/schedules/``: list and read schedules; edit one (enable, disable, timing, arguments).

An edit is checked by the admin's own form (``schedule_form``), so the API
refuses what the admin refuses, beside the same fields. A schedule
declared in code takes everything but ``enabled`` from the code: editing
anything else is refused, since the next sync would undo it.
"""

from __future__ import annotations

import json
from typing import Any

from django.forms.models import model_to_dict
from django.utils import timezone
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from django_taskflow import models, schedule_form
from django_taskflow.api.base import TaskflowView, documented, serving_backend
from django_taskflow.api.permissions import SchedulePermission
from django_taskflow.api.serializers import sees_payload

# What an API client may change; the rest (source, cursor, runs) is the scheduler's.
EDITABLE = tuple(schedule_form.ScheduleForm.Meta.fields)
JSON_FIELDS = ("args", "kwargs")


class ScheduleSerializer(serializers.ModelSerializer[models.Schedule]):
    class Meta:
        model = models.Schedule
        fields = [
            "id",
            *EDITABLE,
            "source",
            "missing_from_code",
            "next_run_at",
            "last_run_at",
            "updated_at",
        ]
        read_only_fields = ["id", "source", "missing_from_code", "next_run_at", "last_run_at"]

    def to_representation(self, instance: models.Schedule) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        if not sees_payload(self.context):
            data.update(args=None, kwargs=None)
        return data


def form_errors(form: schedule_form.ScheduleForm) -> dict[str, list[str]]:
    """A form's errors keyed as DRF keys them (``__all__`` is ``non_field_errors``)."""
    return {
        "non_field_errors" if field == "__all__" else field: [str(error) for error in errors]
        for field, errors in form.errors.items()
    }


class ScheduleViewSet(
    TaskflowView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[models.Schedule],
):
    """Schedules of the ``default`` backend's database, by name."""

    extra_permission_classes = (SchedulePermission,)
    serializer_class = ScheduleSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        database = serving_backend().config.database
        return models.Schedule.objects.using(database).order_by("name")

    @documented(request=ScheduleSerializer, responses={200: ScheduleSerializer})
    def partial_update(self, request: Request, pk: str) -> Response:
        """Change some fields: ``{"enabled": false}``, ``{"cron": "0 9 * * MON-FRI"}``…"""
        schedule = self.get_object()
        changes = request.data if isinstance(request.data, dict) else {}
        unknown = sorted(set(changes) - set(EDITABLE))
        if unknown or not changes:
            raise serializers.ValidationError(
                {name: ["This field cannot be changed."] for name in unknown}
                or {"non_field_errors": [f"Give one or more of: {', '.join(EDITABLE)}."]}
            )
        if schedule.source == models.Source.CODE:
            fixed = sorted(set(changes) & set(schedule_form.CODE_FIELDS))
            if fixed:
                raise serializers.ValidationError(
                    {name: ["Declared in code: change it there."] for name in fixed}
                )
        data = {**model_to_dict(schedule, fields=EDITABLE), **changes}
        # A form reads JSON fields as text, as a browser sends them.
        data.update({name: json.dumps(data[name]) for name in JSON_FIELDS})
        form = schedule_form.ScheduleForm(data=data, instance=schedule)
        if not form.is_valid():
            raise serializers.ValidationError(form_errors(form))
        edited = form.save(commit=False)
        schedule_form.move_cursor_if_needed(
            edited, form.changed_data, created=False, now=timezone.now()
        )
        edited.save()
        return Response(self.get_serializer(edited).data)
