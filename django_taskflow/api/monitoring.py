"""``/workers/`` and ``/stats/``: the running workers and the queue's figures, for staff.

Both read through the same functions as ``manage.py taskflow workers`` and
``taskflow stats`` (``worker_status``, ``stats``): a few indexed queries.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from django_taskflow import models, stats, worker_status
from django_taskflow.api.base import TaskflowView, documented, serving_backend
from django_taskflow.api.permissions import SeesAllTasks


class WorkerSerializer(serializers.ModelSerializer[models.WorkerProcess]):
    slots = serializers.SerializerMethodField()

    class Meta:
        model = models.WorkerProcess
        fields = [
            "worker_id",
            "host",
            "pid",
            "name",
            "pool",
            "queues",
            "capabilities",
            "concurrency",
            "running_task_ids",
            "started_at",
            "last_heartbeat",
            "alive_until",
            "slots",
        ]
        read_only_fields = fields

    def get_slots(self, worker: models.WorkerProcess) -> list[str]:
        return [slot.worker_id for slot in worker.slots.all()]


class WorkersView(TaskflowView, APIView):
    """The workers whose heartbeat has not lapsed, with their slots."""

    extra_permission_classes = (SeesAllTasks,)

    @documented(responses={200: WorkerSerializer(many=True)})
    def get(self, request: Request) -> Response:
        backend = serving_backend()
        workers = worker_status.workers_alive(using=backend.config.database).filter(
            backend=backend.alias
        )
        return Response(WorkerSerializer(workers, many=True).data)


class StatsSerializer(serializers.Serializer[Any]):
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_queue = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="queue -> status -> tasks; statuses without tasks left out.",
    )
    ready = serializers.IntegerField(help_text="Tasks ready to run now, in queues not paused.")
    oldest_ready_age = serializers.FloatField(
        allow_null=True, help_text="Seconds the oldest ready task has waited."
    )
    finished = serializers.DictField(
        child=serializers.IntegerField(), help_text="minutes -> tasks finished in the last ones."
    )
    throughput = serializers.DictField(
        child=serializers.FloatField(), help_text="minutes -> tasks finished per second."
    )


class StatsView(TaskflowView, APIView):
    """Counts by status and queue, the oldest ready task, and throughput over 1, 5, 15 minutes."""

    extra_permission_classes = (SeesAllTasks,)

    @documented(responses={200: StatsSerializer})
    def get(self, request: Request) -> Response:
        backend = serving_backend()
        figures = stats.collect(backend.config, backend.alias)
        data = {
            "by_status": figures.by_status,
            "by_queue": figures.counts,
            "ready": figures.ready,
            "oldest_ready_age": figures.oldest_ready_age,
            "finished": {str(minutes): count for minutes, count in figures.finished.items()},
            "throughput": {str(minutes): figures.throughput(minutes) for minutes in stats.WINDOWS},
        }
        return Response(StatsSerializer(data).data)
