"""What one export is asked to do: where the tasks come from, golden rewrites, where it goes.

`redraft export` builds an ExportRequest from its flags and auto mode builds one for the
project its webhook named; both hand it to the same run (`redraft.loop.export`), so the
rules below are checked once, before anything is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redraft.errors import RedraftError
from redraft.exporters.pipeline import ExportOptions

GOLDEN_MODES = ("off", "rewrite", "review")
DEFAULT_SNAPSHOT_TIMEOUT = 600.0  # seconds for Label Studio to build a project's snapshot


class ExportRequestError(RedraftError):
    """The request contradicts itself; the message says which flags to change."""


@dataclass(frozen=True)
class ExportRequest:
    """One export: a live project (`project_ref`) or a file (`from_file`), never both.

    >>> ExportRequest(project_ref="3").source_kind
    'project'
    >>> ExportRequest(from_file=Path("x.json"), golden="review")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    redraft.exporters.request.ExportRequestError: --golden-review with --from-file needs ...
    """

    project_ref: str | None = None
    from_file: Path | None = None
    output: Path | None = None  # None: REDRAFT_HOME/exports/<UTC time>
    golden: str = "off"  # off, rewrite (an LLM rewrites low-rated drafts), review
    golden_model: str | None = None  # None: REDRAFT_MODEL
    review_ref: str | None = None  # project for golden review tasks (None: project_ref)
    template_path: Path | None = None  # None: REDRAFT_TEMPLATE, else the active version's
    timeout: float = DEFAULT_SNAPSHOT_TIMEOUT
    keep_snapshot: bool = False
    options: ExportOptions = field(default_factory=ExportOptions)  # project_id set by the run
    # Mine each client's style rules from the export's own edits into the training prompts, so
    # the candidate trained on it learns with them and drafts with them.
    style_notes: bool = True
    by: str | None = None  # who asked, recorded in the manifest's source (e.g. "auto mode")

    def __post_init__(self) -> None:
        if (self.project_ref is None) == (self.from_file is None):
            raise ExportRequestError("give exactly one of --project ID|TITLE or --from-file FILE")
        if self.golden not in GOLDEN_MODES:
            raise ExportRequestError(
                f"unknown golden mode {self.golden!r} — use one of: {', '.join(GOLDEN_MODES)}"
            )
        if self.golden == "review" and (self.review_ref or self.project_ref) is None:
            raise ExportRequestError("--golden-review with --from-file needs --review-project ID")

    @classmethod
    def golden_mode(cls, rewrite: bool, review: bool) -> str:
        """The golden mode from the two flags that select it.

        >>> ExportRequest.golden_mode(False, True)
        'review'
        """
        if rewrite and review:
            raise ExportRequestError("use --golden or --golden-review, not both")
        return "rewrite" if rewrite else "review" if review else "off"

    @property
    def source_kind(self) -> str:
        return "project" if self.project_ref is not None else "file"

    @property
    def needs_label_studio(self) -> bool:
        """A project is read from Label Studio, and golden review writes tasks to it."""
        return self.project_ref is not None or self.golden == "review"

    def source(self, project_id: int | None, label_studio_url: str) -> dict[str, Any]:
        """The manifest's `source`: what was read (the template is added by the run).

        >>> ExportRequest(from_file=Path("/tmp/x.json")).source(None, "")
        {'kind': 'file', 'path': '/tmp/x.json'}
        >>> ExportRequest(project_ref="3", by="auto mode").source(3, "http://ls")
        {'kind': 'project', 'project_id': 3, 'label_studio_url': 'http://ls', 'by': 'auto mode'}
        """
        if project_id is not None:
            found: dict[str, Any] = {
                "kind": "project",
                "project_id": project_id,
                "label_studio_url": label_studio_url,
            }
        else:
            assert self.from_file is not None
            found = {"kind": "file", "path": str(self.from_file.resolve())}
        if self.by:
            found["by"] = self.by
        return found
