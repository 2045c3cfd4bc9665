"""What holds a queue back now: paused, and its limit (setting or override).

Reads the ``QueueState`` rows that ``operations.py`` writes, merged with
``OPTIONS["QUEUE_LIMITS"]``. The worker (``worker/queue_control.py``),
``waiting.py`` and the operations' overview read through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django_taskflow import models
from django_taskflow.conf import Options


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
