"""``/services/``: list and read long-running services; stop and restart them.

The admin's rules: staff with ``view_service`` see services, and those who
also have ``steer_service`` stop and restart them (``access``), through
``operations``. A service's config and its errors' messages and tracebacks
are payload: hidden without ``view_payload``, as a task's arguments are.
An unknown name is a 404; an action the service's state refuses, a 409.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from django_taskflow import access, models, operations
from django_taskflow.api.base import TaskflowView, documented
from django_taskflow.api.tasks import Conflict
from django_taskflow.exceptions import ServiceConflict
from django_taskflow.models import ServiceState
from django_taskflow.services import api

RECENT_EVENTS = 20
# What a user without view_payload sees of each error.
PUBLIC_ERROR_KEYS = ("at", "handler", "error_class")


class ServicePermission(BasePermission):
    """``view_service`` (and staff) to read; ``steer_service`` too for stop and restart."""

    message = "You do not have permission to see or steer services."

    def has_permission(self, request: Any, view: Any) -> bool:
        if getattr(view, "action", None) in ("stop", "restart"):
            return access.steers_services(request.user)
        return access.sees_services(request.user)


class ServiceSerializer(serializers.ModelSerializer[models.Service]):
    backlog = serializers.IntegerField(source="pending_count", read_only=True)
    dead_messages = serializers.IntegerField(source="dead_count", read_only=True)
    # Plain text in the schema, as the flows' status (no clashing enum names).
    state = serializers.CharField(read_only=True, help_text="running, stopping, stopped or failed")

    class Meta:
        model = models.Service
        fields = [
            "name",
            "service_path",
            "state",
            "config",
            "owner",
            "lease_expires_at",
            "created_at",
            "started_at",
            "last_tick_at",
            "stopped_at",
            "backlog",
            "dead_messages",
            "restarts",
            "errors",
        ]
        read_only_fields = fields

    def to_representation(self, service: models.Service) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(service)
        if not access.sees_payload(self.context["request"].user):
            data["config"] = None
            data["errors"] = [
                {key: error.get(key) for key in PUBLIC_ERROR_KEYS} for error in data["errors"]
            ]
        return data


class ServiceEventSerializer(serializers.ModelSerializer[models.ServiceEvent]):
    """One event; the error messages in it are payload (what it emitted is not)."""

    class Meta:
        model = models.ServiceEvent
        fields = ["id", "kind", "owner", "created_at", "data"]
        read_only_fields = fields

    def to_representation(self, event: models.ServiceEvent) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(event)
        if not access.sees_payload(self.context["request"].user):
            data["data"] = access.public_service_data(event.kind, data["data"])
        return data


class ServiceDetailSerializer(ServiceSerializer):
    recent_events = serializers.SerializerMethodField()

    class Meta(ServiceSerializer.Meta):
        fields = [*ServiceSerializer.Meta.fields, "recent_events"]
        read_only_fields = fields

    @extend_schema_field(ServiceEventSerializer(many=True))
    def get_recent_events(self, service: models.Service) -> Any:
        """The latest events, oldest first."""
        rows = api.recent_event_rows(service.name, RECENT_EVENTS)
        return ServiceEventSerializer(rows, many=True, context=self.context).data


class ServiceCursorPagination(CursorPagination):
    ordering = ("name",)
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


STATE_FILTER = OpenApiParameter(
    "state", str, enum=list(ServiceState.values), description="only services in this state"
)


class ServiceViewSet(
    TaskflowView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[models.Service],
):
    """Services by name."""

    extra_permission_classes = (ServicePermission,)
    pagination_class = ServiceCursorPagination
    lookup_field = "name"
    # A name is any text without a slash (names with one are reached from code only).
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[models.Service]:
        state = self.request.query_params.get("state") if self.action == "list" else None
        if state is not None and state not in ServiceState.values:
            raise ValidationError(
                {
                    "state": [
                        f"Unknown state {state!r}: use one of {', '.join(ServiceState.values)}."
                    ]
                }
            )
        return api.find(state)

    def get_serializer_class(self) -> type[ServiceSerializer]:
        return ServiceSerializer if self.action == "list" else ServiceDetailSerializer

    @documented(parameters=[STATE_FILTER])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Services by name, with their state, owner, backlog, dead messages and restarts."""
        return super().list(request, *args, **kwargs)

    def _answer(self, name: str) -> Response:
        row = self.get_queryset().get(name=name)
        return Response(ServiceDetailSerializer(row, context=self.get_serializer_context()).data)

    @documented(request=None, responses={200: ServiceDetailSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, name: str) -> Response:
        """Ask a running service to stop: its owner calls ``on_stop`` once (``steer_service``)."""
        service = self.get_object()  # a 404 for an unknown name
        if service.state not in (ServiceState.RUNNING, ServiceState.STOPPING):
            raise Conflict(f"service {service.name!r} is {service.state}: nothing to stop.")
        operations.stop_service(service.name, by=request.user)
        return self._answer(service.name)

    @documented(request=None, responses={200: ServiceDetailSerializer})
    @action(detail=True, methods=["post"])
    def restart(self, request: Request, name: str) -> Response:
        """Start a stopped or failed service again with its config (``steer_service``)."""
        service = self.get_object()
        try:
            operations.restart_service(service.name, by=request.user)
        except ServiceConflict as exc:
            raise Conflict(str(exc)) from exc
        return self._answer(service.name)
