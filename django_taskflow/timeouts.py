"""Timeouts: how long to let an attempt run (soft and hard limits).

Pure: no database access. A frozen value object, checked when it is built
and stored as JSON (``to_json`` / ``from_json``), so a bad value is refused
where it was given, not later in a worker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django_taskflow.exceptions import InvalidTaskOptions
from django_taskflow.types import JSONValue, is_finite_number


class _DefaultLimit(float):
    """A limit left out of ``Timeout(...)``; replaced by one derived from the other limit."""


_SOFT_DEFAULT = _DefaultLimit(300.0)
_HARD_DEFAULT = _DefaultLimit(600.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeout:
    """How long an attempt may run.

    After ``soft`` seconds ``on_soft_timeout`` is called once with the task's
    context and an event is recorded; after ``hard`` seconds the work is
    stopped. Either may be ``None`` (no limit) but not both. A limit left
    out is derived from the other one, so that it never contradicts it:
    ``soft`` defaults to half of ``hard``, at most 300 s, and ``hard`` to
    twice ``soft``, at least 600 s (``Timeout(hard=60)`` is 30 s / 60 s;
    ``Timeout()`` is 300 s / 600 s). Presets: ``Timeout.QUICK`` (10 s /
    30 s), ``Timeout.MODERATE`` (300 s / 600 s) and ``Timeout.EXTENDED``
    (1 h / 2 h).

    Raises :class:`InvalidTaskOptions` (a ``ValueError``) naming the option and
    the value for any argument that cannot be used.
    """

    soft: float | None = _SOFT_DEFAULT
    hard: float | None = _HARD_DEFAULT
    on_soft_timeout: Callable[[Any], None] | None = None

    QUICK: ClassVar[Timeout]
    MODERATE: ClassVar[Timeout]
    EXTENDED: ClassVar[Timeout]

    def __post_init__(self) -> None:
        for name in ("soft", "hard"):
            value = getattr(self, name)
            if value is not None and (not is_finite_number(value) or value <= 0):
                raise InvalidTaskOptions(
                    f"{name} must be None or a finite number of seconds greater than 0, got {value!r}"
                )
        self._derive_left_out_limit()
        if self.soft is None and self.hard is None:
            raise InvalidTaskOptions("a Timeout needs soft, hard or both; got neither")
        if self.soft is not None and self.hard is not None and self.soft >= self.hard:
            raise InvalidTaskOptions(
                f"soft timeout ({self.soft!r} s) must be shorter than the hard timeout "
                f"({self.hard!r} s): give both, e.g. Timeout(soft={self.hard / 2:g}, "
                f"hard={self.hard:g}), or soft=None for no soft limit"
            )
        if self.on_soft_timeout is not None and not callable(self.on_soft_timeout):
            raise InvalidTaskOptions(
                f"on_soft_timeout must be None or a function, got {self.on_soft_timeout!r}"
            )

    def _derive_left_out_limit(self) -> None:
        soft_left_out = self.soft is _SOFT_DEFAULT
        hard_left_out = self.hard is _HARD_DEFAULT
        soft, hard = self.soft, self.hard
        if soft_left_out:
            soft = 300.0 if hard_left_out or hard is None else min(300.0, hard / 2)
        if hard_left_out:
            hard = 600.0 if soft_left_out or soft is None else max(600.0, min(soft * 2, 1e300))
        # Still inside construction: the one place a Timeout's fields are set
        # after the generated __init__, because a default that depends on the
        # other argument cannot be written as a field default.
        object.__setattr__(self, "soft", soft)
        object.__setattr__(self, "hard", hard)

    def to_json(self) -> dict[str, JSONValue]:
        """Return ``{"soft": ..., "hard": ...}``; the callback stays on the task definition."""
        return {"soft": self.soft, "hard": self.hard}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Timeout:
        """Rebuild a timeout from :meth:`to_json`'s output (a missing key takes its default).

        Raises :class:`InvalidTaskOptions` for a value that is not a mapping,
        an unknown key, or a bad value.
        """
        if not isinstance(data, Mapping):
            raise InvalidTaskOptions(f"a timeout must be a dict, got {data!r}")
        unknown = sorted(map(str, set(data) - {"soft", "hard"}))
        if unknown:
            raise InvalidTaskOptions(f"a timeout has no key {', '.join(unknown)}")
        return cls(**data)


QUICK = Timeout(soft=10, hard=30)
MODERATE = Timeout(soft=300, hard=600)
EXTENDED = Timeout(soft=3600, hard=7200)
Timeout.QUICK = QUICK
Timeout.MODERATE = MODERATE
Timeout.EXTENDED = EXTENDED
