"""Decided A/B pairs as an export folder that `redraft train` reads, written by the exporter.

The folder has the layout of `redraft export` (docs/exporting.md): every dataset file with its
train/validation split, rejects.jsonl, an (empty) records table and manifest.json, all written
by redraft.exporters' own sinks, validators and manifest writer. Rows per decided task:
- openai_dpo / trl_dpo: the winner's draft is chosen, the loser's rejected;
- trl_sft: the winner's draft, marked machine-written in the manifest, because `train trl`
  starts with SFT on the preferred completions before DPO (openai_sft stays empty: OpenAI DPO
  continues from the active fine-tune);
- a tied task, or a pair whose drafts are empty or identical, is a line in rejects.jsonl.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redraft.exporters.manifest import ExportManifest, RunCounts, write_manifest
from redraft.exporters.pipeline import ExportOptions, make_empty_dir, open_dataset_sinks
from redraft.exporters.records import Reject
from redraft.exporters.rows import openai_dpo, trl_dpo, trl_sft
from redraft.exporters.sinks import JsonlSink, RecordsSink
from redraft.exporters.split import plan_split
from redraft.exporters.tokens import TokenCounter
from redraft.prompting import PromptTemplate, build_messages
from redraft.report.ab import ABResult, pair_problem

logger = logging.getLogger(__name__)

CASE = "ab_decided"
TIED = "judgments tied between the two versions — no preference pair"


def write_ab_export(
    result: ABResult,
    out_dir: Path,
    template: PromptTemplate,
    counter: TokenCounter,
    source: Mapping[str, Any],
    validation_ratio: float = 0.1,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ExportManifest:
    """Write the decided pairs of an A/B tally as an export folder; returns its manifest."""
    make_empty_dir(out_dir)
    started = now()
    options = ExportOptions(
        validation_ratio=validation_ratio,
        records_format="csv",
        project_id=source.get("project_id"),
    )
    sinks = open_dataset_sinks(out_dir, counter, options)
    rejects = JsonlSink(out_dir / "rejects.jsonl").open()
    records_sink = RecordsSink(out_dir / "records.csv", "csv")
    counts = RunCounts()
    # The same client-stratified split as `redraft export`, planned over the decided pairs.
    plan = plan_split(
        (
            {"id": pair["task_id"], "data": pair["data"], "annotations": [{}]}
            for pair in result.decided_pairs
            if pair_problem(pair) is None
        ),
        validation_ratio,
    )
    try:
        for task_id in result.tied_tasks:
            counts.tasks_read += 1
            counts.tasks_rejected += 1
            counts.rejects += 1
            rejects.write(Reject(task_id, TIED).as_dict())
        for pair in result.decided_pairs:
            counts.tasks_read += 1
            problem = pair_problem(pair)
            if problem is not None:
                counts.tasks_rejected += 1
                counts.rejects += 1
                rejects.write(Reject(pair["task_id"], problem).as_dict())
                continue
            client = pair["data"].get("client")
            split = plan.split(pair["task_id"])
            messages = build_messages(pair["data"], template)
            chosen, rejected = pair["chosen"], pair["rejected"]
            sinks[("openai_dpo", split)].write(openai_dpo(messages, chosen, rejected))
            sinks[("trl_dpo", split)].write(trl_dpo(messages, chosen, rejected))
            sinks[("trl_sft", split)].write(trl_sft(messages, chosen), machine_written=True)
            counts.tasks_exported += 1
            counts.cases[CASE] += 1
            counts.by_client.setdefault(str(client or ""), Counter())[split] += 1
    finally:
        for sink in [*sinks.values(), rejects]:
            sink.close()
        records_sink.close()
    return write_manifest(
        out_dir, sinks, rejects, records_sink, counts, options, source, template, counter, started
    )
