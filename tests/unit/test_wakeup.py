"""A slot's end of the supervisor's wake pipe."""

from __future__ import annotations

import threading
import time

from django_taskflow.worker.wakeup import SlotWaiter, WakePipe


def test_a_byte_from_the_supervisor_wakes_the_slot_once() -> None:
    pipe = WakePipe()
    waiter = SlotWaiter(pipe, threading.Event())
    pipe.set()
    pipe.set()  # two notifications while the slot was busy: one wake-up

    assert waiter.wait(10) is True
    assert waiter.wait(0.01) is False
    waiter.close()


def test_a_stopping_slot_does_not_wait_out_its_timeout() -> None:
    stop = threading.Event()
    waiter = SlotWaiter(WakePipe(), stop)
    threading.Timer(0.05, stop.set).start()
    started = time.monotonic()

    assert waiter.wait(30) is False
    assert time.monotonic() - started < 5
    waiter.close()


def test_a_slot_whose_supervisor_is_gone_polls_instead_of_spinning_or_hanging() -> None:
    pipe = WakePipe()
    stop = threading.Event()
    waiter = SlotWaiter(pipe, stop)
    pipe.close_write()  # the supervisor's end, as when it dies

    assert waiter.wait(0.05) is False
    assert waiter.orphaned
    threading.Timer(0.05, stop.set).start()
    started = time.monotonic()
    assert waiter.wait(30) is False  # the lease keeper stops the slot
    assert time.monotonic() - started < 5
    waiter.close()


def test_a_full_pipe_drops_the_extra_wake_ups() -> None:
    pipe = WakePipe()
    for _ in range(100_000):  # more than a pipe holds
        pipe.set()

    assert pipe.wait(0) is True
    assert pipe.clear() is True
    assert pipe.wait(0) is False
    pipe.close()
