"""The backend's options: ``TASKS[alias]["OPTIONS"]``, parsed and checked.

Each option has a default and a validator. ``parse_options`` raises
:class:`ConfigurationError` naming the setting; the system checks report the
same problems with stable ids. Django rebuilds backends when ``TASKS``
changes, so ``override_settings`` reaches every reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django_taskflow.encoding import keys
from django_taskflow.encoding.keys import EncryptionKey
from django_taskflow.exceptions import ConfigurationError, InvalidTaskOptions
from django_taskflow.policies import RetryPolicy, coerce_policy
from django_taskflow.queues import DEFAULT_QUEUE_WEIGHTS
from django_taskflow.timeouts import Timeout
from django_taskflow.types import is_finite_number

if TYPE_CHECKING:
    from django_taskflow.alerts.rules import AlertSettings
# Any authenticated, active user, whatever REST_FRAMEWORK's default permission is.
API_DEFAULT_PERMISSION = "django_taskflow.api.permissions.IsActiveUser"


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """Typed view of one backend's ``OPTIONS``; see docs/reference/settings.md."""

    database: str = "default"
    lease_seconds: float = 30.0
    poll_interval: float = 1.0
    max_attempts: int = 1
    retry_policy: RetryPolicy | None = None  # None: capped exponential backoff, full jitter
    default_timeout: Timeout | None = None  # None: no time limit
    middleware: tuple[str, ...] = ()
    batch_size: int = 50
    max_payload_bytes: int = 1_000_000
    shutdown_grace_seconds: float = 30.0
    max_lost_attempts: int = 3
    cancel_grace_seconds: float = 10.0
    # The defaults, with OPTIONS["QUEUE_WEIGHTS"]'s entries added or replaced.
    queue_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_QUEUE_WEIGHTS))
    queue_limits: Mapping[str, int] = field(default_factory=dict)
    # Finished status -> how long its tasks are kept; workers prune the rest.
    retention: Mapping[str, timedelta] = field(default_factory=dict)
    # The health check fails when a ready task has waited longer than this.
    health_max_ready_age_seconds: float = 300.0
    # OPTIONS["ALERTS"], parsed; None: no alert rules.
    alerts: AlertSettings | None = None
    # The REST API (django_taskflow.api), which serves this backend when it is "default".
    api_permission_classes: tuple[str, ...] = (API_DEFAULT_PERMISSION,)
    api_max_body_bytes: int = 65_536
    # A scraper sends it as a bearer token to read /taskflow/metrics; None: staff only.
    metrics_token: str | None = field(default=None, repr=False)
    # OPTIONS["ENCRYPTION_KEYS"], else TASKFLOW_ENCRYPTION_KEYS: first key writes.
    encryption_keys: tuple[EncryptionKey, ...] = ()

    @property
    def heartbeat_seconds(self) -> float:
        """How often a worker renews its leases: a third of the lease."""
        return self.lease_seconds / 3


def _positive_number(value: Any) -> str | None:
    if not is_finite_number(value) or value <= 0:
        return "a finite number greater than 0"
    return None


def _non_negative_number(value: Any) -> str | None:
    if not is_finite_number(value) or value < 0:
        return "a finite number of at least 0"
    return None


def _positive_int(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return "a whole number of at least 1"
    return None


def _attempt_count(value: Any) -> str | None:
    from django_taskflow.policies import MAX_ATTEMPTS_LIMIT, is_attempt_count

    return None if is_attempt_count(value) else f"a whole number from 1 to {MAX_ATTEMPTS_LIMIT:,}"


def _retry_policy(value: Any) -> str | None:
    if value is None or isinstance(value, RetryPolicy):
        return None
    if not isinstance(value, Mapping):
        return "a RetryPolicy, a dict such as {'kind': 'exponential', 'max_delay': 60}, or None"
    try:
        RetryPolicy.from_json(value)
    except InvalidTaskOptions as exc:
        return f"a valid RetryPolicy dict ({str(exc).rstrip('.')})"
    return None


def _timeout(value: Any) -> str | None:
    if value is None or isinstance(value, Timeout):
        return None
    if isinstance(value, Mapping):
        try:
            Timeout.from_json(value)
        except InvalidTaskOptions as exc:
            return f"None, a Timeout or a dict with soft and hard seconds ({exc})"
        return None
    return "None, a Timeout or a dict with soft and hard seconds"


def _dotted_paths(value: Any) -> str | None:
    if isinstance(value, list | tuple) and all(isinstance(p, str) and "." in p for p in value):
        return None
    return "a list of dotted paths to middleware"


def _permission_classes(value: Any) -> str | None:
    if _dotted_paths(value) is None and value:
        return None
    return "a non-empty list of dotted paths to DRF permission classes"


def _queue_mapping(value: Any, check: Callable[[Any], str | None]) -> str | None:
    if not isinstance(value, Mapping) or not all(
        isinstance(name, str) and name and check(number) is None for name, number in value.items()
    ):
        return f"a dict of queue names to {check(None)}"
    return None


def _queue_weights(value: Any) -> str | None:
    return _queue_mapping(value, _positive_number)


def _queue_limits(value: Any) -> str | None:
    return _queue_mapping(value, _positive_int)


def _retention(value: Any) -> str | None:
    from django_taskflow.durations import EXAMPLES, parse_duration
    from django_taskflow.states import FINISHED

    expected = (
        f"a dict of finished statuses ({', '.join(sorted(FINISHED))}) to durations "
        f"such as {EXAMPLES}"
    )
    if not isinstance(value, Mapping):
        return expected
    for status, duration in value.items():
        if status not in FINISHED:
            return f"{expected}; {status!r} is not a finished status"
        try:
            parse_duration(duration)
        except ValueError as exc:
            return f"{expected}; {exc}"
    return None


def _alerts(value: Any) -> str | None:
    from django_taskflow.alerts.rules import parse_alerts

    try:
        parse_alerts(value)
    except ValueError as exc:
        return f"alert settings as in the settings reference ({exc})"
    return None


# A shorter token is too easy to guess.
MIN_METRICS_TOKEN_LENGTH = 16


def _metrics_token(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and len(value) >= MIN_METRICS_TOKEN_LENGTH):
        return None
    return f"None or a string of at least {MIN_METRICS_TOKEN_LENGTH} characters"


def _database_alias(value: Any) -> str | None:
    from django.db import connections

    if not isinstance(value, str) or value not in connections.settings:
        return "the alias of a database in DATABASES"
    return None


# OPTIONS key → (Options field, validator returning what was expected or None)
_SPEC: dict[str, tuple[str, Callable[[Any], str | None]]] = {
    "DATABASE": ("database", _database_alias),
    "LEASE_SECONDS": ("lease_seconds", _positive_number),
    "POLL_INTERVAL": ("poll_interval", _positive_number),
    "MAX_ATTEMPTS": ("max_attempts", _attempt_count),
    "RETRY_POLICY": ("retry_policy", _retry_policy),
    "DEFAULT_TIMEOUT": ("default_timeout", _timeout),
    "MIDDLEWARE": ("middleware", _dotted_paths),
    "BATCH_SIZE": ("batch_size", _positive_int),
    "MAX_PAYLOAD_BYTES": ("max_payload_bytes", _positive_int),
    "SHUTDOWN_GRACE_SECONDS": ("shutdown_grace_seconds", _non_negative_number),
    "MAX_LOST_ATTEMPTS": ("max_lost_attempts", _positive_int),
    "CANCEL_GRACE_SECONDS": ("cancel_grace_seconds", _non_negative_number),
    "QUEUE_WEIGHTS": ("queue_weights", _queue_weights),
    "QUEUE_LIMITS": ("queue_limits", _queue_limits),
    "RETENTION": ("retention", _retention),
    "HEALTH_MAX_READY_AGE_SECONDS": ("health_max_ready_age_seconds", _positive_number),
    "ALERTS": ("alerts", _alerts),
    "API_PERMISSION_CLASSES": ("api_permission_classes", _permission_classes),
    "API_MAX_BODY_BYTES": ("api_max_body_bytes", _positive_int),
    "METRICS_TOKEN": ("metrics_token", _metrics_token),
    "ENCRYPTION_KEYS": ("encryption_keys", keys.problem),
}


@dataclass(frozen=True, slots=True)
class OptionProblem:
    """One invalid or unknown entry in OPTIONS."""

    setting: str
    message: str
    unknown: bool = False


def find_problems(alias: str, raw: Mapping[str, Any]) -> list[OptionProblem]:
    """Return every problem in ``raw`` (the backend's OPTIONS), without raising."""
    problems = []
    for name, value in raw.items():
        setting = f"TASKS[{alias!r}]['OPTIONS'][{name!r}]"
        if name not in _SPEC:
            known = ", ".join(sorted(_SPEC))
            problems.append(
                OptionProblem(setting, f"{setting} is not an option (known: {known}).", True)
            )
            continue
        expected = _SPEC[name][1](value)
        if expected is not None:
            # Never quote keys back: the message may be logged.
            shown = "its value" if name == "ENCRYPTION_KEYS" else repr(value)
            problems.append(OptionProblem(setting, f"{setting} must be {expected}, got {shown}."))
    if "ENCRYPTION_KEYS" not in raw:
        value, unreadable = keys.from_environment()
        expected = unreadable or (None if value is None else keys.problem(value))
        if expected is not None:
            variable = keys.ENVIRONMENT_VARIABLE
            problems.append(OptionProblem(variable, f"{variable} must be {expected}."))
    return problems


def parse_options(alias: str, raw: Mapping[str, Any]) -> Options:
    """Build :class:`Options` from OPTIONS, or raise ``ConfigurationError``."""
    problems = find_problems(alias, raw)
    if problems:
        raise ConfigurationError(" ".join(p.message for p in problems))
    values = {_SPEC[name][0]: value for name, value in raw.items()}
    if "retry_policy" in values:
        values["retry_policy"] = coerce_policy(
            values["retry_policy"], setting=f"TASKS[{alias!r}]['OPTIONS']['RETRY_POLICY']"
        )
    if isinstance(values.get("default_timeout"), Mapping):
        values["default_timeout"] = Timeout.from_json(values["default_timeout"])
    for name in ("middleware", "api_permission_classes"):
        if name in values:
            values[name] = tuple(values[name])
    if "queue_weights" in values:
        values["queue_weights"] = {**DEFAULT_QUEUE_WEIGHTS, **values["queue_weights"]}
    if "queue_limits" in values:
        values["queue_limits"] = dict(values["queue_limits"])
    if "retention" in values:
        from django_taskflow.durations import parse_duration

        values["retention"] = {
            status: parse_duration(duration) for status, duration in values["retention"].items()
        }
    if "alerts" in values:
        from django_taskflow.alerts.rules import parse_alerts

        values["alerts"] = parse_alerts(values["alerts"])
    if "encryption_keys" in values:
        values["encryption_keys"] = keys.parse(values["encryption_keys"])
    else:
        from_environment = keys.from_environment()[0]
        if from_environment is not None:
            values["encryption_keys"] = keys.parse(from_environment)
    return Options(**values)
