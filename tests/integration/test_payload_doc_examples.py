"""The examples of docs/howto/typed-payloads.md do what the page says."""

from __future__ import annotations

import datetime
import decimal
import uuid

import pytest

from django_taskflow import models
from django_taskflow.exceptions import PayloadShapeError
from django_taskflow.testing import run_tasks
from testproject.docs_examples import payloads

pytestmark = pytest.mark.django_db(transaction=True)

SIGNED_UP_AT = datetime.datetime(2026, 3, 1, 23, 0, tzinfo=datetime.UTC)


def test_welcome_gets_a_signup_and_gives_back_a_welcome() -> None:
    user_id = uuid.uuid4()
    signup = payloads.Signup(
        user_id=user_id,
        plan=payloads.Plan.PRO,
        signed_up_at=SIGNED_UP_AT,
        price=decimal.Decimal("9.00"),
    )

    result = payloads.welcome.enqueue(signup)
    run_tasks()

    assert models.Task.objects.get(pk=result.id).args == [
        {
            "user_id": str(user_id),
            "plan": "pro",
            "signed_up_at": "2026-03-01T23:00:00+00:00",
            "price": "9.00",
        }
    ]
    assert result.wait(timeout=5).return_value == payloads.Welcome(
        user_id=user_id, trial_ends_on=datetime.date(2026, 3, 31)
    )


def test_welcome_refuses_a_date_as_text_at_enqueue() -> None:
    with pytest.raises(PayloadShapeError) as info:
        payloads.welcome.enqueue(
            {
                "user_id": uuid.uuid4(),
                "plan": "pro",
                "signed_up_at": "2026-03-01",
                "price": decimal.Decimal(9),
            }
        )

    assert str(info.value) == (
        "Arguments of testproject.docs_examples.payloads.welcome do not fit its annotations: "
        "signup['signed_up_at'] is str '2026-03-01', expected datetime."
    )


def test_notify_upgrades_a_version_1_task() -> None:
    old = models.Task.objects.create(
        task_path=payloads.notify.module_path, args=["ada@example.com"]
    )
    new = payloads.notify.enqueue(payloads.Recipient(email="bo@example.com", name="Bo"))

    run_tasks()

    assert models.Task.objects.get(pk=old.pk).result == "Hello ada <ada@example.com>"
    assert new.wait(timeout=5).return_value == "Hello Bo <bo@example.com>"


def test_refund_gets_the_member_of_the_union_it_was_given() -> None:
    card = payloads.refund.enqueue(payloads.Card(last4="4242"), decimal.Decimal("9.90"))
    transfer = payloads.refund.enqueue(payloads.Transfer(iban="DE89 3704"), decimal.Decimal(5))

    run_tasks()

    assert card.wait().return_value == "9.90 back to the card ending 4242"
    assert transfer.wait().return_value == "5 wired to DE89 3704"
