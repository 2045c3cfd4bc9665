"""The Prometheus exposition of one backend, served at ``/taskflow/metrics``.

Gauges are queries of the queue as it is now, each through an index that
holds only unfinished rows (or the small worker table), so that a scrape
costs the same with 10 M finished tasks as with none. Counters and the
duration histogram come from ``models.TaskCounter``, which every worker
adds to as it records outcomes (``counters.py``): one scrape sees all
workers' attempts, and pruning never lowers them. No process keeps a
registry of its own; each scrape builds one around :class:`QueueCollector`.

Needs ``prometheus_client`` (the ``[metrics]`` extra), imported only
here, only when a scrape comes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Count, Min
from django.utils import timezone

from django_taskflow import counters, health, models, stats, stuck
from django_taskflow.conf import Options
from django_taskflow.exceptions import MetricsUnavailable
from django_taskflow.states import AttemptOutcome, Status

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

# The statuses that make a queue's depth; finished rows are history.
DEPTH_STATUSES = (Status.QUEUED, Status.RUNNING)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueNow:
    """One backend's gauges at one moment."""

    depth: dict[tuple[str, str], int]  # (queue, status) -> tasks
    ready: dict[str, tuple[int, float]]  # queue -> (tasks ready, seconds the oldest waited)
    workers_up: int
    stuck: int

    @property
    def running(self) -> int:
        return sum(n for (_queue, status), n in self.depth.items() if status == Status.RUNNING)


def read_gauges(
    options: Options, backend: str, queues: set[str], now: datetime | None = None
) -> QueueNow:
    """Read the gauges (five indexed queries). ``queues`` are reported even when empty."""
    now = now or timezone.now()
    tasks = models.Task.objects.using(options.database).filter(backend=backend)
    depth = {(queue, status): 0 for queue in queues for status in DEPTH_STATUSES}
    # Through the status index: only queued and running rows are read.
    for queue, status, count in (
        tasks.filter(status__in=DEPTH_STATUSES)
        .order_by()
        .values_list("queue_name", "status")
        .annotate(n=Count("pk"))
    ):
        depth[queue, status] = count
    ready = dict.fromkeys(queues, (0, 0.0))
    # The same ready tasks as `taskflow stats` and health count: paused queues wait.
    for queue, count, oldest in (
        stats.ready_tasks(options, backend, now)
        .order_by()
        .values_list("queue_name")
        .annotate(n=Count("pk"), oldest=Min("run_after"))
    ):
        ready[queue] = (count, max(0.0, (now - oldest).total_seconds()))
    return QueueNow(
        depth=dict(sorted(depth.items())),
        ready=dict(sorted(ready.items())),
        workers_up=health.workers_alive(options.database, backend),
        stuck=stuck.stuck(tasks, lease_seconds=options.lease_seconds, now=now).count(),
    )


# Counter name -> (help, which attempts it counts: outcome, status after).
COUNTERS: dict[str, tuple[str, str | None, str | None]] = {
    "taskflow_task_successes": ("Attempts that succeeded.", None, Status.SUCCEEDED),
    "taskflow_task_failures": (
        "Attempts after which the task failed for good.",
        None,
        Status.FAILED,
    ),
    "taskflow_task_retries": (
        "Attempts after which the task was queued again (an error with attempts left, "
        "a retry it asked for, a lost worker).",
        None,
        Status.QUEUED,
    ),
    "taskflow_task_timeouts": (
        "Attempts that ran past their hard time limit, retried or not.",
        AttemptOutcome.TIMED_OUT,
        None,
    ),
}


class QueueCollector:
    """A ``prometheus_client`` collector that reads one backend's figures at each scrape."""

    def __init__(self, options: Options, backend: str, queues: set[str]) -> None:
        self.options = options
        self.backend = backend
        self.queues = queues

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        now = read_gauges(self.options, self.backend, self.queues)
        depth = GaugeMetricFamily(
            "taskflow_queue_depth",
            "Unfinished tasks by queue and status (queued includes those waiting for run_after).",
            labels=["queue", "status"],
        )
        for (queue, status), count in now.depth.items():
            depth.add_metric([queue, status], count)
        ready = GaugeMetricFamily(
            "taskflow_queue_ready", "Tasks ready to run now, by queue.", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "taskflow_queue_oldest_ready_age_seconds",
            "How long the oldest ready task has waited since its run_after (0: none ready).",
            labels=["queue"],
        )
        for queue, (count, seconds) in now.ready.items():
            ready.add_metric([queue], count)
            age.add_metric([queue], seconds)
        yield from (depth, ready, age)
        yield GaugeMetricFamily(
            "taskflow_workers_up", "Workers whose heartbeat has not lapsed.", value=now.workers_up
        )
        yield GaugeMetricFamily("taskflow_tasks_running", "Tasks running now.", value=now.running)
        yield GaugeMetricFamily(
            "taskflow_tasks_stuck",
            "Running tasks whose lease expired long ago with no live worker holding them.",
            value=now.stuck,
        )

        totals = counters.read(self.options.database, self.backend)
        for name, (documentation, counted_outcome, counted_status) in COUNTERS.items():
            family = CounterMetricFamily(name, documentation, labels=["task"])
            for task_path, task in totals.items():
                family.add_metric(
                    [task_path], task.ended(outcome=counted_outcome, status=counted_status)
                )
            yield family
        by_outcome = CounterMetricFamily(
            "taskflow_attempts", "Attempts ended, by how they ended.", labels=["task", "outcome"]
        )
        durations = HistogramMetricFamily(
            "taskflow_attempt_duration_seconds",
            "How long attempts ran (those ended by a lost or killed worker are not timed).",
            labels=["task"],
        )
        for task_path, task in totals.items():
            for outcome in AttemptOutcome:
                if ended := task.ended(outcome=outcome):
                    by_outcome.add_metric([task_path, outcome.value], ended)
            durations.add_metric(
                [task_path],
                [
                    (_bound_label(bound), count)
                    for bound, count in zip(counters.BUCKETS, task.buckets, strict=True)
                ],
                sum_value=task.seconds,
            )
        yield from (by_outcome, durations)


def _bound_label(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def render(options: Options, backend: str, queues: set[str], accept: str) -> tuple[bytes, str]:
    """The exposition in the format ``accept`` asks for: (body, content type).

    Raises :class:`MetricsUnavailable` when ``prometheus_client`` is not
    installed, and ``DatabaseError`` when the database does not answer.
    """
    try:
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import choose_encoder
    except ImportError as exc:
        raise MetricsUnavailable() from exc

    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(options, backend, queues))
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type
