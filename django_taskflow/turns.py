"""Turns: one worker at a time does a backend's periodic chore (pruning, alert rules).

A turn is one row per backend (``PruneTurn``, ``AlertTurn``) with the time
the next turn may start. A worker takes it with one guarded UPDATE, by the
database's clock: of the workers that try at once, exactly one matches. No
leader to elect, nothing to release: a worker that dies mid-turn only
delays the next turn until ``next_at``.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from django_taskflow import models
from django_taskflow.db import LeaseUntil

type TurnModel = type[models.PruneTurn] | type[models.AlertTurn]


def take_turn(model: TurnModel, database: str, backend: str, holder: str, seconds: float) -> bool:
    """Take ``backend``'s turn in ``model`` for ``seconds`` if it is free; True if taken.

    The row is made on first use.
    """
    turns = model._default_manager.using(database)
    taken = turns.filter(backend=backend, next_at__lte=Now()).update(
        next_at=LeaseUntil(seconds), holder=holder[:100]
    )
    if taken:
        return True
    if turns.filter(backend=backend).exists():
        return False
    try:
        with transaction.atomic(using=database):
            turns.create(backend=backend, next_at=LeaseUntil(seconds), holder=holder[:100])
    except IntegrityError:
        return False  # another worker made it first: its turn
    return True
