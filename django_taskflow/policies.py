"""Retry policies: how long to wait before a retry, and how many attempts a task gets.

Pure: no database access. Policies are frozen value objects that are checked when
they are built and stored as JSON (``to_json`` / ``from_json``), so a bad value
is refused where it was given, not later in a worker. Time limits are in
``timeouts.py``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from random import Random
from typing import Any, ClassVar, cast

from django.utils.inspect import is_module_level_function
from django.utils.module_loading import import_string

from django_taskflow.exceptions import InvalidTaskOptions
from django_taskflow.types import JSONValue, is_finite_number

# Jitter only spreads retries out in time; it needs no cryptographic strength.
_default_random = Random()  # noqa: S311

# The fields each kind uses besides ``kind``; every other field must keep its
# default, so that to_json() loses nothing and from_json() gives an equal policy.
_FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "exponential": ("max_attempts", "initial_delay", "max_delay", "multiplier", "jitter"),
    "linear": ("max_attempts", "delay", "max_delay", "jitter"),
    "fixed": ("max_attempts", "delay", "jitter"),
    "custom": ("max_attempts", "delay_for_attempt"),
}

# The JSON keys from_json() accepts for each kind (custom stores its function as "path").
_JSON_KEYS: dict[str, frozenset[str]] = {
    "exponential": frozenset(_FIELDS_BY_KIND["exponential"]),
    "linear": frozenset(_FIELDS_BY_KIND["linear"]),
    "fixed": frozenset(_FIELDS_BY_KIND["fixed"]),
    "custom": frozenset({"max_attempts", "path"}),
}

_REQUIRED_JSON_KEYS: dict[str, frozenset[str]] = {
    "exponential": frozenset(),
    "linear": frozenset(),
    "fixed": frozenset({"delay"}),
    "custom": frozenset({"path"}),
}


MAX_ATTEMPTS_LIMIT = 2_147_483_647
"""The largest ``max_attempts``: what the ``max_attempts`` column (a 32-bit integer) holds."""

logger = logging.getLogger(__name__)


def function_path(func: Callable[..., Any]) -> str:
    """Return the import path of a module-level function, e.g. ``"myapp.tasks.backoff"``."""
    return f"{func.__module__}.{func.__qualname__}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How long to wait after a failed attempt before the next one.

    Build one with :meth:`exponential`, :meth:`linear`, :meth:`fixed` or
    :meth:`custom`. ``max_attempts`` ``None`` leaves the number of attempts to
    the task or the backend's ``OPTIONS["MAX_ATTEMPTS"]``. ``jitter`` ``True``
    draws the delay uniformly from ``0 .. d`` ("full jitter"); a float ``f`` in
    ``(0, 1]`` draws it from ``d * (1 - f) .. d``.

    Raises :class:`InvalidTaskOptions` (a ``ValueError``) naming the option and
    the value for any argument that cannot be used.
    """

    kind: str
    max_attempts: int | None = None
    initial_delay: float = 1.0
    max_delay: float = 300.0
    multiplier: float = 2.0
    delay: float = 5.0
    jitter: bool | float = False
    delay_for_attempt: Callable[[int], float] | None = None

    DEFAULT: ClassVar[RetryPolicy]

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in _FIELDS_BY_KIND:
            known = ", ".join(sorted(_FIELDS_BY_KIND))
            raise InvalidTaskOptions(f"kind must be one of {known}, got {self.kind!r}")
        self._refuse_unused_fields()
        _check_max_attempts(self.max_attempts)
        for name in ("initial_delay", "max_delay", "delay"):
            _check_delay(name, getattr(self, name))
        _check_multiplier(self.multiplier)
        _check_jitter(self.jitter)
        self._check_delay_order()
        if self.kind == "custom":
            _check_custom_function(self.delay_for_attempt)

    def _refuse_unused_fields(self) -> None:
        used = _FIELDS_BY_KIND[self.kind]
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name not in ("kind", *used) and value != field.default:
                raise InvalidTaskOptions(
                    f"{field.name} does not apply to a {self.kind} retry policy, got {value!r}"
                )

    def _check_delay_order(self) -> None:
        first = {"exponential": "initial_delay", "linear": "delay"}.get(self.kind)
        if first is not None and self.max_delay < getattr(self, first):
            raise InvalidTaskOptions(
                f"max_delay must be at least {first} ({getattr(self, first)!r}), "
                f"got {self.max_delay!r}"
            )

    @classmethod
    def exponential(
        cls,
        *,
        max_attempts: int | None = None,
        initial_delay: float = 1.0,
        max_delay: float = 300.0,
        multiplier: float = 2.0,
        jitter: bool | float = True,
    ) -> RetryPolicy:
        """Wait ``initial_delay * multiplier ** (n - 1)`` seconds after failed attempt ``n``.

        The delay stops growing at ``max_delay``. Jitter is on by default, so
        that tasks that failed together do not all retry at the same moment.
        """
        return cls(
            kind="exponential",
            max_attempts=max_attempts,
            initial_delay=initial_delay,
            max_delay=max_delay,
            multiplier=multiplier,
            jitter=jitter,
        )

    @classmethod
    def linear(
        cls,
        *,
        max_attempts: int | None = None,
        delay: float = 5.0,
        max_delay: float = 300.0,
        jitter: bool | float = False,
    ) -> RetryPolicy:
        """Wait ``delay * n`` seconds after failed attempt ``n``, up to ``max_delay``."""
        return cls(
            kind="linear",
            max_attempts=max_attempts,
            delay=delay,
            max_delay=max_delay,
            jitter=jitter,
        )

    @classmethod
    def fixed(
        cls, delay: float, *, max_attempts: int | None = None, jitter: bool | float = False
    ) -> RetryPolicy:
        """Wait ``delay`` seconds after every failed attempt."""
        return cls(kind="fixed", max_attempts=max_attempts, delay=delay, jitter=jitter)

    @classmethod
    def custom(
        cls, delay_for_attempt: Callable[[int], float], *, max_attempts: int | None = None
    ) -> RetryPolicy:
        """Ask ``delay_for_attempt(n)`` how many seconds to wait after failed attempt ``n``.

        The function must be defined at the top level of a module, because the
        policy is stored by the function's import path. Lambdas, nested
        functions and methods are refused with :class:`InvalidTaskOptions`.
        """
        return cls(kind="custom", max_attempts=max_attempts, delay_for_attempt=delay_for_attempt)

    def delay_for(self, attempt: int, *, random: Random | None = None) -> float:
        """Return the seconds to wait after failed attempt number ``attempt`` (1-based).

        ``random`` draws the jitter (default: a module-level ``Random``); pass a
        seeded one for repeatable delays. The result is never negative. Raises
        :class:`InvalidTaskOptions` if ``attempt`` is not a whole number of at
        least 1, or if a custom function returns something other than a finite
        number of at least 0; what the custom function itself raises propagates.
        """
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise InvalidTaskOptions(
                f"attempt must be a whole number of at least 1, got {attempt!r}"
            )
        if self.kind == "custom":
            return self._custom_delay(attempt)
        return self._add_jitter(self._base_delay(attempt), random or _default_random)

    def _base_delay(self, attempt: int) -> float:
        if self.kind == "fixed":
            return float(self.delay)
        if self.kind == "linear":
            return float(min(self.max_delay, self.delay * attempt))
        try:
            growth = float(self.multiplier) ** (attempt - 1)
        except OverflowError:
            # Past about 1e308 a float runs out; the cap was reached long before.
            return float(self.max_delay) if self.initial_delay else 0.0
        return float(min(self.max_delay, self.initial_delay * growth))

    def _add_jitter(self, delay: float, random: Random) -> float:
        if self.jitter is False:
            return delay
        spread = 1.0 if self.jitter is True else float(self.jitter)
        return max(0.0, random.uniform(delay * (1.0 - spread), delay))

    def _custom_delay(self, attempt: int) -> float:
        func = self._custom_function()
        value = func(attempt)
        if not is_finite_number(value) or value < 0:
            raise InvalidTaskOptions(
                f"delay_for_attempt {function_path(func)} must return a "
                f"finite number of seconds of at least 0, got {value!r} for attempt {attempt}"
            )
        return float(value)

    def _custom_function(self) -> Callable[[int], float]:
        # __post_init__ guarantees a function for kind "custom"; this narrows the type.
        return cast("Callable[[int], float]", self.delay_for_attempt)

    def to_json(self) -> dict[str, JSONValue]:
        """Return the policy as a JSON object: ``"kind"`` and the fields that kind uses."""
        data: dict[str, JSONValue] = {"kind": self.kind}
        for name in _FIELDS_BY_KIND[self.kind]:
            if name == "delay_for_attempt":
                data["path"] = function_path(self._custom_function())
            else:
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RetryPolicy:
        """Rebuild a policy from :meth:`to_json`'s output.

        Keys left out take the defaults of the matching constructor (so
        ``{"kind": "exponential"}`` has jitter). Raises
        :class:`InvalidTaskOptions` naming what is wrong: not a mapping, an
        unknown kind, a missing or unknown key, a bad value, or a custom
        ``"path"`` that does not import.
        """
        if not isinstance(data, Mapping):
            raise InvalidTaskOptions(f"a retry policy must be a dict, got {data!r}")
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in _JSON_KEYS:
            known = ", ".join(sorted(_JSON_KEYS))
            raise InvalidTaskOptions(f"a retry policy's kind must be one of {known}, got {kind!r}")
        keys = set(data) - {"kind"}
        unknown = sorted(map(str, keys - _JSON_KEYS[kind]))
        if unknown:
            raise InvalidTaskOptions(f"a {kind} retry policy has no key {', '.join(unknown)}")
        missing = sorted(_REQUIRED_JSON_KEYS[kind] - keys)
        if missing:
            raise InvalidTaskOptions(f"a {kind} retry policy needs the key {', '.join(missing)}")
        options = {key: value for key, value in data.items() if key != "kind"}
        if kind == "custom":
            return cls.custom(_import_function(options.pop("path")), **options)
        if kind == "fixed":
            return cls.fixed(**options)
        return cls.exponential(**options) if kind == "exponential" else cls.linear(**options)


def delay_after(policy: RetryPolicy | Mapping[str, Any], attempt: int) -> float:
    """Seconds to wait after failed ``attempt``, by ``policy`` or its stored ``to_json()`` form.

    An empty dict means the default policy. A policy that does not work (a
    custom function renamed, raising or returning nonsense) falls back to
    the default policy, logged, so the attempt still ends in a transition.
    This is the one place that fallback is made.
    """
    try:
        if not isinstance(policy, RetryPolicy):
            policy = RetryPolicy.from_json(policy) if policy else DEFAULT_RETRY_POLICY
        return policy.delay_for(attempt)
    except Exception:
        logger.exception(
            "retry policy %r failed; using the default backoff",
            policy,
            extra={"action": "retry_policy_failed"},
        )
        return DEFAULT_RETRY_POLICY.delay_for(attempt)


def coerce_policy(
    value: RetryPolicy | Mapping[str, Any] | None, *, setting: str
) -> RetryPolicy | None:
    """Return ``value`` as a :class:`RetryPolicy` (or ``None``).

    Accepts a policy, a dict in :meth:`RetryPolicy.to_json` form, or ``None``.
    Raises :class:`InvalidTaskOptions` whose message starts with ``setting``
    (e.g. ``"TASKS['default']['OPTIONS']['RETRY_POLICY']"``) for anything else.
    """
    if value is None or isinstance(value, RetryPolicy):
        return value
    if not isinstance(value, Mapping):
        raise InvalidTaskOptions(
            f"{setting} must be a RetryPolicy, a dict such as "
            f"{{'kind': 'exponential', 'max_delay': 60}}, or None, got {value!r}"
        )
    try:
        return RetryPolicy.from_json(value)
    except InvalidTaskOptions as exc:
        raise InvalidTaskOptions(f"{setting}: {exc}") from exc


def is_attempt_count(value: Any) -> bool:
    """True for a whole number from 1 to :data:`MAX_ATTEMPTS_LIMIT` (not a bool)."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ATTEMPTS_LIMIT
    )


def _check_max_attempts(value: Any) -> None:
    if value is not None and not is_attempt_count(value):
        raise InvalidTaskOptions(
            f"max_attempts must be None or a whole number from 1 to {MAX_ATTEMPTS_LIMIT:,}, "
            f"got {value!r}"
        )


def _check_delay(name: str, value: Any) -> None:
    if not is_finite_number(value) or value < 0:
        raise InvalidTaskOptions(f"{name} must be a finite number of at least 0, got {value!r}")


def _check_multiplier(value: Any) -> None:
    if not is_finite_number(value) or value < 1:
        raise InvalidTaskOptions(f"multiplier must be a finite number of at least 1, got {value!r}")


def _check_jitter(value: Any) -> None:
    if isinstance(value, bool):
        return
    # An int is refused on purpose: jitter=1 reads like True but is not a fraction.
    if not isinstance(value, float) or not is_finite_number(value) or not 0 < value <= 1:
        raise InvalidTaskOptions(
            f"jitter must be True, False or a float greater than 0 and at most 1, got {value!r}"
        )


def _check_custom_function(func: Any) -> None:
    if not callable(func):
        raise InvalidTaskOptions(f"delay_for_attempt must be a function, got {func!r}")
    # The policy is stored by import path, so the path must lead back to this very
    # function: that also refuses module-level lambdas and functions in classes.
    if not is_module_level_function(func) or _resolves_to(function_path(func)) is not func:
        raise InvalidTaskOptions(
            f"delay_for_attempt must be a function defined at the top level of a module, "
            f"so that it can be stored by import path, got {func!r}"
        )


def _resolves_to(path: str) -> object:
    try:
        return import_string(path)
    except ImportError:
        return None


def _import_function(path: Any) -> Callable[[int], float]:
    if not isinstance(path, str):
        raise InvalidTaskOptions(f"a custom retry policy's path must be a str, got {path!r}")
    try:
        func: Callable[[int], float] = import_string(path)
    except ImportError as exc:
        raise InvalidTaskOptions(
            f"a custom retry policy's path {path!r} does not import: {exc}"
        ) from exc
    return func


# Built last: the validators they run are defined above.
DEFAULT_RETRY_POLICY = RetryPolicy.exponential(
    initial_delay=1.0, max_delay=300.0, multiplier=2.0, jitter=True
)
RetryPolicy.DEFAULT = DEFAULT_RETRY_POLICY
