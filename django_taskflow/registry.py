"""Task path ⇄ definition.

Every definition registers itself when the backend validates it, so the
worker can list what it knows; a path read from a row is resolved by import
and must lead back to a task definition.
"""

from __future__ import annotations

from typing import Any

from django.tasks import Task
from django.utils.module_loading import import_string

from django_taskflow.exceptions import UnknownTask

_known: dict[str, Task[Any, Any]] = {}


def register(definition: Task[Any, Any]) -> None:
    """Remember ``definition`` under its module path (the first one wins)."""
    _known.setdefault(definition.module_path, definition)


def known_paths() -> list[str]:
    """Return the paths of every task definition imported so far, sorted."""
    return sorted(_known)


def known_definitions() -> list[Task[Any, Any]]:
    """Return every task definition imported so far, by path."""
    return [_known[path] for path in sorted(_known)]


def resolve(task_path: str) -> Task[Any, Any]:
    """Return the definition named by ``task_path``, or raise :class:`UnknownTask`."""
    definition = _known.get(task_path)
    if definition is not None:
        return definition
    try:
        found = import_string(task_path)
    except ImportError as exc:
        raise UnknownTask(
            f"No task named {task_path!r}: it cannot be imported ({exc}). Was it "
            "renamed or removed while tasks for it were queued?"
        ) from exc
    except Exception as exc:  # the module itself fails while importing
        raise UnknownTask(
            f"Importing task {task_path!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(found, Task) or found.module_path != task_path:
        raise UnknownTask(f"{task_path!r} is not a task definition (found {found!r}).")
    register(found)
    return found
