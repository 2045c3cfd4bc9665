"""The exceptions django_taskflow raises.

Every class derives from :class:`TaskflowError`, and also from the Python,
Django or ``django.tasks`` exception it refines, so existing ``except``
clauses keep working. The class docstring is the default message.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist


class TaskflowError(Exception):
    """A django_taskflow error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (type(self).__doc__ or "").strip())


class InvalidTaskOptions(TaskflowError, InvalidTask, ValueError):
    """A task option has a value that cannot be used."""


class UnserializablePayload(TaskflowError, TypeError):
    """Task arguments and results must be JSON-serialisable."""


class PayloadTooLarge(TaskflowError, ValueError):
    """The encoded arguments are larger than OPTIONS["MAX_PAYLOAD_BYTES"]."""


class UnimportableTask(TaskflowError, InvalidTask):
    """The worker could not import this task by its path.

    Define the task at the top level of a module the worker imports, such
    as an app's tasks.py, not in __main__ or in a shell.
    """

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or " ".join((type(self).__doc__ or "").split()))


class MigrationsNotApplied(TaskflowError, ImproperlyConfigured):
    """django_taskflow's tables are missing from the database: run `manage.py migrate`."""


class UnknownTask(TaskflowError, ImportError):
    """The task path does not name a task that this code base defines."""


class ResultNotFound(TaskflowError, TaskResultDoesNotExist):
    """No task with this id exists."""


class ResultTimeout(TaskflowError, TimeoutError):
    """The task did not finish within the time given to wait()."""


class ConfigurationError(TaskflowError, ImproperlyConfigured):
    """The TASKS setting for a django_taskflow backend is invalid."""


class WorkerLost(TaskflowError):
    """The worker running this attempt died or hung before the attempt's outcome was recorded."""


class WorkerInterrupted(TaskflowError):
    """The worker was forced to stop while this attempt ran; the task was handed back."""


class ForcedStop(BaseException):
    """The worker must stop at once: raised into the running task's own code.

    A ``BaseException`` for the same reason as :class:`HardTimeLimitExceeded`;
    the runner lets it through to the slot, which hands the task back.
    """


class HardTimeLimitExceeded(BaseException):
    """The attempt ran past its hard time limit and was stopped.

    A ``BaseException``, like ``KeyboardInterrupt``, so that a task's own
    ``except Exception`` cannot swallow it and keep running.
    """

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (type(self).__doc__ or "").strip().splitlines()[0])


class RetryRequested(BaseException):
    """The task asked for another attempt with ``context.retry()``.

    A ``BaseException`` for the same reason as :class:`HardTimeLimitExceeded`.
    """

    def __init__(self, countdown: float | None = None, policy: object = None) -> None:
        super().__init__("retry requested" + ("" if countdown is None else f" in {countdown:g} s"))
        self.countdown = countdown
        self.policy = policy


class TaskCancelled(BaseException):
    """The task was cancelled.

    Raised inside a running task by ``context.check_cancelled()``,
    ``report_progress()`` and ``heartbeat()`` once someone cancelled it, and
    into its code when it has not stopped by the end of
    ``OPTIONS["CANCEL_GRACE_SECONDS"]``. A ``BaseException`` for the same
    reason as :class:`HardTimeLimitExceeded`: a task's own ``except
    Exception`` must not swallow it. Let it propagate (``finally`` blocks
    run); the attempt is recorded as ``cancelled``.
    """

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (type(self).__doc__ or "").strip().splitlines()[0])


class InvalidQuery(TaskflowError, ValueError):
    """A query or cancel argument has a value that cannot be used."""


class AmbiguousTaskName(TaskflowError, ValueError):
    """More than one task has this function name: give the task's full path."""


class ResultRejected(TaskflowError, ValueError):
    """The task's validator rejected the value it returned."""


class ResultTypeMismatch(TaskflowError, TypeError):
    """The value the task returned does not match its return annotation."""


class InvalidQueueOperation(TaskflowError, ValueError):
    """A queue operation got a queue or a limit it cannot use."""


class TaskNotExposed(TaskflowError, ValueError):
    """No task that may be enqueued by name has this name: mark it @task(api=True)."""


class InvalidSchedule(TaskflowError, ValueError):
    """A schedule cannot be used: its cron expression, interval, time zone or window is invalid."""


class MetricsUnavailable(TaskflowError, ImportError):
    """prometheus_client is not installed: install django-taskflow-queue[metrics] to serve metrics."""


class StepArgumentsMismatch(TaskflowError, TypeError):
    """A flow step's bound arguments cannot fit its function."""


class InvalidFlowOperation(TaskflowError, ValueError):
    """This flow cannot be resumed or cancelled in its present state."""


class PayloadShapeError(TaskflowError, TypeError):
    """A typed argument or result does not have the shape its annotation declares."""


class PayloadVersionError(TaskflowError, ValueError):
    """The stored arguments are of a version of the task this worker cannot run."""


class UnknownEncoding(TaskflowError, ValueError):
    """The task's payload was stored by an encoder this process does not know."""


class TamperedPayload(TaskflowError, ValueError):
    """An encrypted payload failed authentication: it was changed or moved."""


class MissingEncryptionKey(TaskflowError, ImproperlyConfigured):
    """This process lacks the encryption key a task was written with."""

    def __init__(self, message: str | None = None, *, key_id: str = "") -> None:
        super().__init__(message)
        self.key_id = key_id


class InvalidService(TaskflowError, ValueError):
    """The service definition or its options are invalid."""


class ServiceConflict(TaskflowError, ValueError):
    """A service of that name already runs with another definition or config."""


class UnknownService(TaskflowError, LookupError):
    """No service of that name was started."""


class ServiceNotRunning(TaskflowError, ValueError):
    """The service is stopped or failed: it takes no messages."""
