"""Lifecycle hooks for error trackers and metrics.

```python
from django_taskflow import on_task_failed

@on_task_failed
def report(event):
    sentry_sdk.capture_message(f"{event.task_name} failed: {event.error}")
```

A hook receives a :class:`~django_taskflow.events.TaskEvent`. It runs after
the change is committed, in the process that recorded it (usually the
worker). A hook that raises is logged and never breaks the task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.dispatch import Signal

from django_taskflow import signals

if TYPE_CHECKING:  # events imports the models, which must not load with the package
    from django_taskflow.events import TaskEvent

type Hook = Callable[[TaskEvent], Any]


def _register(signal: Signal, hook: Hook) -> Hook:
    def receiver(sender: Any, event: TaskEvent, **kwargs: Any) -> None:
        hook(event)

    # Keep a strong reference: hooks are often module-level functions, but
    # the wrapper itself would otherwise be garbage-collected.
    signal.connect(receiver, weak=False, dispatch_uid=f"taskflow-hook-{id(hook)}")
    return hook


def on_task_start(hook: Hook) -> Hook:
    """Call ``hook(event)`` when an attempt starts. Usable as a decorator."""
    return _register(signals.task_running, hook)


def on_task_complete(hook: Hook) -> Hook:
    """Call ``hook(event)`` when a task succeeds. Usable as a decorator."""
    return _register(signals.task_succeeded, hook)


def on_task_failed(hook: Hook) -> Hook:
    """Call ``hook(event)`` when a task fails for good. Usable as a decorator."""
    return _register(signals.task_failed, hook)


def on_task_cancelled(hook: Hook) -> Hook:
    """Call ``hook(event)`` when a task ends cancelled. Usable as a decorator."""
    return _register(signals.task_cancelled, hook)


def on_flow_complete(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Call ``hook(flow)`` once when a flow ends (``flow``: its ``models.Flow`` row,
    with ``status`` succeeded, failed or cancelled). Usable as a decorator."""

    def receiver(sender: Any, flow: Any, **kwargs: Any) -> None:
        hook(flow)

    signals.flow_finished.connect(receiver, weak=False, dispatch_uid=f"taskflow-hook-{id(hook)}")
    return hook


def remove_hook(hook: Hook) -> None:
    """Disconnect ``hook`` from every lifecycle signal it was registered on."""
    for signal in (
        signals.task_running,
        signals.task_succeeded,
        signals.task_failed,
        signals.task_cancelled,
        signals.flow_finished,
    ):
        signal.disconnect(dispatch_uid=f"taskflow-hook-{id(hook)}")
