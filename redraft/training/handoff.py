"""Where a version lives: the endpoint and model id that serve it, and where its files are.

A version trained on one host is often served on another, with no filesystem in common. The
registry keeps the endpoint (`base_url`) and `model_id` that draft with it, and where training
wrote its files (`metrics.host`, `metrics.adapter`, for the local server `metrics.gguf_lora`).
On the serving host the local server finds a LoRA at the recorded path (a shared mount) or,
copied there, at `REDRAFT_MODELS_DIR/loras/<model id>.gguf`; vLLM loads an adapter by name from
a directory on its own host at run time. `redraft models show NAME` prints the hand-off.
"""

from __future__ import annotations

from pathlib import Path

from redraft.prompting import TEMPLATES
from redraft.training.modelversion import ModelVersion
from redraft.urls import shown_url

LORAS = "loras"  # under REDRAFT_MODELS_DIR: LoRA files copied from a training host


def copied_lora(models_dir: Path, model_id: str) -> Path:
    """Where a serving host keeps a LoRA copied from the training host."""
    return models_dir / LORAS / f"{model_id}.gguf"


def lora_file(version: ModelVersion, models_dir: Path) -> Path | None:
    """The GGUF LoRA this host serves `version` from: the recorded path when this host sees it
    (the training host, or a shared mount at the same path), else a copy under `models_dir`.

    >>> v = ModelVersion("v3", "v3", metrics={"gguf_lora": "/nowhere/lora.gguf"})
    >>> lora_file(v, Path("/nowhere-either")) is None
    True
    """
    recorded = version.metrics.get("gguf_lora")
    if isinstance(recorded, str) and Path(recorded).is_file():
        return Path(recorded)
    copied = copied_lora(models_dir, version.model_id)
    return copied if copied.is_file() else None


def handoff(version: ModelVersion) -> list[str]:
    """Where `version` is served and where its files are, and how to serve it on another host.

    >>> for line in handoff(ModelVersion("v3", "v3", base_url="http://gpu:8000/v1", trainer="trl",
    ...         metrics={"host": "trainer1", "adapter": "/srv/redraft/adapters/v3/adapter"})):
    ...     print(line)
    v3: served as model 'v3' at http://gpu:8000/v1
    files: trainer1:/srv/redraft/adapters/v3/adapter
    vLLM on the GPU host (runtime LoRA loading, VLLM_ALLOW_RUNTIME_LORA_UPDATING=True):
      rsync -a trainer1:/srv/redraft/adapters/v3/adapter/ /srv/loras/v3/
      curl -X POST http://gpu:8000/v1/load_lora_adapter -H 'Content-Type: application/json' \
-d '{"lora_name": "v3", "lora_path": "/srv/loras/v3"}'
      redraft models promote v3 --base-url http://gpu:8000/v1
    """
    endpoint = shown_url(version.base_url) if version.base_url else "the settings' endpoint"
    lines = [f"{version.name}: served as model {version.model_id!r} at {endpoint}"]
    host = version.metrics.get("host") or "TRAINING-HOST"
    adapter, lora = version.metrics.get("adapter"), version.metrics.get("gguf_lora")
    if not adapter and not lora:
        lines.append("files: none recorded (a model served elsewhere, or an OpenAI fine-tune)")
        return lines
    lines.append("files: " + ", ".join(f"{host}:{path}" for path in (adapter, lora) if path))
    base_url = version.base_url or "http://GPU-HOST:8000/v1"
    if lora:
        lines += [
            "the local server on another host (same base model), copied or on a shared path:",
            f"  scp {host}:{lora} SERVING-HOST:$REDRAFT_MODELS_DIR/{LORAS}/{version.model_id}.gguf",
            f"  redraft models promote {version.name} --base-url http://SERVING-HOST:8089/v1",
        ]
    template = version.metrics.get("template")
    if isinstance(template, str) and template:
        # The backend host drafts with the prompts the version trained on; it finds a copy
        # under its own REDRAFT_HOME/templates by the (content-addressed) file name.
        lines += [
            "the backend host needs the prompt template it trained with:",
            f"  scp {host}:{template} BACKEND-HOST:$REDRAFT_HOME/{TEMPLATES}/{Path(template).name}",
        ]
    if adapter:
        lines += [
            "vLLM on the GPU host (runtime LoRA loading, VLLM_ALLOW_RUNTIME_LORA_UPDATING=True):",
            f"  rsync -a {host}:{adapter}/ /srv/loras/{version.model_id}/",
            f"  curl -X POST {base_url}/load_lora_adapter -H 'Content-Type: application/json' "
            f'-d \'{{"lora_name": "{version.model_id}", "lora_path": '
            f'"/srv/loras/{version.model_id}"}}\'',
            f"  redraft models promote {version.name} --base-url {base_url}",
        ]
    return lines
