"""What holds a queue back now: paused, and its limit (setting or override).

Reads the ``QueueState`` rows that ``operations.py`` writes, merged with
``OPTIONS["QUEUE_LIMITS"]``. The worker (``worker/queue_control.py``),
``waiting.py`` and :func:`overview` (the admin's and the CLI's list of
queues, later) read through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django_taskflow import models
from django_taskflow.conf import Options
from django_taskflow.queues import UNNAMED_QUEUE_WEIGHT
from django_taskflow.states import Status


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStates:
    """One backend's queues as an operator left them."""

    paused: frozenset[str] = frozenset()
    # The limit in force for each limited queue: the override, else the setting.
    limits: Mapping[str, int] = field(default_factory=dict)
    # The runtime overrides alone, to show beside the setting.
    overrides: Mapping[str, int] = field(default_factory=dict)


def read(options: Options, backend: str) -> QueueStates:
    """Read the backend's queue states from its database (one query)."""
    paused = set()
    overrides = {}
    rows = models.QueueState.objects.using(options.database).filter(backend=backend)
    for name, is_paused, limit in rows.values_list("name", "paused", "limit_override"):
        if is_paused:
            paused.add(name)
        if limit is not None:
            overrides[name] = limit
    return QueueStates(
        paused=frozenset(paused),
        limits={**options.queue_limits, **overrides},
        overrides=overrides,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueInfo:
    """One queue as an operator sees it (the admin's and the CLI's queue list)."""

    name: str
    weight: float
    paused: bool
    limit: int | None  # in force: the override, else the setting
    limit_setting: int | None  # OPTIONS["QUEUE_LIMITS"]
    limit_override: int | None  # set_queue_limit(), stored in the database
    queued: int
    running: int


def overview(options: Options, backend: str, queues: Iterable[str]) -> list[QueueInfo]:
    """Each of ``queues`` (and any other with tasks or a state), with its counts.

    Two queries: the states, and the queued and running tasks per queue.
    """
    from django.db.models import Count, Q

    states = read(options, backend)
    counts: dict[str, tuple[int, int]] = {
        name: (queued, running)
        for name, queued, running in models.Task.objects.using(options.database)
        .filter(backend=backend, status__in=[Status.QUEUED, Status.RUNNING])
        .values("queue_name")
        .annotate(
            queued=Count("id", filter=Q(status=Status.QUEUED)),
            running=Count("id", filter=Q(status=Status.RUNNING)),
        )
        .values_list("queue_name", "queued", "running")
    }
    names = set(queues) | set(counts) | set(states.paused) | set(states.limits)
    return [
        QueueInfo(
            name=name,
            weight=options.queue_weights.get(name, UNNAMED_QUEUE_WEIGHT),
            paused=name in states.paused,
            limit=states.limits.get(name),
            limit_setting=options.queue_limits.get(name),
            limit_override=states.overrides.get(name),
            queued=counts.get(name, (0, 0))[0],
            running=counts.get(name, (0, 0))[1],
        )
        for name in sorted(names)
    ]
