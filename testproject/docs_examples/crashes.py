"""Work that must not run twice: the example of docs/howto/workers.md."""

from __future__ import annotations

from django_taskflow import task

CHARGES: list[tuple[str, int]] = []  # stand-in for a payment provider's ledger


def charge(card_token: str, cents: int) -> None:
    """Stand-in for a call that moves money: a second call charges twice."""
    CHARGES.append((card_token, cents))


@task(on_lost="fail", queue_name="default")
def charge_card(card_token: str, cents: int) -> str:
    # If its worker dies mid-run, this task fails with WorkerLost instead of
    # running again: someone checks with the provider before retrying by hand.
    charge(card_token, cents)
    return f"charged {cents} to {card_token}"
