"""The examples of docs/howto/typed-payloads.md, run by the tests."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from dataclasses import dataclass
from typing import Any, Literal

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


# -- unions of typed members ---------------------------------------------------


@dataclass(frozen=True)
class Card:
    last4: str
    kind: Literal["card"] = "card"


@dataclass(frozen=True)
class Transfer:
    iban: str
    kind: Literal["transfer"] = "transfer"


@task
def refund(method: Card | Transfer, amount: decimal.Decimal | None = None) -> str:
    match method:
        case Card(last4=last4):
            return f"{amount} back to the card ending {last4}"
        case Transfer(iban=iban):
            return f"{amount} wired to {iban}"
