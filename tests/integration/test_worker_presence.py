"""The worker's own row (worker/presence.py) and the questions other parts ask of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import OperationalError, connections
from django.test import Client
from django.urls import reverse

from django_taskflow import models, worker_status
from django_taskflow.worker import presence
from django_taskflow.worker.presence import GONE_AFTER_HEARTBEATS, Identity, Presence, SlotInfo

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
HEARTBEAT = 10.0


class Clocks:
    """A wall clock and a monotonic clock that tests move together."""

    def __init__(self) -> None:
        self.wall = T0
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


def identity(pid: int = 100, **changes: object) -> Identity:
    values: dict[str, object] = {
        "worker_id": f"web-1:{pid}",
        "host": "web-1.example.com",
        "pid": pid,
        "name": "web-1",
        "backend": "default",
        "pool": "process",
        "queues": ("default", "emails"),
        "capabilities": frozenset({"gpu", "eu"}),
        "concurrency": 2,
        **changes,
    }
    return Identity(**values)  # type: ignore[arg-type]


def keeper(clocks: Clocks, pid: int = 100) -> Presence:
    return Presence(
        identity(pid),
        database="default",
        heartbeat_seconds=HEARTBEAT,
        clock=lambda: clocks.mono,
        now=lambda: clocks.wall,
    )


SLOTS = [SlotInfo(0, 201, "web-1:201"), SlotInfo(1, 202, "web-1:202")]


def test_the_first_write_records_the_worker_and_its_slots() -> None:
    clocks = Clocks()
    assert keeper(clocks).run_if_due(SLOTS, lambda: ["t-1"])

    row = models.WorkerProcess.objects.get()
    assert (row.worker_id, row.host, row.pid, row.pool, row.concurrency) == (
        "web-1:100",
        "web-1.example.com",
        100,
        "process",
        2,
    )
    assert row.queues == ["default", "emails"]
    assert row.capabilities == ["eu", "gpu"]
    assert row.running_task_ids == ["t-1"]
    assert row.started_at == row.last_heartbeat == T0
    assert row.alive_until == T0 + timedelta(seconds=GONE_AFTER_HEARTBEATS * HEARTBEAT)
    assert sorted(row.slots.values_list("worker_id", "index", "pid")) == [
        ("web-1:201", 0, 201),
        ("web-1:202", 1, 202),
    ]


def test_heartbeats_come_once_per_interval_and_refresh_the_running_tasks() -> None:
    clocks = Clocks()
    duty = keeper(clocks)
    duty.run_if_due(SLOTS, lambda: ["t-1"])
    clocks.advance(HEARTBEAT / 2)
    assert not duty.run_if_due(SLOTS, lambda: ["t-2"])  # not due yet
    clocks.advance(HEARTBEAT / 2)
    assert duty.run_if_due(SLOTS, lambda: ["t-2", "t-3"])

    row = models.WorkerProcess.objects.get()
    assert row.running_task_ids == ["t-2", "t-3"]
    assert row.last_heartbeat == T0 + timedelta(seconds=HEARTBEAT)
    assert row.started_at == T0


def test_a_replaced_slot_is_written_at_once_and_its_old_id_no_longer_leads_anywhere() -> None:
    clocks = Clocks()
    duty = keeper(clocks)
    duty.run_if_due(SLOTS, list)
    clocks.advance(1)
    replaced = [SLOTS[0], SlotInfo(1, 303, "web-1:303")]
    assert duty.run_if_due(replaced, list)  # before the next heartbeat is due

    assert worker_status.worker_for("web-1:303") == models.WorkerProcess.objects.get()
    assert worker_status.worker_for("web-1:202") is None
    assert not worker_status.is_alive("web-1:202", now=clocks.wall)
    assert worker_status.is_alive("web-1:303", now=clocks.wall)


def test_a_worker_reads_as_gone_once_its_heartbeat_lapses() -> None:
    clocks = Clocks()
    keeper(clocks).run_if_due(SLOTS, list)
    lapse = GONE_AFTER_HEARTBEATS * HEARTBEAT

    just_before = T0 + timedelta(seconds=lapse - 1)
    assert worker_status.is_alive("web-1:201", now=just_before)
    assert worker_status.is_alive("web-1:100", now=just_before)  # the supervisor's own id
    assert [w.worker_id for w in worker_status.workers_alive(now=just_before)] == ["web-1:100"]

    after = T0 + timedelta(seconds=lapse)
    assert not worker_status.is_alive("web-1:201", now=after)
    assert list(worker_status.workers_alive(now=after)) == []
    assert [w.worker_id for w in worker_status.gone_workers(now=after)] == ["web-1:100"]
    assert list(worker_status.alive_slot_ids(now=after)) == []
    # Gone, not forgotten: the task's worker id still leads to the row.
    assert worker_status.worker_for("web-1:201") is not None


def test_alive_slot_ids_select_the_running_tasks_no_live_worker_holds() -> None:
    clocks = Clocks()
    keeper(clocks).run_if_due(SLOTS, list)
    held = models.Task.objects.create(
        task_path="tests.tasks.noop", status="running", worker_id="web-1:201"
    )
    orphan = models.Task.objects.create(
        task_path="tests.tasks.noop", status="running", worker_id="web-9:1"
    )
    unheld = models.Task.objects.filter(status="running").exclude(
        worker_id__in=worker_status.alive_slot_ids(now=clocks.wall)
    )
    assert list(unheld.values_list("pk", flat=True)) == [orphan.pk]
    assert held.pk != orphan.pk


def test_by_the_database_clock_a_fresh_heartbeat_reads_as_alive() -> None:
    duty = Presence(identity(), database="default", heartbeat_seconds=HEARTBEAT)
    assert duty.run_if_due(SLOTS, list)
    assert worker_status.is_alive("web-1:201")
    assert [w.worker_id for w in worker_status.workers_alive()] == ["web-1:100"]
    assert list(worker_status.gone_workers()) == []
    row = models.WorkerProcess.objects.get()
    lapse = (row.alive_until - row.last_heartbeat).total_seconds()
    assert lapse == pytest.approx(GONE_AFTER_HEARTBEATS * HEARTBEAT, abs=0.01)


def test_a_clean_stop_removes_the_row_and_its_slots() -> None:
    clocks = Clocks()
    duty = keeper(clocks)
    duty.run_if_due(SLOTS, list)
    duty.remove()
    assert not models.WorkerProcess.objects.exists()
    assert not models.WorkerSlot.objects.exists()


def test_a_new_worker_with_a_reused_pid_replaces_the_gone_workers_rows() -> None:
    clocks = Clocks()
    keeper(clocks).run_if_due(SLOTS, list)  # then killed: its rows stay
    clocks.advance(3600)
    keeper(clocks).run_if_due([SlotInfo(0, 201, "web-1:201")], list)

    row = models.WorkerProcess.objects.get()
    assert row.started_at == clocks.wall
    assert list(row.slots.values_list("worker_id", flat=True)) == ["web-1:201"]


def test_a_row_swept_away_meanwhile_is_written_again() -> None:
    clocks = Clocks()
    duty = keeper(clocks)
    duty.run_if_due(SLOTS, list)
    models.WorkerProcess.objects.all().delete()
    clocks.advance(HEARTBEAT)
    duty.run_if_due(SLOTS, list)
    assert models.WorkerProcess.objects.get().slots.count() == 2


def test_rows_gone_for_a_day_are_swept_by_a_live_worker() -> None:
    clocks = Clocks()
    keeper(clocks, pid=1).run_if_due([], list)  # killed
    clocks.advance(presence.GONE_ROWS_KEPT.total_seconds() + 3600)
    keeper(clocks, pid=2).run_if_due([], list)
    assert list(models.WorkerProcess.objects.values_list("pid", flat=True)) == [2]


def test_a_lost_connection_is_retried_after_a_pause_and_never_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clocks = Clocks()
    duty = keeper(clocks)
    calls: list[int] = []

    def broken(*args: object) -> None:
        calls.append(1)
        raise OperationalError("server closed the connection unexpectedly")

    with monkeypatch.context() as patch:
        patch.setattr(duty, "_write", broken)
        # Closing it would end the test's transaction; a worker's is its own.
        patch.setattr(connections["default"], "close", lambda: None)
        assert not duty.run_if_due(SLOTS, list)
        assert not duty.run_if_due(SLOTS, list)  # pausing: not tried again at once
        assert len(calls) == 1
    clocks.advance(presence.RECONNECT_MAX_SECONDS)
    assert duty.run_if_due(SLOTS, list)
    assert models.WorkerProcess.objects.get().slots.count() == 2


# -- admin -------------------------------------------------------------------

LIST_URL = reverse("admin:django_taskflow_workerprocess_changelist")


def staff_with(*codenames: str) -> Client:
    user = User.objects.create_user("operator", password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_lists_workers_alive_and_gone_to_a_user_with_view_permission() -> None:
    clocks = Clocks()
    clocks.wall = datetime.now(UTC) - timedelta(hours=1)
    keeper(clocks, pid=1).run_if_due([SlotInfo(0, 11, "web-1:11")], lambda: [])
    clocks.wall = datetime.now(UTC)
    task = models.Task.objects.create(task_path="tests.tasks.noop", status="running")
    keeper(clocks, pid=2).run_if_due([SlotInfo(0, 21, "web-1:21")], lambda: [str(task.pk)])

    client = staff_with("view_workerprocess")
    page = client.get(LIST_URL).content.decode()
    assert "web-1:1<" in page and "web-1:2<" in page
    assert page.count(">alive<") == 1 and page.count(">gone<") == 1
    assert "web-1:21 (pid 21)" in page
    assert reverse("admin:django_taskflow_task_change", args=[task.pk]) in page
    assert "eu, gpu" in page and "default, emails" in page

    alive_only = client.get(LIST_URL, {"alive": "yes"}).content.decode()
    assert "web-1:2<" in alive_only and "web-1:1<" not in alive_only
    gone_only = client.get(LIST_URL, {"alive": "no"}).content.decode()
    assert "web-1:1<" in gone_only and "web-1:2<" not in gone_only
    row = models.WorkerProcess.objects.get(pid=2)
    detail = client.get(reverse("admin:django_taskflow_workerprocess_change", args=[row.pk]))
    assert detail.status_code == 200 and b'name="_save"' not in detail.content


def test_the_admin_offers_no_add_change_or_delete_even_to_a_superuser() -> None:
    clocks = Clocks()
    keeper(clocks).run_if_due(SLOTS, list)
    row = models.WorkerProcess.objects.get()
    client = Client()
    client.force_login(User.objects.create_superuser("admin", password=None))
    assert client.get(reverse("admin:django_taskflow_workerprocess_add")).status_code == 403
    delete_url = reverse("admin:django_taskflow_workerprocess_delete", args=[row.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert models.WorkerProcess.objects.filter(pk=row.pk).exists()


def test_staff_without_view_permission_cannot_see_workers() -> None:
    assert staff_with().get(LIST_URL).status_code == 403


def test_a_fault_in_the_heartbeat_code_drains_the_worker_and_fails_its_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django_taskflow.worker import Worker, WorkerOptions

    worker = Worker(WorkerOptions(pool="thread", scheduler=False))

    calls: list[int] = []

    def bug(*args: object) -> bool:
        calls.append(1)
        raise RuntimeError("a bug in the heartbeat")

    monkeypatch.setattr(worker.presence, "run_if_due", bug)
    worker._keep_presence(list, list)
    assert worker.failed_duty and worker.state.requested_at is not None
    worker._keep_presence(list, list)
    assert len(calls) == 1  # not tried again
