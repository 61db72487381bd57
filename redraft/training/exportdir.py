"""An export folder as training reads it: the checked manifest and the dataset files.

The manifest is `redraft.exporters.manifest.ExportManifest`; this adds what training needs on
top of it (checked files, row counts, the JSONL reader).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redraft.errors import RedraftError
from redraft.exporters.manifest import ExportManifest, dataset_file
from redraft.prompting import load_template
from redraft.training.errors import ExportFolderError


@dataclass(frozen=True)
class ExportFolder:
    """A checked export folder: its manifest (every listed file matches its hash)."""

    path: Path
    manifest: ExportManifest

    @property
    def manifest_sha256(self) -> str:
        return self.manifest.sha256

    @property
    def template_sha256(self) -> str | None:
        return self.manifest.template_sha256

    @property
    def created_at(self) -> str:
        return self.manifest.created_at

    @property
    def projects(self) -> tuple[int, ...]:
        """The Label Studio project the rows came from (none for a file export)."""
        project = self.manifest.project_id
        return (project,) if project is not None else ()

    def dataset(self, name: str, split: str = "train") -> Path | None:
        """The path of `<name>.<split>.jsonl` if it exists and has at least one row."""
        path = self.path / dataset_file(name, split)
        if not path.is_file() or count_rows(path) == 0:
            return None
        return path

    def rows(self, name: str, split: str = "train") -> int:
        """How many rows `<name>.<split>.jsonl` has (0 when it is missing)."""
        path = self.path / dataset_file(name, split)
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
    manifest = ExportManifest.load(path)
    manifest.verify_files(path)
    return ExportFolder(path, manifest)


def trained_template(export: ExportFolder) -> dict[str, Any]:
    """{"template": path} when the export's prompts came from a template file (style notes the
    export learned, notes applied with `redraft styles apply`, or REDRAFT_TEMPLATE) that still
    matches, plus "learned_rules" when the export learned them: the version trained on it
    then drafts with the prompts it learned from."""
    source = export.manifest.source
    path = source.get("template_path") if isinstance(source, dict) else None
    if not path or not Path(path).is_file():
        return {}
    try:
        same = load_template(Path(path)).sha256 == export.template_sha256
    except RedraftError:
        return {}
    if not same:
        return {}
    found: dict[str, Any] = {"template": str(path)}
    rules = source.get("learned_rules")
    if isinstance(rules, int):
        found["learned_rules"] = rules
    return found
