"""PostgreSQL: a worker's slots share their supervisor's one ``LISTEN`` connection."""

from __future__ import annotations

import pytest
from django.db import connection

from tests import tasks
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes

# Far longer than any wake-up may take: only a notification explains a start
# within WAKE_BOUND_SECONDS.
POLL_INTERVAL_SECONDS = 30
WAKE_BOUND_SECONDS = 2.0


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")


def listen_backends() -> list[int]:
    """Server pids of the connections on the test database that LISTEN."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query ILIKE 'LISTEN %%' AND pid <> pg_backend_pid()"
        )
        return sorted(row[0] for row in cursor.fetchall())


def seconds_to_start(rounds: int = 3) -> list[float]:
    """Enqueue one task at a time to an idle worker; time each from enqueue to start."""
    delays = []
    for i in range(rounds):
        result = tasks.add.enqueue(i, 1)
        result.wait(timeout=POLL_INTERVAL_SECONDS * 2)
        assert result.return_value == i + 1
        assert result.started_at is not None and result.enqueued_at is not None
        delays.append((result.started_at - result.enqueued_at).total_seconds())
    return delays


def test_four_slots_hold_one_listen_connection_and_are_woken_through_it(
    workers: WorkerProcesses,
) -> None:
    process = workers.start("--concurrency", "4", poll_interval=POLL_INTERVAL_SECONDS)
    wait_for(listen_backends)

    delays = seconds_to_start()

    assert max(delays) < WAKE_BOUND_SECONDS, delays
    # Every slot has waited by now; before, each held a LISTEN connection of its own.
    assert len(listen_backends()) == 1
    assert process.poll() is None


def test_the_supervisor_listens_again_after_its_connection_is_killed(
    workers: WorkerProcesses,
) -> None:
    process = workers.start("--concurrency", "2", poll_interval=POLL_INTERVAL_SECONDS)
    [killed] = wait_for(listen_backends)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [killed])

    [restored] = wait_for(lambda: [pid for pid in listen_backends() if pid != killed])
    delays = seconds_to_start()

    assert max(delays) < WAKE_BOUND_SECONDS, delays
    assert restored != killed
    log = workers.log(process)
    assert "LISTEN connection failed" in log
    assert "LISTEN connection restored" in log
