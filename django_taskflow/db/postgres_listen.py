"""PostgreSQL's wake-ups: the NOTIFY trigger, the notices we send, and ``LISTEN``.

An INSERT into the task table notifies ``CHANNEL`` (one trigger per
statement); a cancel request for a running task notifies ``CANCEL_CHANNEL``
with "<worker id> <task id>". An idle slot waits on its own ``LISTEN``
connection (``Waiter``) or, in a process pool, on its supervisor's shared
one (``worker/wakeup.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from django.db import connections

# The dialect's logger, as before the wake-ups had a module of their own.
logger = logging.getLogger("django_taskflow.db.postgres")

CHANNEL = "taskflow"


def install_notify_trigger(task_table: str) -> list[str]:
    """SQL that makes every INSERT into the task table NOTIFY the workers."""
    return [
        f"""CREATE OR REPLACE FUNCTION taskflow_notify() RETURNS trigger AS $$
        BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END;
        $$ LANGUAGE plpgsql""",
        f"""CREATE TRIGGER taskflow_task_notify AFTER INSERT ON {task_table}
        FOR EACH STATEMENT EXECUTE FUNCTION taskflow_notify()""",
    ]


def remove_notify_trigger(task_table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS taskflow_task_notify ON {task_table}",
        "DROP FUNCTION IF EXISTS taskflow_notify()",
    ]


# Live progress: web processes relaying the event log wait on this channel.
EVENT_CHANNEL = "taskflow_event"


def install_event_notify_trigger(
    event_table: str, trigger: str = "taskflow_event_notify"
) -> list[str]:
    """SQL that makes every statement inserting events NOTIFY the live relays.

    Once per statement, however many rows (the recorder writes a batch in
    one), and delivered at commit, so a relay never reads ahead of the rows.
    The services' event log gets a trigger of its own calling the same function.
    """
    return [
        f"""CREATE OR REPLACE FUNCTION taskflow_event_notify() RETURNS trigger AS $$
        BEGIN PERFORM pg_notify('{EVENT_CHANNEL}', ''); RETURN NULL; END;
        $$ LANGUAGE plpgsql""",
        f"""CREATE TRIGGER {trigger} AFTER INSERT ON {event_table}
        FOR EACH STATEMENT EXECUTE FUNCTION taskflow_event_notify()""",
    ]


def remove_event_notify_trigger(event_table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS taskflow_event_notify ON {event_table}",
        "DROP FUNCTION IF EXISTS taskflow_event_notify()",
    ]


SERVICE_EVENT_TRIGGER = "taskflow_service_event_notify"


def install_service_event_notify_trigger(service_event_table: str) -> list[str]:
    """SQL that makes inserting service events NOTIFY the live relays, as task events do."""
    return install_event_notify_trigger(service_event_table, SERVICE_EVENT_TRIGGER)


def remove_service_event_notify_trigger(service_event_table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {SERVICE_EVENT_TRIGGER} ON {service_event_table}"]


def notify(cursor: Any) -> None:
    """Wake waiting workers (sent when the transaction commits)."""
    cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


# Cancel requests for running tasks: the payload is "<worker id> <task id>".
CANCEL_CHANNEL = "taskflow_cancel"


def notify_cancel(cursor: Any, requests: Sequence[tuple[str, str]]) -> None:
    """Tell the workers holding these (worker id, task id) pairs to stop the tasks.

    Sent when the transaction commits; the supervisor of each worker id
    passes it on to that slot (``worker/wakeup.py``).
    """
    if requests:
        cursor.execute(
            "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload",
            [CANCEL_CHANNEL, [f"{worker_id} {task_id}" for worker_id, task_id in requests]],
        )


# Services: "<name>" after a message is sent to it or it is asked to stop,
# "" after one is started (a host with room may take it).
SERVICE_CHANNEL = "taskflow_service"


def notify_service(cursor: Any, name: str) -> None:
    """Wake the host owning service ``name`` (``""``: any host with room), at commit."""
    cursor.execute("SELECT pg_notify(%s, %s)", [SERVICE_CHANNEL, name])


class Waiter:
    """Sleeps until a NOTIFY arrives, the timeout passes or ``stop`` is set.

    Uses its own connection. If that connection breaks, it falls back to
    polling and reconnects on the next wait, logging both; ``listening``
    says whether it has a connection now.
    """

    def __init__(
        self, database: str, stop: threading.Event, channels: Sequence[str] = (CHANNEL,)
    ) -> None:
        self.database = database
        self.stop = stop
        self.channels = channels
        self.connection: Any = None

    def _connect(self) -> Any:
        return connect_listener(self.database, self.channels)

    @property
    def listening(self) -> bool:
        return self.connection is not None

    def wait(self, timeout: float) -> bool:
        """Return True when woken by a notification."""
        return bool(self.received(timeout))

    def received(self, timeout: float) -> list[str]:
        """Wait as ``wait`` does; return the payloads of the notifications that woke it."""
        import psycopg

        try:
            if self.connection is None:
                self.connection = self._connect()
                logger.debug("listening for %s notifications", ", ".join(self.channels))
            # Short slices so that a stop request is seen promptly.
            remaining = timeout
            while remaining > 0 and not self.stop.is_set():
                step = min(remaining, 0.25)
                found = list(self.connection.notifies(timeout=step, stop_after=1))
                if found:
                    found += self.connection.notifies(timeout=0)  # those already here
                    return [notification.payload for notification in found]
                remaining -= step
            return []
        except psycopg.Error as exc:
            logger.warning(
                "LISTEN connection failed (%s); polling until it reconnects",
                exc,
                extra={"action": "listener_failed"},
            )
            self.close()
            self.stop.wait(timeout)
            return []

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None


def event_waiter(database: str, stop: threading.Event) -> Waiter:
    """A waiter woken when events are committed (the live relay's)."""
    return Waiter(database, stop, channels=(EVENT_CHANNEL,))


def service_waiter(database: str, stop: threading.Event) -> Waiter:
    """A waiter woken by ``notify_service`` (a service host's); its payloads name services."""
    return Waiter(database, stop, channels=(SERVICE_CHANNEL,))


# A listener that cannot reach the server gives up after this long, rather
# than hold up the worker's supervisor, which opens one in its watch loop.
LISTENER_CONNECT_TIMEOUT_SECONDS = 10


def connect_listener(database: str, channels: Sequence[str] = (CHANNEL,)) -> Any:
    """Open a connection of its own, in autocommit, that listens for wake-ups (``LISTEN``)."""
    import psycopg

    params = connections[database].get_connection_params()
    for private in ("cursor_factory", "context", "server_side_binding"):
        params.pop(private, None)
    params.setdefault("connect_timeout", LISTENER_CONNECT_TIMEOUT_SECONDS)
    connection = psycopg.connect(**params, autocommit=True)
    for channel in channels:
        connection.execute(f"LISTEN {channel}")
    return connection
