"""A claimed task encrypted with a key this worker lacks: not the task's fault.

The worker is misconfigured, so the task goes back to the queue without
an attempt charged, a little later (so that this worker does not claim it
again at once, and one that has the key can), with a ``key_missing``
event that the admin shows as "waiting for key k1". Each missing key is
logged once per worker slot, at ERROR: it needs a person.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from django_taskflow import events, models
from django_taskflow.claim import ClaimedTask
from django_taskflow.encoding import stored
from django_taskflow.encoding.keys import EncryptionKey
from django_taskflow.models import EventKind
from django_taskflow.states import Status

logger = logging.getLogger(__name__)

RETRY_AFTER = timedelta(seconds=5)
"""How long a handed-back task waits before a worker may claim it again."""


def missing_key(task: ClaimedTask, keys: tuple[EncryptionKey, ...]) -> str | None:
    """The id of the key ``task`` was written with, if this worker lacks it."""
    if task.encoding is None:
        return None
    key_id = stored.read(task.encoding).key_id
    if key_id is None or any(key.id == key_id for key in keys):
        return None
    return key_id


class MissingKeys:
    """Hands back a slot's tasks whose key it lacks; logs each key once."""

    def __init__(self, database: str, worker_id: str) -> None:
        self.database = database
        self.worker_id = worker_id
        self.logged: set[str] = set()

    def hand_back(self, task: ClaimedTask, key_id: str) -> bool:
        """Queue ``task`` again, uncharged, :data:`RETRY_AFTER` from now; False if it was not held."""
        if key_id not in self.logged:
            self.logged.add(key_id)
            logger.error(
                "worker %s lacks encryption key %r: its tasks go back to the queue for a "
                "worker that has it; add the key to ENCRYPTION_KEYS",
                self.worker_id,
                key_id,
                extra={"action": "encryption_key_missing", "worker_id": self.worker_id},
            )
        with transaction.atomic(using=self.database):
            held = models.Task.objects.using(self.database).filter(
                pk=task.id, status=Status.RUNNING, worker_id=self.worker_id
            )
            handed_back = held.update(
                status=Status.QUEUED,
                worker_id=None,
                lease_expires_at=None,
                attempts=F("attempts") - 1,
                run_after=timezone.now() + RETRY_AFTER,
            )
            if handed_back:
                row = models.Task.objects.using(self.database).get(pk=task.id)
                events.record_event(
                    row,
                    EventKind.KEY_MISSING,
                    data={"key": key_id, "worker": self.worker_id},
                    database=self.database,
                )
        return bool(handed_back)
