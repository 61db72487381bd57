"""Does a turn of the loop make drafts closer to what the writers send? (simulated writers)

Five fictional clients, each with a rule-based simulated writer (redraft/samples/
simulated_writers.toml): three the defaults may be tuned on, two with other kinds of rules
that no default was tuned on, reported apart. Their briefs are split into training batches
(one per turn) and a held-out set that is never trained on.

Per turn and training recipe: the current version drafts the turn's briefs, the simulated
writers edit them into finals (with rating, issues and feedback), the real exporter turns all
annotations so far into datasets, `train_trl` trains the local base (SmolLM2-135M-Instruct) and
converts the adapter, the running `redraft local serve` picks it up, it is promoted, and it
drafts the held-out briefs again. The cost of a held-out draft is the normalised edit distance
from it to what its writer makes of it. Every figure comes from simulated writers.

    .venv/bin/python bench/loop.py                          # default recipe, one turn (~20 min)
    .venv/bin/python bench/loop.py --recipes all --turns 2  # the full table (bench/README.md)

Prints figures and ratios against the base model measured in the same run; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from briefs import make_briefs

from redraft.backend.drafting import Drafter
from redraft.backend.versions import ActiveModel
from redraft.editdistance import normalise_whitespace, normalised_edit_distance
from redraft.exporters.pipeline import ExportOptions, run_export
from redraft.exporters.tokens import load_counter
from redraft.label_config.results import draft_prediction
from redraft.local.base import resolve_base
from redraft.local.catalog import served_models
from redraft.local.publish import announce, local_target
from redraft.local.server import LocalServer, free_port
from redraft.prompting import LearnedNote, build_messages, load_template
from redraft.report.calibration import spearman_interval
from redraft.report.stats import mean_interval
from redraft.scoring.confidence import confidence, draft_signals, fit_calibration
from redraft.settings import Settings
from redraft.simulate.annotate import annotation_results
from redraft.simulate.messy import MESSY, Messiness, messy_edit
from redraft.simulate.rules import WriterRules, load_rules
from redraft.simulate.writers import WriterVerdict, rule_checks, simulate_edit
from redraft.styles.mining import learn_styles
from redraft.styles.notes import apply_notes, notes_of
from redraft.styles.source import edit_records
from redraft.training.exportdir import load_export
from redraft.training.registry import open_registry
from redraft.training.source import active_model_for
from redraft.training.trl_lora import TrlParams
from redraft.training.trl_trainer import train_trl

# recipe -> the TrlParams changes it makes to the defaults (output_dir and base are filled in).
RECIPES: dict[str, dict[str, Any]] = {
    "sft-only": {"skip_dpo": True},
    "sft-then-dpo": {"dpo_sft_weight": 0.0},
    "default": {},
    "continue": {},  # the defaults, but from turn 2 on it continues the previous adapter
    "notes-only": {},  # no training: learned style notes in the prompt of the base model
    "notes+default": {},  # learned style notes in the prompt, and the default fine-tune on it
    # notes+default with fewer optimizer steps: what a shorter turn costs in learning (issue 21)
    "notes+sft26+dpo4": {"sft_max_steps": 26, "dpo_max_steps": 4},
    "notes+sft20+dpo4": {"sft_max_steps": 20, "dpo_max_steps": 4},
}
# Recipes whose later turns continue the previous turn's adapter on that turn's annotations
# only, instead of training a fresh adapter on every annotation so far.
CONTINUING = {"continue"}
# Recipes that learn each client's style notes from the annotations so far (`redraft styles
# learn`, default thresholds) and draft with them in the prompt (`redraft styles apply`).
NOTES = {"notes-only", "notes+default", "notes+sft26+dpo4", "notes+sft20+dpo4"}
UNTRAINED = {"notes-only"}
STAMP = "2026-12-01T10:00:00.000000Z"


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Round:
    """One version drafting the held-out briefs, and what the writers made of the drafts."""

    label: str
    costs: dict[str, list[float]] = field(default_factory=dict)  # group -> per-brief costs
    accepted: dict[str, list[bool]] = field(default_factory=dict)
    follows: dict[str, dict[str, list[bool]]] = field(default_factory=dict)  # group -> rule
    scores: list[float] = field(default_factory=list)  # the draft's confidence, per brief
    drafts: list[dict[str, Any]] = field(default_factory=list)  # brief, draft, final, cost
    failed: int = 0
    seconds: float = 0.0


def group_of(rules: WriterRules) -> str:
    return "tuned clients" if rules.tuned else "untuned clients"


Notes = dict[str, tuple[LearnedNote, ...]]  # client -> its learned style notes


@dataclass(frozen=True)
class Writers:
    """The simulated writers' edit: clean (rules only) or with a `Messiness`."""

    mess: Messiness | None = None

    def edit(self, rules: WriterRules, data: dict[str, Any], draft: str) -> WriterVerdict:
        if self.mess is None:
            return simulate_edit(rules, data, draft)
        return messy_edit(rules, data, draft, self.mess)

    def describe(self) -> str:
        if self.mess is None:
            return "clean (each writer makes only the edits its rules ask for)"
        m = self.mess
        return (
            f"messy ({m.rewrite_share:.0%} of edited sentences rewritten whole, "
            f"{m.second_writer_share:.0%} of tasks to a disagreeing colleague, "
            f"{m.accept_weak_share:.0%} of weak drafts accepted as is, "
            f"{m.churn_share:.0%} of edits with churn)"
        )


def learn_notes(tasks: list[dict[str, Any]], out: Path) -> tuple[Path, Notes]:
    """The shipped template plus the style notes mined from `tasks`, written to `out`."""
    source = edit_records(tasks, load_template(None))
    findings = learn_styles(source.records)
    learned = {client: tuple(notes_of(found)) for client, found in findings.items()}
    text = resources.files("redraft.templates").joinpath("default.toml").read_text("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(apply_notes(text, learned))
    return out, learned


class Drafted(NamedTuple):
    """One draft as the backend got it: its text (None: failed) and what the endpoint said."""

    text: str | None
    token_confidence: float | None = None  # None where the server gives no log-probabilities
    truncated: bool = False


Annotated = tuple[dict[str, Any], Drafted, str]  # (brief, draft, the writer's final)


@dataclass(frozen=True)
class Scorer:
    """The drafts' confidence as the backend computes it after a turn: the learned rules in the
    prompt, the model's token confidence where the local server returns log-probabilities
    (llama-server does; llama-cpp-python's server is asked for none), and a fit on the turn's
    annotated drafts."""

    notes: Notes
    annotated: tuple[Annotated, ...] = ()

    @cached_property
    def fit(self) -> Any:
        rows = [
            (self.signals(d, drafted), normalised_edit_distance(drafted.text or "", final))
            for d, drafted, final in self.annotated
        ]
        return fit_calibration(rows)

    def score(self, data: dict[str, Any], drafted: Drafted) -> float:
        return confidence(self.signals(data, drafted), self.fit).score

    def signals(self, data: dict[str, Any], drafted: Drafted) -> Any:
        notes = self.notes.get(data["client"], ())
        text = drafted.text or ""
        return draft_signals(text, data, notes, drafted.token_confidence, drafted.truncated)


def draft_all(drafter: Drafter, model: ActiveModel, briefs: list[dict[str, Any]]) -> list[Drafted]:
    tasks = [{"id": i + 1, "data": data} for i, data in enumerate(briefs)]
    return [
        Drafted(o.text, o.signals.token_confidence if o.signals else None, o.truncated)
        for o in drafter.draft_many(tasks, model)
    ]


def held_out_round(
    label: str,
    drafter: Drafter,
    model: ActiveModel,
    held_out: list[dict[str, Any]],
    rules: dict[str, WriterRules],
    writers: Writers,
    scorer: Scorer,
) -> Round:
    began = time.perf_counter()
    drafts = draft_all(drafter, model, held_out)
    result = Round(label)
    for data, drafted in zip(held_out, drafts, strict=True):
        writer = rules[data["client"]]
        group = group_of(writer)
        draft = drafted.text
        text = draft or ""
        result.failed += draft is None
        final = writers.edit(writer, data, text).final
        cost = normalised_edit_distance(text, final) if draft is not None else 1.0
        result.scores.append(scorer.score(data, drafted))
        result.drafts.append(
            {"brief": data, "final": final, "cost": cost, **drafted._asdict(), "draft": text}
        )
        for key in (group, "all clients"):
            result.costs.setdefault(key, []).append(cost)
            result.accepted.setdefault(key, []).append(
                draft is not None and normalise_whitespace(text) == normalise_whitespace(final)
            )
            for rule, ok in rule_checks(writer, data, text).items():
                result.follows.setdefault(key, {}).setdefault(rule, []).append(ok)
    result.seconds = time.perf_counter() - began
    return result


def round_figures(
    result: Round, stages: dict[str, float], annotated: list[Annotated]
) -> dict[str, Any]:
    """What --json keeps of a round: enough to refit and rescore it without drafting again."""
    return {
        "costs": result.costs,
        "stages": stages,
        "drafts": result.drafts,
        "annotated": [{"brief": d, **t._asdict(), "final": f} for d, t, f in annotated],
    }


SELECTIONS = ("random", "least-certain", "most-certain")


def chosen(
    pool: list[dict[str, Any]],
    drafts: list[str | None],
    scores: list[float],
    selection: str,
    per_client: int,
    seed: int,
) -> tuple[list[dict[str, Any]], list[str | None]]:
    """`per_client` briefs of each client from the pool, with their drafts: drawn at random,
    or the lowest (least-certain) or highest scores first, as a score-ordered queue gives them."""
    import random

    rng = random.Random(seed)
    picked: list[int] = []
    for client in dict.fromkeys(b["client"] for b in pool):
        mine = [i for i, b in enumerate(pool) if b["client"] == client]
        if selection == "random":
            picked += sorted(rng.sample(mine, per_client))
        else:
            ordered = sorted(mine, key=lambda i: (scores[i], i))  # ties: import order
            picked += (
                ordered[:per_client] if selection == "least-certain" else ordered[::-1][:per_client]
            )
    return [pool[i] for i in picked], [drafts[i] for i in picked]


def save(path: Path | None, figures: dict[str, Any]) -> None:
    """Write --json after every round, so a run cut short keeps what it measured."""
    if path is not None:
        path.write_text(json.dumps(figures, indent=2))


def ls_task(
    task_id: int, data: dict[str, Any], draft: str, version: str, verdict: WriterVerdict
) -> dict[str, Any]:
    """A completed task as Label Studio's snapshot export has it (what `export` reads)."""
    prediction = draft_prediction(draft, version)
    return {
        "id": task_id,
        "project": 1,
        "data": data,
        "predictions": [{"id": task_id, "task": task_id, **prediction, "created_at": STAMP}],
        "annotations": [
            {
                "id": task_id,
                "result": annotation_results(draft, verdict),
                "parent_prediction": task_id,
                "completed_by": 1,
                "was_cancelled": False,
                "lead_time": 60.0,
                "created_at": STAMP,
                "updated_at": STAMP,
            }
        ],
    }


def speed(
    settings: Settings,
    url: str,
    model: str,
    prompts: list[list[dict[str, str]]],
    concurrency: int,
    count_tokens: Any,
) -> str:
    """Drafting throughput and latency through the local server at a given concurrency.

    The local front answers from the model's stream, which carries no token usage, so the
    completion's tokens are counted with the base model's tokenizer."""
    from redraft.openai_client import openai_client

    client = openai_client(
        settings.with_overrides(request_timeout=600.0), base_url=url, api_key="local"
    )

    def one(messages: list[dict[str, str]]) -> tuple[float, int]:
        began = time.perf_counter()
        response = client.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            temperature=0,
            max_tokens=320,
        )
        text = response.choices[0].message.content or ""
        tokens = response.usage.completion_tokens if response.usage else count_tokens(text)
        return time.perf_counter() - began, tokens

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, prompts))
    wall = time.perf_counter() - began
    tokens = sum(t for _, t in results)
    latency = statistics.mean(s for s, _ in results)
    return (
        f"concurrency {concurrency}: {tokens / wall:.1f} tokens/s over {len(prompts)} drafts, "
        f"mean latency {latency:.2f} s, {tokens / len(prompts):.0f} tokens per draft"
    )


@contextmanager
def stage(stages: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the block to stages[name]."""
    began = time.perf_counter()
    yield
    stages[name] = stages.get(name, 0.0) + time.perf_counter() - began


def print_stages(stages: dict[str, float]) -> None:
    print(
        "  stage times: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in stages.items())
        + f"; the turn took {sum(stages.values()) / 60:.1f} min"
    )


def pct(value: float | None) -> str:
    return "  n/a" if value is None else f"{100 * value:5.1f}%"


def print_selections(
    rounds: dict[tuple[str, str, int], Round], recipes: list[str], selections: list[str], pool: int
) -> None:
    """Turn 1 trained on briefs a score-ordered queue picks vs. on briefs drawn at random: the
    held-out edit distance of each, and their paired difference on the same held-out briefs."""
    for recipe in recipes:
        random_arm = rounds.get((recipe, "random", 1))
        print(f"\n{recipe}, turn 1 trained on briefs chosen from a pool of {pool}:")
        for selection in selections:
            arm = rounds.get((recipe, selection, 1))
            if arm is None:
                continue
            cost = mean_interval(arm.costs["all clients"], bounds=(0.0, 1.0))
            line = f"  {selection:<14} held-out edit distance {pct(cost.value)} "
            line += f"[{pct(cost.low).strip()}, {pct(cost.high).strip()}]"
            if random_arm is not None and selection != "random":
                pairs = zip(arm.costs["all clients"], random_arm.costs["all clients"], strict=True)
                diff = mean_interval([a - b for a, b in pairs])
                verdict = (
                    "beats random"
                    if diff.high is not None and diff.high < 0
                    else "worse than random"
                    if diff.low is not None and diff.low > 0
                    else "no different from random within the interval"
                )
                line += (
                    f"; minus random {100 * (diff.value or 0):+.1f} points "
                    f"[{100 * (diff.low or 0):+.1f}, {100 * (diff.high or 0):+.1f}]: {verdict}"
                )
            print(line)


def print_round(result: Round, baseline: Round | None) -> None:
    for group in ("all clients", "tuned clients", "untuned clients"):
        costs = result.costs.get(group, [])
        if not costs:
            continue
        estimate = mean_interval(costs, bounds=(0.0, 1.0))
        low = estimate.low if estimate.low is not None else math.nan
        high = estimate.high if estimate.high is not None else math.nan
        line = (
            f"  {group:<16} edit distance {pct(estimate.value)} "
            f"[{100 * low:.1f}, {100 * high:.1f}]  accepted as is "
            f"{pct(sum(result.accepted[group]) / len(costs))}  (n={len(costs)})"
        )
        if baseline is not None and baseline.costs.get(group) and estimate.value is not None:
            base = statistics.mean(baseline.costs[group])
            ratio = estimate.value / base
            change = (
                f"{100 * (1 - ratio):.0f}% less" if ratio <= 1 else f"{100 * (ratio - 1):.0f}% more"
            )
            line += f"  ratio to base {ratio:.2f} ({change} editing)"
        print(line)
        follows = result.follows.get(group, {})
        shares = "  ".join(
            f"{rule} {pct(sum(v) / len(v)).strip()}" for rule, v in sorted(follows.items())
        )
        print(f"  {'':<16} drafts following each rule: {shares}")
    kept = [1.0 - cost for cost in result.costs.get("all clients", [])]
    rho = spearman_interval(result.scores, kept)
    if rho.value is None:
        print("  confidence score vs held-out edit cost: n/a (the score did not vary)")
    else:
        print(
            f"  confidence score vs held-out edit cost: rank correlation {rho.value:+.2f} "
            f"[{rho.low:+.2f}, {rho.high:+.2f}] (higher score, less editing: positive)"
        )
    if result.failed:
        print(f"  {result.failed} held-out brief(s) got no draft (counted as fully rewritten)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", default="default", help="comma list, or all")
    parser.add_argument("--turns", type=int, default=1)
    parser.add_argument("--train-per-client", type=int, default=10, help="annotations per turn")
    parser.add_argument("--held-out-per-client", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--writers",
        choices=("clean", "messy"),
        default="clean",
        help="messy: rewrites, a disagreeing colleague, weak drafts accepted, churn",
    )
    parser.add_argument("--home", type=Path, default=None, help="keep state here (default: temp)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--max-steps", type=int, default=-1, help="cap every stage (smoke runs)")
    parser.add_argument(
        "--one-turn", default="", help="comma list of recipes that run only the first turn"
    )
    parser.add_argument(
        "--skip-speed", action="store_true", help="do not time drafting at 1 and 4 at once first"
    )
    parser.add_argument(
        "--pool-per-client",
        type=int,
        default=0,
        help="choose turn 1's annotations from this many briefs per client (with --select)",
    )
    parser.add_argument(
        "--select",
        default="random,least-certain",
        help="with --pool-per-client: comma list of random, least-certain, most-certain",
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    one_turn = set(filter(None, args.one_turn.split(",")))
    recipes = list(RECIPES) if args.recipes == "all" else args.recipes.split(",")
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe(s) {unknown}; known: {', '.join(RECIPES)}")

    scratch = tempfile.TemporaryDirectory(prefix="redraft-bench-loop-")
    home = args.home or Path(scratch.name)
    rules = load_rules()
    clients = sorted(rules, key=lambda c: (not rules[c].tuned, c))
    selections = [s for s in args.select.split(",") if s] if args.pool_per_client else [""]
    if args.pool_per_client and args.pool_per_client < args.train_per_client:
        parser.error("--pool-per-client must be at least --train-per-client")
    if not set(selections) <= set(SELECTIONS) | {""}:
        parser.error(f"unknown --select; known: {', '.join(SELECTIONS)}")
    trained_briefs = max(args.train_per_client * args.turns, args.pool_per_client)
    pools = {
        c: make_briefs(c, trained_briefs + args.held_out_per_client, args.seed) for c in clients
    }
    held_out = [b for c in clients for b in pools[c][: args.held_out_per_client]]
    batches = [
        [
            b
            for c in clients
            for b in pools[c][
                args.held_out_per_client + t * args.train_per_client : args.held_out_per_client
                + (t + 1) * args.train_per_client
            ]
        ]
        for t in range(args.turns)
    ]
    port = free_port()
    settings = Settings.from_env({"REDRAFT_HOME": str(home)}).with_overrides(
        local_port=port, temperature=0.0, max_tokens=320, max_concurrency=2,
        request_timeout=600.0, cache_enabled=False,
    )  # fmt: skip
    base = resolve_base(settings.local_model)
    settings = settings.with_overrides(
        openai_base_url=settings.local_url, openai_api_key="local", model=base.model_id
    )
    template = load_template(None)
    writers = Writers(MESSY if args.writers == "messy" else None)
    print("bench/loop.py — all figures from SIMULATED WRITERS (rule-based, deterministic)")
    print(f"writers: {writers.describe()}")
    print(
        f"clients: {', '.join(f'{c} ({group_of(rules[c]).split()[0]})' for c in clients)}; "
        f"{len(batches[0])} annotations per turn, {len(held_out)} held-out briefs; "
        f"base {base.model_id}; template {template.name}"
    )
    began = time.perf_counter()
    server = LocalServer(lambda: served_models(settings), workdir=home / "run", port=port)
    with server:
        say(f"local server up in {time.perf_counter() - began:.1f} s at {server.url}")
        prompts = [build_messages(b, template) for b in held_out[:8]]
        target = local_target(settings)
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(target.hf_dir))

        def count_tokens(text: str) -> int:
            return len(tokenizer.encode(text, add_special_tokens=False))

        if not args.skip_speed:
            print(
                f"drafting speed through the local server ({server.engine.name}, {base.model_id}):"
            )
            for concurrency in (1, 4):
                line = speed(
                    settings, server.url, base.model_id, prompts, concurrency, count_tokens
                )
                print("  " + line)
        drafter = Drafter(settings)
        base_model = ActiveModel(base.model_id, base.model_id, server.url, "local")
        baseline = held_out_round("base", drafter, base_model, held_out, rules, writers, Scorer({}))
        print(f"\nturn 0 (base model, held-out drafting {baseline.seconds:.0f} s)")
        print_round(baseline, None)
        registry = open_registry(settings)
        drafted_at = time.perf_counter()
        if args.pool_per_client:
            pool = [
                b
                for c in clients
                for b in pools[c][
                    args.held_out_per_client : args.held_out_per_client + args.pool_per_client
                ]
            ]
            pool_drafts = draft_all(drafter, base_model, pool)
            # The score the queue orders by before any annotation: no notes, no fit yet.
            pool_scores = [Scorer({}).score(d, t) for d, t in zip(pool, pool_drafts, strict=True)]
            arms = {
                sel: chosen(pool, pool_drafts, pool_scores, sel, args.train_per_client, args.seed)
                for sel in selections
            }
            for sel, (briefs, _) in arms.items():
                picked = [pool_scores[pool.index(b)] for b in briefs]
                print(
                    f"{sel}: {len(briefs)} of {len(pool)} pool briefs, mean base score "
                    f"{statistics.fmean(picked):.3f} (pool {statistics.fmean(pool_scores):.3f})"
                )
        else:
            arms = {"": (batches[0], draft_all(drafter, base_model, batches[0]))}
        first_seconds = time.perf_counter() - drafted_at
        rounds: dict[tuple[str, str, int], Round] = {}  # (recipe, selection, turn) -> round
        figures: dict[str, Any] = {"baseline": {"costs": baseline.costs, "drafts": baseline.drafts}}
        save(args.json, figures)
        for recipe, selection in [(r, sel) for r in recipes for sel in arms]:
            model, tasks, previous = base_model, [], None
            annotated: list[Annotated] = []
            arm_batch, first_drafts = arms[selection]
            turns = [arm_batch, *batches[1:]]
            for turn, batch in enumerate(turns[:1] if recipe in one_turn else turns, start=1):
                stages: dict[str, float] = {"draft": first_seconds} if turn == 1 else {}
                if turn == 1:
                    drafts = first_drafts
                else:
                    with stage(stages, "draft"):
                        drafts = draft_all(drafter, model, batch)
                with stage(stages, "simulate"):
                    verdicts = [
                        writers.edit(rules[d["client"]], d, t.text or "")
                        for d, t in zip(batch, drafts, strict=True)
                    ]
                for data, drafted, verdict in zip(batch, drafts, verdicts, strict=True):
                    draft = drafted.text or ""
                    tasks.append(ls_task(len(tasks) + 1, data, draft, model.name, verdict))
                    annotated.append((data, drafted, verdict.final))
                name = f"{recipe}-t{turn}" + (f"-{selection}" if selection else "")
                notes_path, notes_line, notes = None, "", {}
                if recipe in NOTES:
                    with stage(stages, "learn notes"):
                        notes_path, notes = learn_notes(tasks, home / "templates" / f"{name}.toml")
                    count = sum(len(n) for n in notes.values())
                    notes_line = f", {count} learned style rules in the prompt"
                scorer = Scorer(notes, tuple(annotated))
                if recipe in UNTRAINED:
                    assert notes_path is not None
                    model = replace(base_model, name=name, template_path=str(notes_path))
                    with stage(stages, "redraft held-out"):
                        result = held_out_round(
                            name, drafter, model, held_out, rules, writers, scorer
                        )
                    print(
                        f"\n{recipe}, turn {turn}: {len(tasks)} annotations, no training"
                        + notes_line
                    )
                    print_round(result, baseline)
                    print_stages(stages)
                    figures[name] = round_figures(result, stages, annotated)
                    save(args.json, figures)
                    continue
                continuing = recipe in CONTINUING and previous is not None
                previous_name = previous.name if previous is not None else None
                shared = f"default-t{turn}"
                reusable = shared in {v.name for v in registry.list()}
                if turn == 1 and recipe in CONTINUING and reusable:
                    # Turn 1 of a continuing recipe is the default recipe's turn 1: reuse it.
                    previous = registry.get(shared)
                    model = active_model_for(previous, settings)
                    print(f"\n{recipe}, turn 1: the same as {shared} (reused)")
                    continue
                out = home / "exports" / name
                with stage(stages, "export"):
                    options = ExportOptions(validation_ratio=0.0)
                    exported = tasks[-len(batch) :] if continuing else list(tasks)
                    prompts = load_template(notes_path) if notes_path else template
                    manifest = run_export(
                        exported, out, prompts, load_counter(), options, {"kind": "bench"}
                    )
                params = replace(
                    TrlParams(str(target.hf_dir), home / "adapters" / name),
                    max_steps=args.max_steps,
                    start_adapter=Path(previous.metrics["adapter"]) if continuing else None,
                    **RECIPES[recipe],
                )
                with stage(stages, "train"):
                    version = train_trl(
                        registry, load_export(out), params, report=say, name=name, local=target
                    )
                with stage(stages, "serve"):
                    announce(target, version.model_id, say)
                with stage(stages, "promote"):
                    registry.promote(version.name)
                previous = registry.get(version.name)
                model = active_model_for(previous, settings)
                if notes_path is not None:
                    model = replace(model, template_path=str(notes_path))
                with stage(stages, "redraft held-out"):
                    result = held_out_round(name, drafter, model, held_out, rules, writers, scorer)
                counts = manifest.counts
                sft, dpo = version.metrics.get("sft", {}), version.metrics.get("dpo", {})
                print(
                    f"\n{recipe}{f' ({selection})' if selection else ''}, turn {turn}: "
                    f"{counts['tasks_exported']} annotations "
                    f"({counts['cases']}), SFT {sft.get('steps')} steps "
                    f"{sft.get('seconds_per_step')} s/step, DPO {dpo.get('steps', 0)} steps "
                    f"{dpo.get('seconds_per_step', '-')} s/step, {version.metrics.get('precision')}"
                    + (f", continuing {previous_name}" if continuing else "")
                    + notes_line
                )
                print_round(result, baseline)
                print_stages(stages)
                figures[name] = round_figures(result, stages, annotated)
                save(args.json, figures)
                rounds[(recipe, selection, turn)] = result
        drafter.close()
    if args.pool_per_client:
        print_selections(rounds, recipes, selections, args.pool_per_client * len(clients))
    print(f"\nwhole run {(time.perf_counter() - began) / 60:.1f} min (simulated writers)")


if __name__ == "__main__":
    main()
