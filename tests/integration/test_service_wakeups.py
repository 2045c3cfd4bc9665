"""On PostgreSQL, starting, sending to and stopping a service notify the service hosts."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from django_taskflow import services
from django_taskflow.db import dialect_for
from tests import services as test_services

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="SQLite has no notifications: runners poll"
    ),
]

# Generous: the notification is already there when the write returns.
WAIT_SECONDS = 10.0


def test_start_send_and_stop_notify_the_hosts_once_committed() -> None:
    waiter = dialect_for("default").service_waiter("default", threading.Event())
    try:
        assert waiter.received(0.01) == []  # connects and listens
        assert waiter.listening
        services.start("ride-42", test_services.Echo)
        assert waiter.received(WAIT_SECONDS) == [""]  # a host with room claims it
        services.send("ride-42", {"n": 1})
        assert waiter.received(WAIT_SECONDS) == ["ride-42"]  # its owner wakes its runner
        services.stop("ride-42")
        assert waiter.received(WAIT_SECONDS) == ["ride-42"]
        services.stop("ride-42")  # already stopping: nothing to wake
        assert waiter.received(0.5) == []
    finally:
        waiter.close()
