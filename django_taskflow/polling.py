"""Wait for a snapshot to finish: refresh it with growing pauses until it has.

A task's result (``results.TaskflowResult``) and a flow's
(``flows.handle.FlowResult``) both wait this way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Self

from django_taskflow.exceptions import ResultTimeout

FIRST_POLL = 0.005
MAX_POLL = 0.2


class Waiting:
    """Adds ``wait()`` and ``await_()`` to a snapshot that can refresh itself.

    The class it is mixed into implements ``is_finished``, ``refresh()``,
    ``arefresh()`` and ``unfinished_text()``; the declarations here only
    tell the type checker so.
    """

    __slots__ = ()

    if TYPE_CHECKING:  # what the snapshot class before this one in the MRO gives

        @property
        def is_finished(self) -> bool: ...

        def refresh(self) -> None: ...

        async def arefresh(self) -> None: ...

        def unfinished_text(self) -> str:
            """What it is and where it stands, for the timeout's message: ``Flow … is still running``."""
            ...

    def wait(self, timeout: float | None = None) -> Self:
        """Block until finished, refreshing this snapshot; return it.

        Raises :class:`ResultTimeout` (a ``TimeoutError``) after ``timeout``
        seconds. Meant for scripts and tests: a view should not block.
        """
        self.refresh()
        for pause in self._pauses(timeout):
            time.sleep(pause)
            self.refresh()
        return self

    async def await_(self, timeout: float | None = None) -> Self:
        """Async twin of :meth:`wait` (``await`` is a keyword, hence the ``_``)."""
        await self.arefresh()
        for pause in self._pauses(timeout):
            await asyncio.sleep(pause)
            await self.arefresh()
        return self

    def _pauses(self, timeout: float | None) -> Iterator[float]:
        """Growing pauses between refreshes until finished; raise at the deadline."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = FIRST_POLL
        while not self.is_finished:
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout(f"{self.unfinished_text()} after {timeout} s.")
            yield pause
            pause = min(pause * 2, MAX_POLL)
