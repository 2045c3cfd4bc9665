"""What an event shows of its task's payload: its errors' and its own string forms, and reveal().

An encrypted task's :class:`~django_taskflow.events.TaskEvent` holds the
payload as stored (sealed); :func:`revealed` decrypts a copy with this
process's keys. Their string forms show ``[encrypted]`` in place of the
payload either way (``docs/howto/encryption.md``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django_taskflow import payload_display
from django_taskflow.encoding import fields as sealed_fields

if TYPE_CHECKING:
    from django_taskflow.events import TaskEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptError:
    """The error of one attempt: an exception, or a value a validator rejected.

    An encrypted task's ``message`` and ``value`` are as stored (sealed), or
    decrypted in an event's :meth:`TaskEvent.reveal` copy (``revealed``);
    its string forms show ``[encrypted]`` in their place either way.
    """

    attempt: int
    error_class: str
    message: str
    value: Any = None
    revealed: bool = field(default=False, repr=False)

    def _shown(self) -> tuple[str, Any]:
        if self.revealed and self.error_class not in sealed_fields.PLAIN_ERRORS:
            redacted = sealed_fields.REDACTED
            return redacted if self.message else "", None if self.value is None else redacted
        value = self.value
        if sealed_fields.holds_sealed_text(value):
            value = sealed_fields.redact_text(value)
        return sealed_fields.redact_text(self.message), value

    def __str__(self) -> str:
        message = self._shown()[0]
        return f"{self.error_class}: {message}" if message else self.error_class

    def __repr__(self) -> str:
        message, value = self._shown()
        return (
            f"AttemptError(attempt={self.attempt!r}, error_class={self.error_class!r}, "
            f"message={message!r}, value={value!r})"
        )


def _shown_data(event: TaskEvent, *, reveal: bool) -> dict[str, Any]:
    return payload_display.shown_event_data(
        event.data,
        task_id=event.task_id,
        encoding=event.encoding,
        backend=event.backend,
        attempt=event.attempt,
        reveal=reveal,
    )


def revealed(event: TaskEvent) -> TaskEvent:
    """``event`` with its payload decoded by this process (see ``TaskEvent.reveal``)."""
    if event.encoding is None:
        return event
    return dataclasses.replace(
        event,
        data=_shown_data(event, reveal=True),
        result=payload_display.revealed_result(
            event.result, event.task_id, event.encoding, event.backend
        ),
        revealed=event.is_encrypted,
    )


def redacted_data(event: TaskEvent) -> dict[str, Any]:
    """An encrypted task's event data with ``[encrypted]`` in place of its payload."""
    if not event.revealed:  # sealed as stored: each sealed part shown as [encrypted]
        return _shown_data(event, reveal=False)
    plain_error = event.data.get("error_class") in sealed_fields.PLAIN_ERRORS
    return {
        key: sealed_fields.REDACTED
        if key in payload_display.ENCRYPTED_EVENT_KEYS
        and value not in (None, "", {})
        and not (plain_error and key == "error_message")
        else value
        for key, value in event.data.items()
    }
