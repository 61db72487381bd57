"""Benchmark: drafting at the defaults vs. the best hand-set concurrency, per kind of endpoint.

Drafting sizes its concurrency and timeouts to the endpoint (redraft.backend.pacing). This
measures what that costs against the best fixed setting found by trying several, on:

1. the local server (`redraft local serve`: llama-cpp-python, SmolLM2-135M, one request at a
   time), the drafts a real model writes;
2. the OpenAI stand-in with a fixed latency and a concurrency limit (429 beyond
   `--max-in-flight` requests), as a rate-limited hosted endpoint behaves.

Each mode drafts the same briefs with a fresh drafter (no cache); drafts per minute, the
failures, and the ratio of the defaults to the best hand-set run (target >= 0.9).

    .venv/bin/python bench/pacing.py [--local-tasks 12] [--standin-tasks 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from briefs import make_briefs

from redraft.backend.drafting import Drafter
from redraft.backend.versions import ActiveModel
from redraft.local.base import resolve_base
from redraft.local.catalog import served_models
from redraft.local.server import LocalServer, free_port
from redraft.settings import Settings
from redraft.standin.config import StandinConfig
from redraft.standin.server import StandinServer


def run(
    settings: Settings, active: ActiveModel, tasks: list[dict[str, object]], *, adaptive: bool
) -> tuple[float, int, int]:
    """Drafts per minute, failures, and the final concurrency limit for one fresh drafter."""
    drafter = Drafter(settings, cache=None, adaptive=adaptive)
    try:
        began = time.perf_counter()
        outcomes = drafter.draft_many(tasks, active)
        minutes = (time.perf_counter() - began) / 60
        limit = drafter.pace_for(active).limit
    finally:
        drafter.close()
    ok = sum(o.ok for o in outcomes)
    return ok / minutes, len(outcomes) - ok, limit


def compare(
    title: str,
    defaults: Settings,
    hand_set: list[int],
    active: ActiveModel,
    tasks: list[dict[str, object]],
) -> None:
    print(f"\n{title}: {len(tasks)} drafts per run")
    rates = {}
    for concurrency in hand_set:
        # Hand-set: exactly this many calls at once and a long timeout, as before pacing.
        fixed = defaults.with_overrides(max_concurrency=concurrency, request_timeout=600.0)
        rate, failed, _ = run(fixed, active, tasks, adaptive=False)
        rates[concurrency] = rate
        print(
            f"  hand-set concurrency {concurrency:>2}:  {rate:7.1f} drafts/min  ({failed} failed)"
        )
    rate, failed, limit = run(defaults, active, tasks, adaptive=True)
    best = max(rates, key=lambda c: rates[c])
    print(
        f"  defaults (adaptive):      {rate:7.1f} drafts/min  ({failed} failed; "
        f"limit settled at {limit})"
    )
    print(f"  defaults / best hand-set ({best}): {rate / rates[best]:.2f}  (target >= 0.9)")


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-tasks", type=int, default=12)
    parser.add_argument("--standin-tasks", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--max-in-flight", type=int, default=4)
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    briefs = make_briefs("Kestrel Freight", max(args.local_tasks, args.standin_tasks), seed=11)
    tasks = [{"id": i, "data": b} for i, b in enumerate(briefs, 1)]

    with tempfile.TemporaryDirectory(prefix="redraft-bench-") as work:
        home = Path(work)
        base_env = {"REDRAFT_HOME": str(home), "OPENAI_API_KEY": "sk-bench"}

        standin = StandinServer(
            StandinConfig(latency_ms=args.latency_ms, max_in_flight=args.max_in_flight)
        ).start()
        try:
            defaults = Settings.from_env(base_env).with_overrides(
                openai_base_url=standin.base_url, cache_enabled=False
            )
            active = ActiveModel("bench", "gpt-4o-mini", standin.base_url)
            compare(
                f"stand-in, {args.latency_ms} ms a draft, 429 beyond "
                f"{args.max_in_flight} in flight",
                defaults,
                [1, 2, 4, 8, 16],
                active,
                tasks[: args.standin_tasks],
            )
        finally:
            standin.stop()

        if args.skip_local:
            return
        port = free_port()
        defaults = Settings.from_env({**base_env, "REDRAFT_LOCAL_PORT": str(port)})
        base = resolve_base(defaults.local_model)
        defaults = defaults.with_overrides(
            openai_base_url=defaults.local_url,
            openai_api_key="local",
            model=base.model_id,
            cache_enabled=False,
            temperature=0.0,  # every run writes the same drafts, so drafts/min compare
        )
        server = LocalServer(lambda: served_models(defaults), workdir=home / "run", port=port)
        with server:
            active = ActiveModel("bench", base.model_id, server.url, "local")
            compare(
                "local server (llama-cpp-python, SmolLM2-135M, 2 CPU cores), real drafts",
                defaults,
                [1, 2, 4],
                active,
                tasks[: args.local_tasks],
            )


if __name__ == "__main__":
    main()
