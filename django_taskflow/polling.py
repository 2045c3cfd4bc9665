"""Wait for a snapshot to finish: refresh it with growing pauses until it has.

A task's result (``results.TaskflowResult``) and a flow's
(``flows.handle.FlowResult``) both wait this way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Self

from django_taskflow.exceptions import ResultTimeout

FIRST_POLL = 0.005
MAX_POLL = 0.2


class Waiting:
    """Adds ``wait()`` and ``await_()`` to a snapshot that can refresh itself.

    Put it after the class that implements ``is_finished``, ``refresh()``
    and ``arefresh()`` (or implement them in the subclass): the methods here
    only say what a snapshot must have.
    """

    __slots__ = ()

    @property
    def is_finished(self) -> bool:
        raise NotImplementedError

    def refresh(self) -> None:
        raise NotImplementedError

    async def arefresh(self) -> None:
        raise NotImplementedError

    def unfinished_text(self) -> str:
        """What it is and where it stands, for the timeout's message: ``Flow … is still running``."""
        raise NotImplementedError

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
