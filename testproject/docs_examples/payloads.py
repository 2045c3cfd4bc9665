"""The examples of docs/howto/typed-payloads.md, run by the tests."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from dataclasses import dataclass
from typing import Any

from django_taskflow import task

# -- typed arguments and results -----------------------------------------------


class Plan(enum.StrEnum):
    FREE = "free"
    PRO = "pro"


@dataclass(frozen=True)
class Signup:
    user_id: uuid.UUID
    plan: Plan
    signed_up_at: datetime.datetime
    price: decimal.Decimal


@dataclass(frozen=True)
class Welcome:
    user_id: uuid.UUID
    trial_ends_on: datetime.date


@task
def welcome(signup: Signup) -> Welcome:
    """Gets a Signup, not a dict; returns a Welcome, which the caller gets back."""
    trial_days = 30 if signup.plan is Plan.PRO else 14
    ends_on = signup.signed_up_at.date() + datetime.timedelta(days=trial_days)
    return Welcome(user_id=signup.user_id, trial_ends_on=ends_on)


# -- versioned payloads --------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str


def upgrade_notify(
    args: list[Any], kwargs: dict[str, Any], version: int
) -> tuple[list[Any], dict[str, Any]]:
    """Version 1 was notify(email: str); version 2 takes a Recipient."""
    email = kwargs.pop("email") if "email" in kwargs else args.pop(0)
    return [{"email": email, "name": email.split("@")[0]}], kwargs


@task(version=2, upgrade=upgrade_notify)
def notify(recipient: Recipient) -> str:
    return f"Hello {recipient.name} <{recipient.email}>"
