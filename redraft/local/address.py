"""Where `redraft local serve` runs: one record under REDRAFT_HOME, read by everything else.

`redraft local serve --port 9000` writes its URL here while it runs, so a version trained
afterwards is registered at 9000, not at REDRAFT_LOCAL_PORT, where another server may answer.
Without a running server, the address is REDRAFT_LOCAL_PORT's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from redraft.processes import process_alive
from redraft.settings import Settings


def record_path(home: Path) -> Path:
    """The file a running local server keeps its address in."""
    return home / "run" / "local-server.json"


def local_server_url(settings: Settings) -> str:
    """The URL of this home's running local server, else the one REDRAFT_LOCAL_PORT gives."""
    try:
        record = json.loads(record_path(settings.home).read_text(encoding="utf-8"))
        url, pid = str(record["url"]), int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return settings.local_url
    return url if process_alive(pid) else settings.local_url


def write_record(home: Path, url: str) -> None:
    """Say where this process serves (private to the user: 0600)."""
    path = record_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
    temporary.chmod(0o600)
    temporary.replace(path)


def remove_record(home: Path) -> None:
    """Forget the address when this process stops serving (only if it is still ours)."""
    path = record_path(home)
    try:
        if int(json.loads(path.read_text(encoding="utf-8"))["pid"]) == os.getpid():
            path.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        pass
