"""How to install what is missing, for the way redraft itself was installed."""

from __future__ import annotations

import json
import os
import shlex
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse


def editable_checkout() -> Path | None:
    """The source checkout when redraft is installed editable (`pip install -e .`), else None."""
    # Every copy of the metadata: a checkout's own `redraft.egg-info` can shadow the installed one.
    for dist in metadata.distributions(name="redraft"):
        try:
            info = json.loads(dist.read_text("direct_url.json") or "{}")
        except ValueError:
            continue
        url = urlparse(str(info.get("url") or ""))
        if (info.get("dir_info") or {}).get("editable") and url.scheme == "file":
            return Path(unquote(url.path))
    return None


def install_hint(extra: str) -> str:
    """The pip command that adds `extra` to this environment, e.g. `.venv/bin/pip install -e
    '.[train]'` from a checkout, `pip install 'redraft[train]'` for a wheel."""
    pip = _short(Path(sys.executable).parent / "pip")
    checkout = editable_checkout()
    if checkout is not None:
        return f"{pip} install -e {shlex.quote(f'{_short(checkout)}[{extra}]')}"
    return f"{pip} install {shlex.quote(f'redraft[{extra}]')}"


def _short(path: Path) -> str:
    """`path` relative to the current folder when it is inside it (`.` for the folder itself)."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative
