"""``FlowResult``: what ``flow.enqueue()`` returns, a snapshot of the Flow row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Self

from asgiref.sync import sync_to_async
from django.tasks import task_backends

from django_taskflow import models
from django_taskflow.exceptions import ResultNotFound
from django_taskflow.polling import Waiting


@dataclass(frozen=True, slots=True, kw_only=True)
class StepState:
    """One step of a flow as its flow last saw it."""

    position: int
    task_path: str
    state: str  # pending, queued (queued or running), succeeded, failed, cancelled, never_run
    task_id: str | None
    result: Any
    error: str


class BatchProgress(NamedTuple):
    """How far a batch is: items that succeeded, items that failed or were cancelled, all."""

    done: int
    failed: int
    total: int


class FlowResult(Waiting):
    """A snapshot of a flow; ``refresh()`` reloads it, ``wait()`` waits for its end."""

    def __init__(self, flow: models.Flow, database: str) -> None:
        self._flow = flow
        self.database = database

    @classmethod
    def from_flow(cls, flow: models.Flow) -> Self:
        return cls(flow, task_backends[flow.backend].config.database)  # type: ignore[attr-defined]

    @property
    def id(self) -> str:
        return str(self._flow.id)

    @property
    def backend(self) -> str:
        return self._flow.backend

    @property
    def status(self) -> str:
        """``running``, ``succeeded``, ``failed`` or ``cancelled`` (a ``FlowStatus``)."""
        return self._flow.status

    @property
    def is_finished(self) -> bool:
        return self._flow.status != models.FlowStatus.RUNNING

    @property
    def result(self) -> Any:
        """What the last stage passed on (a list for a group; each item's outcome for a batch)."""
        return self._flow.result

    @property
    def error(self) -> str:
        """Why the flow failed or was cancelled; empty otherwise."""
        return self._flow.error

    @property
    def finished_at(self) -> datetime | None:
        return self._flow.finished_at

    @property
    def steps(self) -> list[StepState]:
        """Every step, in position order, with its state and result."""
        return [
            StepState(
                position=position,
                task_path=step["task"],
                state=state["state"],
                task_id=state.get("task"),
                result=state.get("result"),
                error=state.get("error", ""),
            )
            for position, (step, state) in enumerate(
                zip(self._flow.graph["steps"], self._flow.steps, strict=True)
            )
        ]

    def results(self) -> list[Any]:
        """Each step's result, in position order (None for a step without one)."""
        return [state.get("result") for state in self._flow.steps]

    def refresh(self) -> None:
        """Reload the snapshot from the database."""
        try:
            self._flow = models.Flow.objects.using(self.database).get(pk=self._flow.pk)
        except models.Flow.DoesNotExist as exc:
            raise ResultNotFound(f"No flow with id {self.id!r}.") from exc

    async def arefresh(self) -> None:
        """Async twin of :meth:`refresh`."""
        await sync_to_async(self.refresh, thread_sensitive=True)()

    def cancel(self, *, reason: str = "", by: Any = None) -> bool:
        """Cancel the flow; see ``operations.cancel_flow``."""
        from django_taskflow import operations

        cancelled = operations.cancel_flow(self.id, reason=reason, by=by, backend=self.backend)
        self.refresh()
        return cancelled

    async def acancel(self, *, reason: str = "", by: Any = None) -> bool:
        """Async twin of :meth:`cancel`."""
        return await sync_to_async(self.cancel, thread_sensitive=True)(reason=reason, by=by)

    def unfinished_text(self) -> str:
        return f"Flow {self.id} is still {self.status}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.status}>"


class BatchResult(FlowResult):
    """A batch's snapshot: ``progress`` and, once finished, each item's outcome."""

    @property
    def items(self) -> range:
        return range(len(self._flow.graph["stages"][0]["positions"]))

    @property
    def progress(self) -> BatchProgress:
        """Items succeeded, failed (or cancelled) and in all, as last advanced."""
        states = [self._flow.steps[p]["state"] for p in self.items]
        return BatchProgress(
            done=states.count("succeeded"),
            failed=states.count("failed") + states.count("cancelled"),
            total=len(states),
        )

    def results(self) -> list[Any]:
        """Each item's outcome, in order: ``{"status": ..., "result" or "error": ...}``."""
        from django_taskflow.flows.progress import item_outcome

        return [item_outcome(self._flow.steps[p]) for p in self.items]
