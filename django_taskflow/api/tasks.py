"""``/tasks/``: list, filter and read tasks; enqueue by name; cancel, requeue, retry.

Each user sees the tasks ``access.visible_tasks`` gives them; any other id
is a 404, whether or not it exists. The actions take the admin's
permissions and call ``operations``, which refuses what the admin refuses.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from django_taskflow import access, enqueue_by_name, models, operations
from django_taskflow.api.base import TaskflowView, documented, serving_backend
from django_taskflow.api.enqueue import EnqueuedSerializer, EnqueueSerializer
from django_taskflow.api.filters import TaskFilter
from django_taskflow.api.pagination import TaskCursorPagination
from django_taskflow.api.permissions import TaskActionPermission
from django_taskflow.api.serializers import (
    LIST_FIELDS,
    ActionResultSerializer,
    ActionSerializer,
    TaskDetailSerializer,
    TaskSerializer,
)
from django_taskflow.api.throttling import EnqueueRateThrottle

ACTIONS = ("cancel", "requeue", "retry")


class Conflict(APIException):
    """The task is in a state the action does not apply to; the detail says which."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The task was left as it was."
    default_code = "conflict"


class TaskViewSet(
    TaskflowView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[models.Task],
):
    """Tasks of the ``default`` backend, newest first."""

    extra_permission_classes = (TaskActionPermission,)
    pagination_class = TaskCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = TaskFilter
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self) -> QuerySet[models.Task]:
        backend = serving_backend()
        tasks = models.Task.objects.using(backend.config.database).filter(backend=backend.alias)
        if self.action == "list":
            tasks = tasks.only(*LIST_FIELDS)
        elif self.action in ACTIONS:
            tasks = tasks.only("id", "status", "enqueued_by")  # operations read the rest
        return access.visible_tasks(self.request.user, tasks)

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "list":
            return TaskSerializer
        if self.action == "create":
            return EnqueueSerializer
        if self.action in ACTIONS:
            return ActionSerializer
        return TaskDetailSerializer

    def get_throttles(self) -> list[Any]:
        throttles = list(super().get_throttles())
        if self.action == "create":
            throttles.append(EnqueueRateThrottle())
        return throttles

    @documented(
        request=EnqueueSerializer,
        responses={
            201: EnqueuedSerializer,
            200: OpenApiResponse(EnqueuedSerializer, description="Deduplicated: already there."),
        },
    )
    def create(self, request: Request) -> Response:
        """Enqueue a task marked ``@task(api=True)`` by name, with JSON arguments."""
        body = EnqueueSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        backend = serving_backend()
        result = enqueue_by_name.enqueue(
            body.validated_data["task"],
            body.validated_data["args"],
            body.validated_data["kwargs"],
            user=request.user,
            database=backend.config.database,
        )
        answer = EnqueuedSerializer(
            {
                "id": result.id,
                "task": result.task.module_path,
                "queue": result.task.queue_name,
                "status": models.Task.objects.using(backend.config.database)
                .values_list("status", flat=True)
                .get(pk=result.id),
                "enqueued_at": result.enqueued_at,
                "deduplicated": result.deduplicated,
            }
        )
        return Response(
            answer.data,
            status=status.HTTP_200_OK if result.deduplicated else status.HTTP_201_CREATED,
        )

    def _act(self, request: Request, pk: str, act: Any) -> Response:
        task = self.get_object()  # a 404 for a task the user may not see
        body = ActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        refusal, new_task = act(task, body.validated_data["reason"])
        if refusal:
            raise Conflict(refusal)
        task.refresh_from_db(fields=["status"])
        data = {"id": task.pk, "status": task.status, "new_task": new_task}
        return Response(ActionResultSerializer(data).data)

    @documented(request=ActionSerializer, responses={200: ActionResultSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Cancel a queued task, or ask a running one to stop (``cancel_task``)."""

        def act(task: models.Task, reason: str) -> tuple[str, None]:
            backend = serving_backend().alias
            changed = operations.cancel(task.pk, reason=reason, by=request.user, backend=backend)
            return ("" if changed else "it is finished, or already asked to stop"), None

        return self._act(request, pk, act)

    @documented(request=None, responses={200: ActionResultSerializer})
    @action(detail=True, methods=["post"])
    def requeue(self, request: Request, pk: str) -> Response:
        """Enqueue a new task with this finished task's inputs (``requeue_task``)."""

        def act(task: models.Task, reason: str) -> tuple[str, Any]:
            report = operations.requeue(task.pk, by=request.user, backend=serving_backend().alias)
            return _refusal(report), (report.new_ids[0] if report.new_ids else None)

        return self._act(request, pk, act)

    @documented(request=None, responses={200: ActionResultSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        """Queue a failed (or waiting) task to run now, with one more attempt (``retry_task``)."""

        def act(task: models.Task, reason: str) -> tuple[str, None]:
            report = operations.retry_now(task.pk, by=request.user, backend=serving_backend().alias)
            return _refusal(report), None

        return self._act(request, pk, act)


def _refusal(report: Any) -> str:
    """Why the one task was left as it was, or "" when it changed."""
    if report.changed:
        return ""
    return "; ".join(sorted(report.refused)) or "it was left as it was"
