"""The SQLite waiter: sees a commit by the files changing, checks often only while busy."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from django_taskflow.db import sqlite
from tests import tasks

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite waiter"),
]


def test_a_commit_wakes_the_waiter() -> None:
    waiter = sqlite.Waiter("default", threading.Event())
    tasks.add.enqueue(1, 2)
    assert waiter.wait(timeout=10) is True


def test_nothing_committed_means_no_wake_up() -> None:
    waiter = sqlite.Waiter("default", threading.Event())
    assert waiter.wait(timeout=0.05) is False


def test_checks_come_every_millisecond_for_a_second_after_a_change() -> None:
    waiter = sqlite.Waiter("default", threading.Event())
    tasks.add.enqueue(1, 2)
    assert waiter.wait(timeout=10) is True
    changed_at = waiter.changed_at

    assert waiter.check_interval(changed_at + 0.5) == 0.001
    # Left idle, a worker checks less often, to cost less CPU.
    assert waiter.check_interval(changed_at + 1.5) == 0.005
