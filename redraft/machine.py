"""What this machine lets a process use: its CPU cores and the memory still available.

The model servers (redraft.local.server) and the training processes
(redraft.training.cpu_processes) size themselves to these.
"""

from __future__ import annotations

import os
from pathlib import Path


def usable_cores() -> int:
    """The CPU cores this process may use, not the host's: its CPU affinity (taskset, a
    container's cpuset) and at most what its cgroup's CPU quota allows (`docker --cpus`,
    systemd's CPUQuota=). More llama.cpp threads than that spin-wait for each other."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quotas = [q for q in map(cgroup_cpu_quota, _cgroup_cpu_limits()) if q]
    return max(1, min([cores, *quotas]))


def thread_shares(threads: int, processes: int) -> list[int]:
    """`threads` split over `processes` as evenly as they go, at least one each.

    >>> thread_shares(5, 2), thread_shares(2, 2), thread_shares(1, 2)
    ([3, 2], [1, 1], [1, 1])
    """
    return [max(1, threads // processes + (i < threads % processes)) for i in range(processes)]


def cgroup_cpu_quota(limit: str | None) -> int | None:
    """Whole cores a cgroup CPU limit allows, rounded up; None: no limit. `limit` is cgroup v2's
    `cpu.max` ("QUOTA PERIOD") or cgroup v1's quota and period files joined by a space (a
    quota of -1 there means none).

    >>> cgroup_cpu_quota("max 100000"), cgroup_cpu_quota("150000 100000"), cgroup_cpu_quota(None)
    (None, 2, None)
    >>> cgroup_cpu_quota("-1 100000"), cgroup_cpu_quota("50000 100000")
    (None, 1)
    """
    parts = (limit or "").split()
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit() or parts[1] == "0":
        return None
    return max(1, -(-int(parts[0]) // int(parts[1])))


def _cgroup_cpu_limits() -> list[str]:
    """The CPU limits of this process's cgroup and of every group above it (a slice's or a
    container's limit binds the processes below it): cgroup v2's cpu.max files, else v1's."""
    root = Path("/sys/fs/cgroup")
    limits = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return limits
    for line in lines:
        _, controllers, path = line.split(":", 2)
        group = Path(path.lstrip("/"))
        for parent in [group, *group.parents]:
            if controllers == "":  # cgroup v2
                limits.append(_read(root / parent / "cpu.max"))
            elif "cpu" in controllers.split(","):  # cgroup v1
                base = root / controllers / parent
                quota, period = _read(base / "cpu.cfs_quota_us"), _read(base / "cpu.cfs_period_us")
                limits.append(f"{quota} {period}")
    return [limit for limit in limits if limit.strip()]


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where there is no such file)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
