"""Slots: at most N model calls in flight across all requests, handed out in arrival order."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class Slots:
    """A counting gate whose freed slots go to the longest waiter (no barging).

    `threading.Semaphore` lets a thread that just released take the slot straight back, so a
    pool draining a bulk retrieve could starve an annotator's single-task request; here a
    release hands the slot to the first waiter in line.

    >>> slots = Slots(2)
    >>> with slots.hold(), slots.hold():
    ...     slots.in_use
    2
    >>> slots.in_use, slots.peak
    (0, 2)
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"Slots needs at least 1 slot, got {size}")
        self.size = size
        self._lock = threading.Lock()
        self._free = size
        self._waiters: deque[threading.Event] = deque()
        self.peak = 0

    @property
    def in_use(self) -> int:
        """Slots held right now."""
        with self._lock:
            return self.size - self._free

    def acquire(self) -> None:
        """Take a slot, waiting in line behind earlier callers while none is free."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._take()
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # release() took the slot for us before setting the event

    def release(self) -> None:
        """Give a slot back: to the first waiter if any, else to the free count."""
        with self._lock:
            self._free += 1
            if self._waiters:
                self._take()
                self._waiters.popleft().set()

    def _take(self) -> None:
        self._free -= 1
        self.peak = max(self.peak, self.size - self._free)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold one slot for the duration of the block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()
