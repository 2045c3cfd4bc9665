"""Run one claimed task and decide its outcome.

This is the execution boundary: whatever the task does, ``run`` returns an
:class:`~django_taskflow.execution.outcome.Outcome`, so every attempt ends
in a transition. In order: middleware around the call, the result checked
against the return annotation and turned into JSON, the validator (given
the typed value for a typed result), then
the retry decision (``retry_on``, ``dont_retry_on``, ``retry_if``, the
retry policy).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.tasks import Task

from django_taskflow import payloads, registry, results, signals, typecheck
from django_taskflow.claim import ClaimedTask
from django_taskflow.encoding import arguments as stored_arguments
from django_taskflow.encoding import attempts as sealed_attempts
from django_taskflow.encoding import calls as typed_calls
from django_taskflow.encoding import results as stored_results
from django_taskflow.encoding.keys import EncryptionKey
from django_taskflow.exceptions import (
    ForcedStop,
    HardTimeLimitExceeded,
    PayloadShapeError,
    PayloadTooLarge,
    ResultRejected,
    ResultTypeMismatch,
    RetryRequested,
    TaskCancelled,
    UnknownTask,
    UnserializablePayload,
)
from django_taskflow.execution import middleware as middleware_chain
from django_taskflow.execution import outcome as outcomes
from django_taskflow.execution.context import Reporter, TaskContext
from django_taskflow.policies import RetryPolicy, delay_after
from django_taskflow.states import AttemptOutcome, Status

logger = logging.getLogger(__name__)


def running_snapshot(
    definition: Task[Any, Any],
    claimed: ClaimedTask,
    worker_id: str,
    started_at: datetime,
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
) -> results.TaskflowResult:
    """The snapshot of a task as it starts; ``args`` and ``kwargs`` as decoded, if they were."""
    return results.build(
        definition,
        task_id=claimed.id,
        status=Status.RUNNING,
        args=claimed.args if args is None else args,
        kwargs=claimed.kwargs if kwargs is None else kwargs,
        encoding=claimed.encoding,
        enqueued_at=claimed.enqueued_at,
        started_at=claimed.started_at or started_at,
        last_attempted_at=started_at,
        worker_ids=[worker_id],
    )


def retry_delay(claimed: ClaimedTask, policy: RetryPolicy | None = None) -> float:
    """Seconds before the next attempt, by ``policy`` or the task's stored one."""
    # n counts the task's own failures, not the attempts lost with a worker.
    attempt = claimed.attempt - claimed.lost_attempts
    return delay_after(claimed.retry_policy if policy is None else policy, attempt)


@lru_cache(maxsize=1024)
def _is_coroutine_function(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func)


@lru_cache(maxsize=1024)
def _return_type(func: Callable[..., Any]) -> Any:
    return typecheck.return_type(func)


def is_retryable(definition: Task[Any, Any], error: BaseException, rejected: Any = None) -> bool:
    """Whether ``error`` (or the value a validator ``rejected``) deserves another attempt."""
    if rejected is None:
        dont_retry_on = tuple(getattr(definition, "dont_retry_on", ()))
        retry_on = tuple(getattr(definition, "retry_on", ()))
        if dont_retry_on and isinstance(error, dont_retry_on):
            return False
        if retry_on and not isinstance(error, retry_on):
            return False
    retry_if = getattr(definition, "retry_if", None)
    if retry_if is None:
        return True
    try:
        return bool(retry_if(error if rejected is None else rejected))
    except Exception:
        logger.exception(
            "retry_if of %s raised; not retrying",
            definition.module_path,
            extra={"action": "retry_if_failed"},
        )
        return False


def _as_json(
    definition: Task[Any, Any], value: Any
) -> tuple[Any, tuple[BaseException, Any] | None]:
    """The returned value as JSON, and the error it earns (see :func:`_rejection`), if any.

    A typed result (``-> Receipt``) is checked by its codec as it is turned
    into JSON, and the validator sees it as ``result.return_value`` will
    give it: the typed value, read back from that JSON.
    """
    func = definition.func
    if not typed_calls.has_typed_result(func):
        value = typecheck.to_json_value(value)
        return value, _rejection(definition, value)
    try:
        stored = typecheck.to_json_value(typed_calls.dump_result(func, value))
    except PayloadShapeError as exc:
        return value, (ResultTypeMismatch(f"{exc}."), None)
    validator = getattr(definition, "validator", None)
    if validator is None:
        return stored, None
    return stored, _validated(validator, typed_calls.load_result(func, stored))


def _rejection(definition: Task[Any, Any], value: Any) -> tuple[BaseException, Any] | None:
    """The error a returned value earns from the annotation or the validator, if any."""
    expected = _return_type(definition.func)
    if expected is not typecheck.NOT_DECLARED:
        mismatch = typecheck.find_mismatch(value, expected)
        if mismatch:
            return ResultTypeMismatch(f"{mismatch}."), None
    validator = getattr(definition, "validator", None)
    return None if validator is None else _validated(validator, value)


def _validated(validator: Callable[[Any], Any], value: Any) -> tuple[BaseException, Any] | None:
    rejected = validator(value)
    if rejected is None:
        return None
    return ResultRejected(f"the validator rejected the result: {rejected!r}"), rejected


def _json_or_repr(value: Any) -> str:
    if payloads.find_unserializable(value, "value") is None:
        return json.dumps(value)
    return json.dumps(repr(value))


def run(
    claimed: ClaimedTask,
    *,
    keys: tuple[EncryptionKey, ...],
    worker_id: str,
    max_bytes: int,
    now: Callable[[], datetime],
    middleware: Sequence[middleware_chain.Middleware] = (),
    reporter: Reporter | None = None,
) -> tuple[outcomes.Outcome, results.TaskflowResult | None]:
    """Run ``claimed`` once; return its outcome and the running snapshot.

    ``keys`` are its backend's encryption keys. An encrypted task's error
    texts are sealed before anything stores them.
    """
    outcome, snapshot = _run(
        claimed,
        keys=keys,
        worker_id=worker_id,
        max_bytes=max_bytes,
        now=now,
        middleware=middleware,
        reporter=reporter,
    )
    if claimed.encoding is not None:
        outcome = sealed_attempts.seal_outcome(outcome, claimed, keys)
    return outcome, snapshot


def _run(
    claimed: ClaimedTask,
    *,
    keys: tuple[EncryptionKey, ...],
    worker_id: str,
    max_bytes: int,
    now: Callable[[], datetime],
    middleware: Sequence[middleware_chain.Middleware] = (),
    reporter: Reporter | None = None,
) -> tuple[outcomes.Outcome, results.TaskflowResult | None]:
    started_at = now()
    try:
        definition = registry.resolve(claimed.task_path)
    except UnknownTask as exc:
        logger.error(
            "task %s cannot run: %s",
            claimed.id,
            exc,
            extra={"action": "task_unknown", "task_id": str(claimed.id)},
        )
        return _failed(claimed, exc, now=started_at, retryable=False), None
    # An encoded payload is bound to its task's id as text: made once, for the call and the result.
    payload_id = claimed.id if claimed.encoding is None else str(claimed.id)
    try:
        stored_args, stored_kwargs = stored_arguments.read_call(
            definition,
            payload_id,
            claimed.encoding,
            claimed.args,
            claimed.kwargs,
            keys,
        )
        call_args, call_kwargs = typed_calls.load_call(
            definition.func, definition.takes_context, stored_args, stored_kwargs
        )
    except Exception as exc:  # the stored arguments cannot become this function's: no retry
        logger.error(
            "task %s cannot run: %s",
            claimed.id,
            sealed_attempts.loggable_error(claimed, exc),
            extra={"action": "task_unreadable", "task_id": str(claimed.id)},
        )
        return _failed(claimed, exc, now=started_at, retryable=False), None
    snapshot = running_snapshot(
        definition, claimed, worker_id, started_at, stored_args, stored_kwargs
    )
    if signals.is_heard(signals.task_started):
        signals.send_from_worker(
            signals.task_started, type(definition.get_backend()), task_result=snapshot
        )
    context = TaskContext(
        task_result=snapshot,
        attempt_number=claimed.attempt,
        max_attempts=claimed.max_attempts,
        lost_attempts=claimed.lost_attempts,
        worker_id=worker_id,
        key=claimed.key,
        tags=tuple(claimed.tags),
        reporter=reporter,
    )

    def call() -> Any:
        args = (context, *call_args) if definition.takes_context else tuple(call_args)
        if _is_coroutine_function(definition.func):
            # In this thread, not in asgiref's loop thread, so that a time
            # limit or a forced stop interrupts the coroutine itself.
            return asyncio.run(definition.func(*args, **call_kwargs))
        return definition.func(*args, **call_kwargs)

    try:
        if reporter is not None:
            reporter.begin_attempt(claimed, context)  # time limits count from here
        try:
            value = middleware_chain.run(middleware, definition, context, call)
        finally:
            if reporter is not None:
                reporter.end_attempt()  # no time-limit interrupt can arrive after this
        # A value too deep to walk is left to the encoder below to refuse.
        rejection = None
        if not payloads.is_too_deep(value):
            value, rejection = _as_json(definition, value)
    except RetryRequested as request:
        delay = request.countdown
        if delay is None:
            delay = retry_delay(claimed, request.policy)  # type: ignore[arg-type]
        return _failed(
            claimed,
            request,
            now=now(),
            delay=delay,
            attempt_outcome=AttemptOutcome.RETRY_REQUESTED,
        ), snapshot
    except TaskCancelled as exc:
        return outcomes.cancelled(exc), snapshot
    except HardTimeLimitExceeded as exc:
        return _failed(
            claimed,
            exc,
            now=now(),
            retryable=is_retryable(definition, exc),
            attempt_outcome=AttemptOutcome.TIMED_OUT,
        ), snapshot
    except KeyboardInterrupt as exc:
        # A worker handles SIGINT itself, so there this came from the task's
        # own code; run_tasks() in a shell or test lets Ctrl-C through.
        if reporter is None or not reporter.handles_signals:
            raise
        return _failed(claimed, exc, now=now(), retryable=is_retryable(definition, exc)), snapshot
    except ForcedStop:
        raise  # the worker must stop now: the slot hands the task back
    # Anything else came from the task's own code or from what it called (a
    # SystemExit, a CancelledError from work it awaited, a test framework's
    # BaseException): that attempt's error like any Exception, never a crash
    # of the slot.
    except BaseException as exc:
        if reporter is not None and reporter.hard_limit_passed:
            # The hard limit cancelled the task's query, and the cancellation
            # (say, an OperationalError) came out first: the limit is the cause.
            timed_out = HardTimeLimitExceeded(
                f"the attempt ran past its hard time limit ({claimed.timeout_hard:g} s)"
            )
            timed_out.__cause__ = exc
            return _failed(
                claimed,
                timed_out,
                now=now(),
                retryable=is_retryable(definition, timed_out),
                attempt_outcome=AttemptOutcome.TIMED_OUT,
            ), snapshot
        return _failed(claimed, exc, now=now(), retryable=is_retryable(definition, exc)), snapshot
    if rejection is not None:
        error, rejected = rejection
        return _failed(
            claimed,
            error,
            now=now(),
            retryable=is_retryable(definition, error, rejected),
            error_value_json=None if rejected is None else _json_or_repr(rejected),
        ), snapshot
    try:
        encoded = stored_results.encode(value, payload_id, claimed.encoding, keys, max_bytes)
    except (UnserializablePayload, PayloadTooLarge) as exc:
        # Running it again would return the same kind of value: no retry.
        return _failed(claimed, exc, now=now(), retryable=False), snapshot
    except Exception as exc:  # the encoder itself failed: the value is just as unstorable
        refused = UnserializablePayload(
            f"The task's result could not be encoded as JSON: {outcomes.describe(exc)}"
        )
        return _failed(claimed, refused, now=now(), retryable=False), snapshot
    succeeded = outcomes.succeeded(encoded)
    if context.spawned:
        succeeded = dataclasses.replace(succeeded, children=tuple(context.spawned))
    return succeeded, snapshot


def _failed(
    claimed: ClaimedTask,
    error: BaseException,
    *,
    now: datetime,
    retryable: bool = True,
    delay: float | None = None,
    attempt_outcome: AttemptOutcome = AttemptOutcome.FAILED,
    error_value_json: str | None = None,
) -> outcomes.Outcome:
    will_retry = retryable and outcomes.has_attempts_left(
        attempt=claimed.attempt,
        lost_attempts=claimed.lost_attempts,
        max_attempts=claimed.max_attempts,
    )
    return outcomes.failed(
        error,
        attempt=claimed.attempt,
        max_attempts=claimed.max_attempts,
        lost_attempts=claimed.lost_attempts,
        retry_delay=(retry_delay(claimed) if delay is None else delay) if will_retry else 0,
        now=now,
        retryable=retryable,
        attempt_outcome=attempt_outcome,
        error_value_json=error_value_json,
    )
