"""``OPTIONS["ALERTS"]``: its rules and where their alerts go, parsed and checked.

Pure: no models, no database. :func:`parse_alerts` turns the setting into
an :class:`AlertSettings` or raises :class:`ValueError` with a message
that names the rule (by position and name) and the field, e.g.
``RULES[1] ('backlog'): FOR must be a duration such as 30d, 12h, 15m, 45s
or 2w, got 'ten minutes'``. ``conf.py`` reports that message as a system
check (``taskflow.E002``) and as ``ConfigurationError`` when the backend
loads, so a bad rule is refused before any worker starts.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django_taskflow.durations import EXAMPLES, parse_duration
from django_taskflow.types import is_finite_number


class When(enum.StrEnum):
    """What a rule watches."""

    QUEUE_DEPTH = "queue_depth"  # ready tasks of QUEUE above ABOVE
    OLDEST_READY = "oldest_ready"  # the oldest ready task has waited over OLDER_THAN
    FAILURE_RATE = "failure_rate"  # over ABOVE % of a task name's tasks failed in WINDOW
    NO_WORKER = "no_worker"  # no live worker (serving QUEUE)
    SCHEDULE_MISSED = "schedule_missed"  # a schedule's last planned run did not fire


# Per kind: the fields it requires, and those it may have. NAME, WHEN and FOR go with every kind.
_FIELDS: dict[When, tuple[frozenset[str], frozenset[str]]] = {
    When.QUEUE_DEPTH: (frozenset({"QUEUE", "ABOVE"}), frozenset()),
    When.OLDEST_READY: (frozenset({"OLDER_THAN"}), frozenset({"QUEUE"})),
    When.FAILURE_RATE: (frozenset({"ABOVE", "WINDOW"}), frozenset({"TASK", "MIN_TASKS"})),
    When.NO_WORKER: (frozenset(), frozenset({"QUEUE"})),
    When.SCHEDULE_MISSED: (frozenset(), frozenset({"SCHEDULE"})),
}
_COMMON = frozenset({"NAME", "WHEN", "FOR"})

DEFAULT_EVERY = timedelta(minutes=1)
DEFAULT_MIN_TASKS = 10
DEFAULT_WEBHOOK_TIMEOUT = 5.0
MAX_WEBHOOK_TIMEOUT = 10.0
NAME_MAX_LENGTH = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One alert rule; the fields a kind does not use keep their defaults."""

    name: str
    when: When
    hold_for: timedelta = timedelta(0)  # FOR: the condition must hold this long to fire
    queue: str | None = None
    above: float = 0
    older_than: timedelta | None = None
    window: timedelta | None = None
    min_tasks: int = DEFAULT_MIN_TASKS
    task_path: str | None = None
    schedule: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Channels:
    """Where alerts go besides the ``alert_changed`` signal, which is always sent."""

    email_admins: bool = False
    email_to: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()
    webhook_timeout: float = DEFAULT_WEBHOOK_TIMEOUT


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSettings:
    """``OPTIONS["ALERTS"]``, parsed."""

    rules: tuple[Rule, ...] = ()
    channels: Channels = field(default_factory=Channels)
    every: timedelta = DEFAULT_EVERY  # EVERY: how often one worker evaluates the rules

    def rule(self, name: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.name == name), None)


def _duration(where: str, key: str, value: Any) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(
            f"{where}{key} must be a duration such as {EXAMPLES}, got {value!r}"
        ) from None


def _text(where: str, key: str, value: Any, max_length: int = 255) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise ValueError(
            f"{where}{key} must be a non-empty text of at most {max_length} characters, "
            f"got {value!r}"
        )
    return value


def _whole(where: str, key: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{where}{key} must be a whole number of at least {least}, got {value!r}")
    return value


def _percent(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not is_finite_number(value) or not 0 <= value < 100:
        raise ValueError(
            f"{where}{key} must be a percentage from 0 up to (not including) 100, got {value!r}"
        )
    return float(value)


def parse_rule(position: int, raw: Any) -> Rule:
    """Parse ``RULES[position]``; ValueError naming the rule and the field otherwise."""
    where = f"RULES[{position}]: "
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}a rule must be a dict with NAME and WHEN, got {raw!r}")
    if "NAME" not in raw:
        raise ValueError(f"{where}NAME is missing: every rule needs a unique name")
    name = _text(where, "NAME", raw["NAME"], NAME_MAX_LENGTH)
    where = f"RULES[{position}] ({name!r}): "
    kinds = ", ".join(When)
    if raw.get("WHEN") not in set(When):
        raise ValueError(f"{where}WHEN must be one of {kinds}, got {raw.get('WHEN')!r}")
    when = When(raw["WHEN"])
    required, optional = _FIELDS[when]
    missing = sorted(required - raw.keys())
    if missing:
        raise ValueError(f"{where}{when} needs {', '.join(missing)}")
    allowed = required | optional | _COMMON
    unknown = sorted(str(key) for key in raw.keys() - allowed)
    if unknown:
        raise ValueError(
            f"{where}{', '.join(unknown)} is not a field of {when} rules "
            f"(its fields: {', '.join(sorted(allowed))})"
        )
    values: dict[str, Any] = {"name": name, "when": when}
    if "FOR" in raw:
        values["hold_for"] = _duration(where, "FOR", raw["FOR"])
    if "QUEUE" in raw:
        values["queue"] = _text(where, "QUEUE", raw["QUEUE"])
    if "OLDER_THAN" in raw:
        values["older_than"] = _duration(where, "OLDER_THAN", raw["OLDER_THAN"])
    if "WINDOW" in raw:
        values["window"] = _duration(where, "WINDOW", raw["WINDOW"])
    if "MIN_TASKS" in raw:
        values["min_tasks"] = _whole(where, "MIN_TASKS", raw["MIN_TASKS"], 1)
    if "TASK" in raw:
        values["task_path"] = _text(where, "TASK", raw["TASK"])
    if "SCHEDULE" in raw:
        values["schedule"] = _text(where, "SCHEDULE", raw["SCHEDULE"], 200)
    if "ABOVE" in raw:
        if when == When.QUEUE_DEPTH:
            values["above"] = _whole(where, "ABOVE", raw["ABOVE"], 0)
        else:
            values["above"] = _percent(where, "ABOVE", raw["ABOVE"])
    return Rule(**values)


def _webhook(value: Any) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"NOTIFY: WEBHOOK must be an http:// or https:// URL, got {value!r}")
    return str(value)


def parse_channels(raw: Any) -> Channels:
    """Parse ``NOTIFY``; ValueError naming the field otherwise."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"NOTIFY must be a dict with EMAIL and/or WEBHOOK, got {raw!r}")
    unknown = sorted(str(key) for key in raw.keys() - {"EMAIL", "WEBHOOK", "WEBHOOK_TIMEOUT"})
    if unknown:
        raise ValueError(
            f"NOTIFY: {', '.join(unknown)} is not a channel (known: EMAIL, WEBHOOK, "
            "WEBHOOK_TIMEOUT)"
        )
    values: dict[str, Any] = {}
    email = raw.get("EMAIL")
    if email == "admins":
        values["email_admins"] = True
    elif email is not None:
        if (
            isinstance(email, str)
            or not isinstance(email, list | tuple)
            or not email
            or not all(isinstance(address, str) and "@" in address for address in email)
        ):
            raise ValueError(
                f'NOTIFY: EMAIL must be "admins" (mail_admins) or a list of addresses, '
                f"got {email!r}"
            )
        values["email_to"] = tuple(email)
    webhooks = raw.get("WEBHOOK")
    if webhooks is not None:
        urls = [webhooks] if isinstance(webhooks, str) else webhooks
        if not isinstance(urls, list | tuple) or not urls:
            raise ValueError(f"NOTIFY: WEBHOOK must be a URL or a list of URLs, got {webhooks!r}")
        values["webhooks"] = tuple(_webhook(url) for url in urls)
    if "WEBHOOK_TIMEOUT" in raw:
        timeout = raw["WEBHOOK_TIMEOUT"]
        if (
            isinstance(timeout, bool)
            or not is_finite_number(timeout)
            or not 0 < timeout <= MAX_WEBHOOK_TIMEOUT
        ):
            raise ValueError(
                f"NOTIFY: WEBHOOK_TIMEOUT must be a number of seconds above 0 and at most "
                f"{MAX_WEBHOOK_TIMEOUT:g}, got {timeout!r}"
            )
        values["webhook_timeout"] = float(timeout)
    return Channels(**values)


def parse_alerts(raw: Any) -> AlertSettings:
    """Parse ``OPTIONS["ALERTS"]``; ValueError naming the rule or field that is wrong."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"ALERTS must be a dict with RULES (and NOTIFY, EVERY), got {raw!r}")
    unknown = sorted(str(key) for key in raw.keys() - {"RULES", "NOTIFY", "EVERY"})
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)} is not a key of ALERTS (known: EVERY, NOTIFY, RULES)"
        )
    rules_raw = raw.get("RULES")
    if not isinstance(rules_raw, list | tuple) or not rules_raw:
        raise ValueError(f"RULES must be a non-empty list of rules, got {rules_raw!r}")
    rules = tuple(parse_rule(position, rule) for position, rule in enumerate(rules_raw))
    seen: set[str] = set()
    for position, rule in enumerate(rules):
        if rule.name in seen:
            raise ValueError(
                f"RULES[{position}] ({rule.name!r}): NAME must be unique; an earlier rule has it"
            )
        seen.add(rule.name)
    every = _duration("", "EVERY", raw["EVERY"]) if "EVERY" in raw else DEFAULT_EVERY
    channels = parse_channels(raw["NOTIFY"]) if "NOTIFY" in raw else Channels()
    return AlertSettings(rules=rules, channels=channels, every=every)
