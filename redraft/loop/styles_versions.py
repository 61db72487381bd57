"""Applying learned notes is a change of drafter: a new registry version with the same model
and its own prompt template, promoted (and evaluated) like any other."""

from __future__ import annotations

from pathlib import Path

from redraft.prompting import PromptTemplate
from redraft.settings import Settings
from redraft.training.modelversion import ModelVersion
from redraft.training.registry import Registry

FINE_TUNES = ("openai", "trl")


def register_notes_version(
    registry: Registry,
    settings: Settings,
    template: PromptTemplate,
    template_path: Path,
    rules: int,
    name: str | None = None,
) -> ModelVersion:
    """A candidate that drafts with the active model (or the settings' model) and `template`."""
    active = registry.active()
    metrics: dict[str, object] = {"template": str(template_path), "learned_rules": rules}
    if active is not None:
        # The parent's serving facts (a local model's key-less endpoint) carry over.
        metrics = {k: v for k, v in active.metrics.items() if k == "local_base"} | metrics
    version = ModelVersion(
        name=name or registry.next_name(),
        model_id=active.model_id if active else settings.model,
        base_url=active.base_url if active else settings.openai_base_url,
        base_model=active.base_model if active else settings.model,
        parent=active.name if active else None,
        trainer="notes",
        template_sha256=template.sha256,
        status="candidate",
        metrics=metrics,
    )
    return registry.add(version)


def template_mismatch(registry: Registry, template: PromptTemplate) -> str | None:
    """A warning when the active version is a fine-tune trained on another template."""
    active = registry.active()
    if active is None or active.trainer not in FINE_TUNES:
        return None
    if active.template_sha256 in (None, template.sha256):
        return None
    return (
        f"the active version {active.name} is a fine-tune trained on prompts from another "
        f"template ({active.template_sha256[:12]}); with the new notes its prompts change — "
        "check the candidate with `redraft eval` before promoting"
    )
