"""A thread pool that shares its workers fairly between requests (round-robin over lanes).

A plain pool runs jobs in submission order: while one "Retrieve predictions" of 400 tasks
drains it, a 5-task request (an annotator opening a task) waits behind all 400 and misses its
deadline. Here each `submit_lane` call is a lane; a free worker takes the next job of the lane
after the one it served last, so every request in flight gets an equal share of the workers.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class FairPool:
    """`workers` threads; jobs of concurrent lanes interleave one by one.

    >>> pool = FairPool(1)
    >>> gate = threading.Event()
    >>> order = []
    >>> first = pool.submit_lane([gate.wait])  # holds the only worker
    >>> big = pool.submit_lane([lambda i=i: order.append(f"big{i}") for i in range(3)])
    >>> small = pool.submit_lane([lambda: order.append("small")])
    >>> gate.set()
    >>> _ = [f.result() for f in first + big + small]
    >>> order
    ['big0', 'small', 'big1', 'big2']
    >>> pool.shutdown()
    """

    def __init__(self, workers: int, name: str = "redraft-fair") -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._lanes: OrderedDict[int, deque[tuple[Callable[[], Any], Future[Any]]]] = OrderedDict()
        self._ids = itertools.count()

    def submit_lane(self, jobs: Sequence[Callable[[], Any]]) -> list[Future[Any]]:
        """Queue one request's jobs as a lane; one future per job, in order."""
        futures: list[Future[Any]] = [Future() for _ in jobs]
        if not jobs:
            return futures
        with self._lock:
            self._lanes[next(self._ids)] = deque(zip(jobs, futures, strict=True))
        for _ in jobs:  # one worker turn per job; each turn runs whichever job is next
            self._executor.submit(self._run_next)
        return futures

    def _run_next(self) -> None:
        with self._lock:
            if not self._lanes:
                return
            lane_id, lane = next(iter(self._lanes.items()))
            job, future = lane.popleft()
            del self._lanes[lane_id]
            if lane:
                self._lanes[lane_id] = lane  # to the back of the line
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(job())
        except BaseException as exc:
            future.set_exception(exc)

    def waiting(self) -> int:
        """Jobs queued and not yet started, all lanes together."""
        with self._lock:
            return sum(len(lane) for lane in self._lanes.values())

    def shutdown(self, cancel: bool = True) -> None:
        """Cancel the jobs not started (when `cancel`), wait for the running ones."""
        if cancel:
            with self._lock:
                lanes, self._lanes = list(self._lanes.values()), OrderedDict()
            for lane in lanes:
                for _job, future in lane:
                    future.cancel()
        self._executor.shutdown(wait=True, cancel_futures=cancel)
