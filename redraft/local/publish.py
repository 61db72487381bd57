"""Make a trained adapter servable by `redraft local serve`: GGUF LoRA + a reload request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from redraft.local.address import local_server_url
from redraft.local.base import LocalBase, resolve_base, trainable_dir
from redraft.settings import Settings


@dataclass(frozen=True)
class LocalTarget:
    """Training on the local base: what to train from, and where the result is served."""

    base: LocalBase
    hf_dir: Path  # the float32 folder TRL trains
    home: Path
    sdist: Path | None
    serve_url: str

    @property
    def base_model_id(self) -> str:
        return self.base.model_id

    def publish(self, adapter: Path, report: Callable[[str], None]) -> dict[str, str]:
        """Convert `adapter` for llama.cpp (see `publish_adapter`)."""
        return publish_adapter(self, adapter, report)

    def announce(self, model_id: str, report: Callable[[str], None]) -> bool:
        """Ask the running local server to serve `model_id` now (see `announce`)."""
        return announce(self, model_id, report)


def local_target(settings: Settings) -> LocalTarget:
    """The local base, dequantised for training on first use (a minute, once)."""
    base = resolve_base(settings.local_model)
    hf_dir = trainable_dir(base, settings.models_dir)
    serve_url = local_server_url(settings)
    return LocalTarget(base, hf_dir, settings.home, settings.llama_cpp_sdist, serve_url)


def publish_adapter(
    target: LocalTarget, adapter: Path, report: Callable[[str], None]
) -> dict[str, str]:
    """Convert `adapter` to a GGUF LoRA and ask a running local server to serve it.

    Returns the metrics a registry version keeps so `redraft local serve` finds it.
    """
    from redraft.local.converters import lora_to_gguf, tools_dir

    tools = tools_dir(target.home, target.sdist)
    gguf = lora_to_gguf(tools, adapter, target.hf_dir, adapter.parent / "lora.gguf")
    report(f"converted the adapter for llama.cpp: {gguf}")
    return {"gguf_lora": str(gguf), "local_base": target.base.model_id}


def announce(target: LocalTarget, model_id: str, report: Callable[[str], None]) -> bool:
    """Ask the local server to pick up `model_id` now; True when it serves it."""
    from redraft.local.catalog import ask_reload

    served = ask_reload(target.serve_url)
    if served is None:
        report(
            f"the local server is not running at {target.serve_url}: start it with "
            f"`redraft local serve`; it will serve {model_id} as well"
        )
        return False
    if model_id in served:
        report(f"{target.serve_url} serves {model_id} now")
        return True
    report(f"the local server at {target.serve_url} did not pick up {model_id} — see its log")
    return False
