"""Whether a process still runs: how stale training rows and half-written exports are told
from live ones."""

from __future__ import annotations

import os


def process_alive(pid: int | None) -> bool:
    """Whether a process with this id runs on this machine (for stale `training` rows)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
