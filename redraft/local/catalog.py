"""Which models the local server serves (the base plus every trained local version), and
how other commands ask a running local server to pick up a new one."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib import error, request

from redraft.local.base import LocalBase, resolve_base, servable_gguf
from redraft.local.server import ServedModel
from redraft.settings import Settings
from redraft.training.handoff import lora_file
from redraft.training.registry import open_registry

logger = logging.getLogger(__name__)

SERVABLE = ("candidate", "active", "retired")


def local_base(settings: Settings) -> LocalBase:
    """The base model that settings name (REDRAFT_LOCAL_MODEL, else the bundled SmolLM2)."""
    return resolve_base(settings.local_model)


def served_models(settings: Settings) -> list[ServedModel]:
    """The base first, then each finished local version trained on it, oldest first."""
    base = local_base(settings)
    from redraft.local.converters import tools_dir

    needs_tools = base.gguf is None
    tools = tools_dir(settings.home, settings.llama_cpp_sdist) if needs_tools else Path()
    gguf = servable_gguf(base, settings.models_dir, tools)
    models = [ServedModel(base.model_id, gguf)]
    seen = {base.model_id}
    for version in open_registry(settings).list():
        # The recorded path, or a copy from the training host (redraft.training.handoff).
        lora = lora_file(version, settings.models_dir)
        if (
            version.trainer == "trl"
            and version.status in SERVABLE
            and version.metrics.get("local_base") == base.model_id
            and lora is not None
            and version.model_id not in seen
        ):
            models.append(ServedModel(version.model_id, gguf, lora))
            seen.add(version.model_id)
    return models


def _root(base_url: str) -> str:
    return base_url.rstrip("/").removesuffix("/v1")


def listed_models(base_url: str, timeout: float = 5.0) -> list[str] | None:
    """The model ids an OpenAI-compatible server lists, or None when it does not answer."""
    try:
        with request.urlopen(f"{_root(base_url)}/v1/models", timeout=timeout) as response:
            return [m["id"] for m in json.load(response).get("data", [])]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ask_reload(base_url: str, timeout: float = 300.0) -> list[str] | None:
    """Ask a running `redraft local serve` to pick up new versions now; its model ids, or None
    when no local server answers there."""
    req = request.Request(f"{_root(base_url)}/redraft/reload", data=b"{}", method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        with request.urlopen(req, timeout=timeout) as response:
            return list(json.load(response).get("models", []))
    except error.HTTPError as exc:
        logger.warning("the local server could not reload: %s", exc.read()[:300])
        return listed_models(base_url)
    except (OSError, ValueError):
        return None


def ensure_served(base_url: str, model_id: str) -> bool:
    """True when the server at `base_url` lists `model_id` (asking a local server to reload)."""
    models = listed_models(base_url)
    if models is not None and model_id in models:
        return True
    models = ask_reload(base_url)
    return models is not None and model_id in models
