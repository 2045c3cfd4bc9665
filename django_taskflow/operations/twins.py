"""Async twins of the operations: the same function, run in a thread for async callers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import sync_to_async


def async_twin[**P, R](function: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Return ``function`` as a coroutine function with the same arguments.

    The logic lives once, in the sync version; the twin runs it on the
    thread that Django's ORM calls from async code share
    (``thread_sensitive=True``), so a twin sees the caller's transaction.
    """

    @functools.wraps(function)
    async def twin(*args: P.args, **kwargs: P.kwargs) -> R:
        return await sync_to_async(function, thread_sensitive=True)(*args, **kwargs)

    twin.__name__ = twin.__qualname__ = f"a{function.__name__}"
    twin.__doc__ = f"Async twin of :func:`{function.__name__}`."
    return twin
