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

    def acquire(self, timeout: float | None = None) -> bool:
        """Take a slot, waiting in line behind earlier callers while none is free; False when
        `timeout` seconds passed first (the caller then holds nothing and has left the line)."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._take()
                return True
            turn = threading.Event()
            self._waiters.append(turn)
        if turn.wait(timeout):  # release() took the slot for us before setting the event
            return True
        with self._lock:
            if turn.is_set():  # handed over between the timeout and the lock
                return True
            self._waiters.remove(turn)
            return False

    def release(self) -> None:
        """Give a slot back: to the first waiter if any, else to the free count."""
        with self._lock:
            self._free += 1
            self._hand_out()

    def resize(self, size: int) -> None:
        """Allow `size` slots from now on; holders beyond a smaller size keep theirs until they
        release, and no waiter gets one until the count is below the new size.

        >>> slots = Slots(1)
        >>> slots.resize(3)
        >>> with slots.hold(), slots.hold(), slots.hold():
        ...     slots.in_use
        3
        """
        if size < 1:
            raise ValueError(f"Slots needs at least 1 slot, got {size}")
        with self._lock:
            self._free += size - self.size
            self.size = size
            self._hand_out()

    def _hand_out(self) -> None:
        while self._free > 0 and self._waiters:
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
