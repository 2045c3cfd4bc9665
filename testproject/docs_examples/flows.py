"""Examples quoted by docs/howto/flows.md (run by tests/integration/test_flow_doc_examples.py)."""

from __future__ import annotations

from datetime import timedelta

from django_taskflow import (
    FlowResult,
    TaskContext,
    batch,
    chain,
    chord,
    group,
    on_flow_complete,
    task,
)

LEDGER: list[str] = []
FINISHED: list[str] = []


@task
def validate_payment(amount: int) -> int:
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    return amount


@task
def process_payment(amount: int) -> str:
    return f"paid {amount}"


@task
def send_receipt(payment: str) -> str:
    return f"receipt for {payment}"


@task
def update_ledger(payment: str) -> str:
    LEDGER.append(payment)
    return f"ledger: {payment}"


@task
def cleanup(outcomes: list[str]) -> int:
    return len(outcomes)


@task
def report_failure(previous: dict[str, object]) -> None:
    # A callback whose function names `previous` gets {"error": ...}.
    LEDGER.append(f"failed: {previous['error']}")


def pay(amount: int) -> FlowResult:
    flow = chain(
        validate_payment.s(amount),  # .s(): a step with bound arguments
        process_payment.s(),  # receives the previous step's result
        group(send_receipt.s(), update_ledger.s()),
        cleanup.s(),  # receives [receipt, ledger]
        on_error=report_failure.s(),
    )
    return flow.enqueue(tags=["payments"], deadline=timedelta(minutes=10))


@task
def resize(image: str, width: int) -> str:
    return f"{image}@{width}"


@task
def publish_album(title: str, previous: list[str]) -> str:
    # `previous` by name: the chord's results arrive there, in order.
    return f"{title}: {', '.join(previous)}"


def publish(images: list[str]) -> FlowResult:
    return chord(
        [resize.s(image, 800) for image in images], callback=publish_album.s("Holidays")
    ).enqueue()


@task
def send_email(to: str) -> str:
    if not to.endswith(".example"):
        raise ValueError(f"refusing to mail {to}")
    return f"sent to {to}"


@task
def report(previous: list[dict[str, object]]) -> None:
    sent = sum(outcome["status"] == "succeeded" for outcome in previous)
    LEDGER.append(f"{sent} of {len(previous)} sent")


def mail_everyone(addresses: list[str]) -> FlowResult:
    return batch(
        send_email,
        [{"to": address} for address in addresses],
        on_complete=report.s(),
        on_failure=report.s(),
        concurrency=10,
    )


@task(takes_context=True)
def import_feed(context: TaskContext, urls: list[str]) -> int:
    for url in urls:
        # Created only if this attempt succeeds, with its outcome.
        context.spawn(fetch.s(url))
    return len(urls)


@task
def fetch(url: str) -> str:
    return f"fetched {url}"


@on_flow_complete
def remember(flow: object) -> None:
    FINISHED.append(f"{flow.kind} {flow.status}")  # type: ignore[attr-defined]
