"""Random bytes from the OS, drawn a few kilobytes at a time.

Pure. ``os.urandom`` lets go of the GIL on every call, and in a process
with busy threads (a worker's slot beside its recorder, a threaded web
server) the caller then waits to get it back: about 30 µs per call in a
busy slot, where the call itself takes half a microsecond. Drawn a few
kilobytes at once, that wait comes once per few hundred calls. The bytes
are as random as ``os.urandom``'s, and each is handed out once: a forked
child empties its copy of the pool (``os.register_at_fork``), so that a
parent and its children never hand out the same bytes. Used for the
encryption's nonces and the random bits of task ids.
"""

from __future__ import annotations

import os
import threading

POOL_BYTES = 4096


class _Pool:
    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        self.lock = threading.Lock()
        self.buffer = b""
        self.at = 0

    def take(self, count: int) -> bytes:
        if count > POOL_BYTES:
            return os.urandom(count)
        with self.lock:
            if self.at + count > len(self.buffer):
                self.buffer = os.urandom(POOL_BYTES)
                self.at = 0
            taken = self.buffer[self.at : self.at + count]
            self.at += count
            return taken


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.forget)


def take(count: int) -> bytes:
    """``count`` random bytes never handed out before, in this process or another."""
    return _pool.take(count)
