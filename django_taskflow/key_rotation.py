"""Re-encrypt tasks written with an older key under the current (first) one.

Runs beside live workers. Each task's arguments, result, progress detail,
and its attempts' error texts and progress events are rewritten together. Rows are read in batches in id order; each is
rewritten by one conditional UPDATE that still expects the encoding,
status and attempt count it read, so a row that a worker claimed or
finished meanwhile is left for the next pass. Running tasks are never
rewritten (their worker writes the result with the key it read); the
passes repeat until none is left or the deadline passes. Once no row
names a key, that key can be removed from ``ENCRYPTION_KEYS``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from django_taskflow import models
from django_taskflow.conf import Options
from django_taskflow.encoding import attempts, fields, stored
from django_taskflow.encoding.keys import Keyring
from django_taskflow.exceptions import ConfigurationError, TaskflowError
from django_taskflow.states import Status

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class RotationReport:
    """What a rotation did: rows rewritten, and those left (by key id) and why."""

    current_key: str
    rotated: int = 0
    passes: int = 0
    # Rows still under an old key, by key: running when the deadline came; ended or
    # written (by a process not yet given the new key) after the last pass; unreadable here.
    left_running: Counter[str] = field(default_factory=Counter)
    left_after_last_pass: Counter[str] = field(default_factory=Counter)
    unreadable: dict[str, str] = field(default_factory=dict)  # task id -> why

    @property
    def is_complete(self) -> bool:
        return not self.left_running and not self.left_after_last_pass and not self.unreadable


def _under_old_keys(current_id: str) -> Q:
    return Q(encoding__contains='"key":') & ~Q(encoding__contains=f'"key":{json.dumps(current_id)}')


def rotate_keys(
    options: Options,
    *,
    batch_size: int = 200,
    wait_seconds: float = 300.0,
    pause_seconds: float = 1.0,
) -> RotationReport:
    """Re-encrypt every task not under the current key; return what was done.

    Raises :class:`ConfigurationError` when no key is configured.
    """
    keyring = Keyring(options.encryption_keys)
    current = keyring.current
    if current is None:
        raise ConfigurationError(
            'rotate-keys needs OPTIONS["ENCRYPTION_KEYS"] (or TASKFLOW_ENCRYPTION_KEYS): '
            "the first key is the one rows are re-encrypted under."
        )
    report = RotationReport(current_key=current.id)
    deadline = time.monotonic() + wait_seconds
    tasks = models.Task.objects.using(options.database)
    while True:
        report.passes += 1
        report.rotated += _one_pass(tasks, keyring, report, batch_size)
        left = tasks.filter(_under_old_keys(current.id)).exclude(pk__in=list(report.unreadable))
        report.left_running, report.left_after_last_pass = Counter(), Counter()
        for text, status in left.values_list("encoding", "status"):
            running = status == Status.RUNNING
            counter = report.left_running if running else report.left_after_last_pass
            counter[stored.read(text).key_id or ""] += 1
        nothing_left = not report.left_running and not report.left_after_last_pass
        if nothing_left or time.monotonic() >= deadline:
            return report
        time.sleep(pause_seconds)  # running tasks end, or a claimed row is settled


def _one_pass(
    tasks: QuerySet[models.Task], keyring: Keyring, report: RotationReport, batch_size: int
) -> int:
    rotated = 0
    after = None
    candidates = tasks.filter(_under_old_keys(report.current_key)).exclude(status=Status.RUNNING)
    while True:
        batch_query = candidates.order_by("pk")
        if after is not None:
            batch_query = batch_query.filter(pk__gt=after)
        batch = list(
            batch_query.values(
                "pk", "encoding", "status", "attempts", "args", "result", "progress_detail"
            )[:batch_size]
        )
        if not batch:
            return rotated
        after = batch[-1]["pk"]
        with transaction.atomic(using=tasks.db):
            for row in batch:
                rotated += _rotate_row(tasks, keyring, report, row)


def _rotate_row(
    tasks: QuerySet[models.Task], keyring: Keyring, report: RotationReport, row: Any
) -> int:
    old = stored.read(str(row["encoding"]))
    new = dataclasses.replace(old, key_id=report.current_key)
    task_id = row["pk"]
    try:
        call = fields.unseal(row["args"], old, keyring, fields.Place(str(task_id), fields.CALL))
        changes: dict[str, object] = {
            "args": fields.seal(call, new, keyring, fields.Place(str(task_id), fields.CALL)),
            "encoding": new.to_column(),
        }
        if row["result"] is not None:
            place = fields.Place(str(task_id), fields.RESULT)
            result = fields.unseal(row["result"], old, keyring, place)
            changes["result"] = fields.seal(result, new, keyring, place)
        attempt_changes = _sealed_attempts(tasks.db, task_id, old, new, keyring)
        event_changes = _sealed_events(tasks.db, task_id, old, new, keyring)
        if isinstance(row["progress_detail"], dict) and set(row["progress_detail"]) == {"sealed"}:
            place = fields.Place(str(task_id), fields.PROGRESS, row["attempts"])
            detail = fields.unseal(row["progress_detail"]["sealed"], old, keyring, place)
            changes["progress_detail"] = {"sealed": fields.seal(detail, new, keyring, place)}
    except TaskflowError as exc:
        report.unreadable[str(task_id)] = str(exc)
        logger.warning(
            "cannot re-encrypt task %s: %s",
            task_id,
            exc,
            extra={"action": "key_rotation_skipped", "task_id": str(task_id)},
        )
        return 0
    won = tasks.filter(
        pk=task_id, encoding=row["encoding"], status=row["status"], attempts=row["attempts"]
    ).update(**changes)
    if won:
        for attempt_id, attempt_fields in attempt_changes:
            models.Attempt.objects.using(tasks.db).filter(pk=attempt_id).update(**attempt_fields)
        for event_id, data in event_changes:
            models.Event.objects.using(tasks.db).filter(pk=event_id).update(data=data)
    return won


def _resealed_text(
    text: str, old: stored.Encoding, new: stored.Encoding, keyring: Keyring, place: fields.Place
) -> str:
    """``text`` with each sealed text in it (a cancelled attempt's message holds
    one after a plain prefix) sealed again under the new key."""

    def resealed(sealed: str) -> str:
        return fields.seal_text(
            fields.unseal_text(sealed, old, keyring, place), new, keyring, place
        )

    return fields.map_sealed_texts(text, resealed)


_ATTEMPT_TEXTS = (
    ("error_message", fields.ERROR_MESSAGE),
    ("traceback", fields.TRACEBACK),
    ("error_value", attempts.ERROR_VALUE),
)


def _sealed_attempts(
    database: str | None, task_id: Any, old: stored.Encoding, new: stored.Encoding, keyring: Keyring
) -> list[tuple[Any, dict[str, Any]]]:
    """Each attempt's sealed error texts, sealed again under the new key."""
    changed = []
    for attempt in models.Attempt.objects.using(database).filter(task_id=task_id):
        updates: dict[str, Any] = {}
        for name, label in _ATTEMPT_TEXTS:
            text = getattr(attempt, name)
            if fields.holds_sealed_text(text):
                place = fields.Place(str(task_id), label, attempt.number)
                updates[name] = _resealed_text(text, old, new, keyring, place)
        if updates:
            changed.append((attempt.pk, updates))
    return changed


def _sealed_events(
    database: str | None, task_id: Any, old: stored.Encoding, new: stored.Encoding, keyring: Keyring
) -> list[tuple[Any, dict[str, Any]]]:
    """Each event's sealed progress detail and error texts, sealed again under the new key."""
    changed = []
    for event in models.Event.objects.using(database).filter(task_id=task_id):
        data = dict(event.data or {})
        detail = data.get("detail")
        if isinstance(detail, dict) and set(detail) == {"sealed"}:
            place = fields.Place(str(task_id), fields.PROGRESS, event.attempt)
            plain = fields.unseal(detail["sealed"], old, keyring, place)
            data["detail"] = {"sealed": fields.seal(plain, new, keyring, place)}
        for name, label in _ATTEMPT_TEXTS:
            text = data.get(name)
            if fields.holds_sealed_text(text):
                place = fields.Place(str(task_id), label, event.attempt)
                data[name] = _resealed_text(text, old, new, keyring, place)
        if data != event.data:
            changed.append((event.pk, data))
    return changed
