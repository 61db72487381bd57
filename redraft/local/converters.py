"""llama.cpp's own converters, run as scripts: PEFT adapter → GGUF LoRA, HF folder → GGUF.

They are not in the llama-cpp-python wheel, only in its sdist (`vendor/llama.cpp/`), so the
few files they need are extracted once into REDRAFT_HOME/llama.cpp-tools/<version>/ from the
sdist (REDRAFT_LLAMA_CPP_SDIST, which `./dev` sets, else `pip download` from the registry).
The converters match the llama.cpp that serves, which a hand-written converter would not
(llama-family q/k projections, for one, are permuted for llama.cpp's rotary layout).
"""

from __future__ import annotations

import importlib.metadata
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from redraft.errors import LocalModelError

logger = logging.getLogger(__name__)

PACKAGE = "llama-cpp-python"
NEEDED = ("convert_lora_to_gguf.py", "convert_hf_to_gguf.py", "conversion/", "gguf-py/")
MARKER = "convert_lora_to_gguf.py"


def llama_cpp_version() -> str:
    """The installed llama-cpp-python version (the converters must match it)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        from redraft.install import install_hint

        raise LocalModelError(
            f"llama-cpp-python is not installed — {install_hint('local')} (./dev does it)"
        ) from None


def tools_dir(home: Path, sdist: Path | None = None) -> Path:
    """The folder holding llama.cpp's converters, extracted from the sdist on first use."""
    version = llama_cpp_version()
    target = home / "llama.cpp-tools" / version
    if (target / MARKER).is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="redraft-llama-cpp-") as scratch:
        archive = sdist if sdist is not None else _download_sdist(version, Path(scratch))
        if not archive.is_file():
            raise LocalModelError(
                f"REDRAFT_LLAMA_CPP_SDIST={archive} does not exist — point it at "
                f"llama_cpp_python-{version}.tar.gz or unset it to download it"
            )
        staging = target.with_name(f"{version}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        _extract(archive, staging)
        staging.rename(target)
    return target


def _download_sdist(version: str, folder: Path) -> Path:
    logger.info("downloading the %s %s sdist for llama.cpp's converters", PACKAGE, version)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    command += ["-q", "-d", str(folder), f"{PACKAGE}=={version}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = sorted(folder.glob("*.tar.gz"))
    if done.returncode != 0 or not found:
        raise LocalModelError(
            f"could not download the {PACKAGE} {version} sdist for llama.cpp's converters "
            f"({_last_line(done.stderr)}) — download it yourself and set REDRAFT_LLAMA_CPP_SDIST"
        )
    return found[0]


def _extract(archive: Path, target: Path) -> None:
    with tarfile.open(archive) as tar:
        members = []
        for member in tar.getmembers():
            parts = member.name.split("/vendor/llama.cpp/", 1)
            if len(parts) == 2 and parts[1].startswith(NEEDED) and member.isfile():
                member.name = parts[1]
                members.append(member)
        if not any(m.name == MARKER for m in members):
            raise LocalModelError(f"{archive} holds no vendor/llama.cpp/{MARKER}")
        tar.extractall(target, members=members, filter="data")


def _run(script: Path, args: list[str], what: str) -> None:
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        logger.debug("%s output:\n%s", script.name, done.stdout + done.stderr)
        raise LocalModelError(
            f"{what} failed: {_last_line(done.stderr)} — re-run with --log-level DEBUG for the "
            "converter's output"
        )


def lora_to_gguf(tools: Path, adapter: Path, base_hf: Path, out: Path) -> Path:
    """Convert a PEFT LoRA adapter (trained on `base_hf`) into a GGUF LoRA file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    args = ["--base", str(base_hf), "--outtype", "f32", "--outfile", str(out), str(adapter)]
    _run(tools / MARKER, args, f"converting the adapter {adapter} to GGUF")
    return out


def hf_to_gguf(tools: Path, hf_dir: Path, out: Path) -> Path:
    """Convert a Hugging Face model folder into a 16-bit GGUF file llama.cpp can serve."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    args = ["--outtype", "f16", "--outfile", str(partial), str(hf_dir)]
    _run(tools / "convert_hf_to_gguf.py", args, f"converting {hf_dir} to GGUF")
    partial.rename(out)
    return out


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"
