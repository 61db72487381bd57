"""Pacing: how many calls one model endpoint gets at once, and how long each may take.

A CPU server answers one request at a time; a hosted endpoint answers dozens until its rate
limit says 429. A fixed concurrency fits one and breaks the other (16 requests queued on a
one-at-a-time server each time out after 25 s of waiting). So each endpoint gets a `Pace` that
learns from its answers, as TCP does: the limit starts small and doubles while calls succeed,
halves on a 429 or a timeout (once per round of calls, not once per failed call), and then
grows by one per round again — slowly near the limit that failed, so a steady endpoint is
probed past it rarely rather than every few rounds. A server that says how many requests it
runs at once (the `X-Redraft-Parallel` header of `redraft local serve`) caps the limit there,
because more would only queue. The timeout follows the endpoint's recent latencies, unless the
user fixed one; a call that timed out gives the next one twice as long, so an endpoint slower
than the first guess (a large model on a CPU) is waited for rather than given up on forever.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from redraft.backend.slots import Slots

# The header a server uses to say how many requests it runs at once.
PARALLEL_HEADER = "X-Redraft-Parallel"
START_LIMIT = 2
# Automatic timeouts: generous until the endpoint has answered, then a multiple of the slowest
# recent answer, within these bounds.
FIRST_TIMEOUT = 120.0
MIN_TIMEOUT = 30.0
MAX_TIMEOUT = 600.0
TIMEOUT_FACTOR = 4.0
LATENCY_WINDOW = 20
# Rounds of success needed before trying again the limit that last overloaded the endpoint.
PROBE_PATIENCE = 8


class Pace:
    """The adaptive concurrency limit and timeout of one endpoint.

    >>> pace = Pace(ceiling=16)
    >>> pace.limit
    2
    >>> for _ in range(2): pace.succeeded(1.0)
    >>> pace.limit  # slow start: doubles after a full round of successes
    4
    >>> pace.overloaded(started=time.monotonic())
    >>> pace.limit
    2
    >>> pace.succeeded(1.0, parallel=1)  # the server runs one at a time
    >>> pace.limit, pace.timeout()
    (1, 30.0)
    """

    def __init__(
        self,
        ceiling: int,
        *,
        fixed_timeout: float | None = None,
        start: int = START_LIMIT,
        adaptive: bool = True,
    ) -> None:
        self.ceiling = ceiling
        self.fixed_timeout = fixed_timeout
        # Not adaptive: exactly `ceiling` calls at once, whatever the endpoint answers (what a
        # plain thread pool does; the benchmark's baseline).
        self.adaptive = adaptive
        self.slots = Slots(min(start, ceiling) if adaptive else ceiling)
        self.advertised: int | None = None
        self._lock = threading.Lock()
        self._slow_start = True
        self._round = 0  # successes since the limit last changed
        self._last_cut = float("-inf")
        self._failed_at: int | None = None  # the limit that last overloaded the endpoint
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._timed_out_at = 0.0  # the longest timeout a call has run out of

    @property
    def limit(self) -> int:
        """Calls allowed in flight right now."""
        return self.slots.size

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold one of the endpoint's slots for the duration of a call."""
        with self.slots.hold():
            yield

    def timeout(self) -> float:
        """Seconds the next call may take: fixed by the user, else learned from latencies."""
        if self.fixed_timeout is not None:
            return self.fixed_timeout
        with self._lock:
            learned = TIMEOUT_FACTOR * max(self._latencies) if self._latencies else FIRST_TIMEOUT
            return min(MAX_TIMEOUT, max(MIN_TIMEOUT, learned, 2 * self._timed_out_at))

    def timed_out(self, started: float, timeout: float) -> None:
        """A call that began at `started` ran out of `timeout` seconds: the next ones get twice
        as long, and the limit halves as for any overload."""
        with self._lock:
            self._timed_out_at = max(self._timed_out_at, timeout)
        self.overloaded(started)

    def advertise(self, parallel: int) -> None:
        """The server said it runs `parallel` requests at once: never more than that."""
        with self._lock:
            if self.adaptive and parallel >= 1:
                self.advertised = parallel
                if self.slots.size > self._cap():
                    self._resize(self._cap())

    def succeeded(self, latency: float, parallel: int | None = None) -> None:
        """A call answered in `latency` seconds; `parallel` is what the server advertised."""
        with self._lock:
            self._timed_out_at = 0.0  # answers again: the latencies say how long to wait
            self._latencies.append(latency)
            if not self.adaptive:
                return
            if parallel is not None and parallel >= 1:
                self.advertised = parallel
            cap = self._cap()
            limit = self.slots.size
            self._round += 1
            if self._failed_at is not None and limit >= self._failed_at and self._round >= limit:
                self._failed_at = None  # a full round at the old failing limit went through
            near = self._failed_at is not None and limit + 1 >= self._failed_at
            rounds = PROBE_PATIENCE if near else 1
            if limit > cap:
                self._resize(cap)
            elif self._round >= limit * rounds and limit < cap:
                self._resize(min(cap, limit * 2 if self._slow_start else limit + 1))

    def overloaded(self, started: float) -> None:
        """A call that began at `started` (monotonic) got a 429 or timed out: halve the limit.

        Calls already in flight when the limit was last cut fail for the same reason; they do
        not cut it again.
        """
        with self._lock:
            if not self.adaptive or started < self._last_cut:
                return
            self._slow_start = False
            self._last_cut = time.monotonic()
            self._failed_at = self.slots.size
            self._resize(max(1, self.slots.size // 2))

    def _cap(self) -> int:
        return min(self.ceiling, self.advertised) if self.advertised else self.ceiling

    def _resize(self, size: int) -> None:
        self._round = 0
        self.slots.resize(size)
