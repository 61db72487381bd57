"""Reading an export folder for training: manifest, file hashes, dataset files.

The layout (docs/architecture.md): `manifest.json` lists each file with its sha256 and
records the prompt template's sha256; datasets are `<name>.train.jsonl` and
`<name>.validation.jsonl` for openai_sft, openai_dpo, trl_sft, trl_dpo, trl_kto.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redraft.training.errors import ExportFolderError

MANIFEST = "manifest.json"


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_file_hashes(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The {file name: sha256} a manifest lists, whichever of the usual shapes it uses.

    >>> manifest_file_hashes({"files": {"a.jsonl": {"sha256": "ab", "rows": 2}}})
    {'a.jsonl': 'ab'}
    >>> manifest_file_hashes({"files": [{"path": "b.jsonl", "sha256": "cd"}]})
    {'b.jsonl': 'cd'}
    """
    files = manifest.get("files")
    hashes: dict[str, str] = {}
    if isinstance(files, Mapping):
        for name, entry in files.items():
            digest = entry.get("sha256") if isinstance(entry, Mapping) else entry
            if isinstance(digest, str):
                hashes[str(name)] = digest
    elif isinstance(files, list):
        for entry in files:
            if not isinstance(entry, Mapping):
                continue
            name = entry.get("name") or entry.get("path") or entry.get("file")
            if isinstance(name, str) and isinstance(entry.get("sha256"), str):
                hashes[name] = entry["sha256"]
    return hashes


def manifest_template_sha256(manifest: Mapping[str, Any]) -> str | None:
    """The prompt template's sha256 recorded in a manifest, or None.

    >>> manifest_template_sha256({"template": {"sha256": "ff"}})
    'ff'
    """
    for key in ("template_sha256", "prompt_template_sha256"):
        if isinstance(manifest.get(key), str):
            return manifest[key]
    template = manifest.get("template")
    if isinstance(template, Mapping) and isinstance(template.get("sha256"), str):
        return template["sha256"]
    return None


@dataclass(frozen=True)
class ExportFolder:
    """A validated export folder: its manifest, the manifest's hash, and its dataset files."""

    path: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    template_sha256: str | None
    created_at: str

    def dataset(self, name: str, split: str = "train") -> Path | None:
        """The path of `<name>.<split>.jsonl` if it exists and has at least one row."""
        path = self.path / f"{name}.{split}.jsonl"
        if not path.is_file() or count_rows(path) == 0:
            return None
        return path

    def rows(self, name: str, split: str = "train") -> int:
        """How many rows `<name>.<split>.jsonl` has (0 when it is missing)."""
        path = self.path / f"{name}.{split}.jsonl"
        return count_rows(path) if path.is_file() else 0


def count_rows(path: Path) -> int:
    """Non-blank lines of a JSONL file."""
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All rows of a JSONL file; ExportFolderError naming the line that is not JSON."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ExportFolderError(
                    f"{path}:{number}: not JSON ({exc.msg}) — re-run `redraft export`"
                ) from None
    return rows


def load_export(path: Path) -> ExportFolder:
    """Read and check an export folder: manifest present, every listed file matches its hash."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ExportFolderError(
            f"{path} has no {MANIFEST} — pass a folder written by `redraft export`"
        )
    raw = manifest_path.read_bytes()
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ExportFolderError(
            f"{manifest_path} is not JSON ({exc.msg}) — re-run `redraft export`"
        ) from None
    if not isinstance(manifest, dict):
        raise ExportFolderError(f"{manifest_path} is not a JSON object — re-run `redraft export`")
    hashes = manifest_file_hashes(manifest)
    if not hashes:
        raise ExportFolderError(
            f"{manifest_path} lists no files with sha256 — re-run `redraft export`"
        )
    for name, expected in sorted(hashes.items()):
        file = path / name
        if not file.is_file():
            raise ExportFolderError(
                f"{file} is listed in the manifest but missing — re-run `redraft export`"
            )
        if file_sha256(file) != expected:
            raise ExportFolderError(
                f"{file} changed since export (sha256 differs from the manifest) — "
                "re-run `redraft export` instead of editing exported files"
            )
    return ExportFolder(
        path=path,
        manifest=manifest,
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
        template_sha256=manifest_template_sha256(manifest),
        created_at=manifest_created_at(path, manifest),
    )


def manifest_created_at(folder: Path, manifest: Mapping[str, Any] | None = None) -> str:
    """When an export was made: the manifest's `created_at`, else the manifest file's mtime."""
    if manifest is None:
        try:
            manifest = json.loads((folder / MANIFEST).read_bytes())
        except (OSError, json.JSONDecodeError):
            manifest = {}
    created = manifest.get("created_at") if isinstance(manifest, Mapping) else None
    if isinstance(created, str):
        return created
    mtime = os.stat(folder / MANIFEST).st_mtime
    return datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds")


def latest_export(exports_dir: Path) -> Path | None:
    """The newest folder with a manifest under REDRAFT_HOME/exports, or None."""
    if not exports_dir.is_dir():
        return None
    folders = [p for p in exports_dir.iterdir() if (p / MANIFEST).is_file()]
    if not folders:
        return None
    return max(folders, key=lambda p: ((p / MANIFEST).stat().st_mtime_ns, p.name))
