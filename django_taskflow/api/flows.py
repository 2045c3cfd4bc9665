"""``/flows/``: list and read flows (chains, groups, chords, batches), for staff.

A flow spans tasks that may belong to several users, so only staff see
flows, as with workers and figures. Step results, the flow's result and
errors are payload: hidden without ``view_payload``, as a task's are.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import mixins, serializers, viewsets
from rest_framework.pagination import CursorPagination

from django_taskflow import access, models
from django_taskflow.api.base import TaskflowView, serving_backend
from django_taskflow.api.permissions import SeesAllTasks

# What a step's state says about its payload.
_STEP_PAYLOAD_KEYS = ("result", "error")


class FlowSerializer(serializers.ModelSerializer[models.Flow]):
    # Plain text in the schema: an enum here would clash with the task's
    # ``status`` enum, which drf-spectacular names from the field alone.
    status = serializers.CharField(
        read_only=True, help_text="running, succeeded, failed or cancelled"
    )

    class Meta:
        model = models.Flow
        fields = [
            "id",
            "kind",
            "status",
            "tags",
            "stage",
            "steps",
            "result",
            "error",
            "deadline",
            "parent_task",
            "created_at",
            "advanced_at",
            "finished_at",
        ]
        read_only_fields = fields

    def to_representation(self, flow: models.Flow) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(flow)
        if not access.sees_payload(self.context["request"].user):
            data["result"] = None
            data["error"] = None
            data["steps"] = [
                {key: value for key, value in step.items() if key not in _STEP_PAYLOAD_KEYS}
                for step in data["steps"]
            ]
        return data


class FlowCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class FlowViewSet(
    TaskflowView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[models.Flow],
):
    """Flows of the ``default`` backend, newest first."""

    extra_permission_classes = (SeesAllTasks,)
    serializer_class = FlowSerializer
    pagination_class = FlowCursorPagination
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self) -> QuerySet[models.Flow]:
        backend = serving_backend()
        return models.Flow.objects.using(backend.config.database).filter(backend=backend.alias)
