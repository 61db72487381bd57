"""Benchmark: the local server's engines — llama-cpp-python's server and llama-server.

`redraft local serve` runs llama-cpp-python's server (one request at a time per process; one
process per core, up to four) or llama.cpp's own `llama-server` (parallel slots, continuous
batching), on the same SmolLM2-135M Q4_1 GGUF. Through the real front (redraft.local.server),
with the same prompts (the shipped template on briefs of the five simulated-writer clients,
bench/briefs.py), this measures, for one llama-cpp-python process using every core (the
baseline: the front before it ran a process per core), the default processes, and llama-server
where REDRAFT_LLAMA_SERVER_BIN names one, in each `--layouts` PROCESSESxSLOTS (the cores'
threads split among the processes):

1. **speed**: drafts per minute and generated tokens per second with 1, 2 and 4 requests at
   once (temperature 0, so both engines write drafts of comparable length; tokens are counted
   with the model's own tokenizer, the same for both);
2. **same drafts**: at temperature 0, how many held-out drafts are the same text as the
   baseline's, and the mean edit distance between the two;
3. **quality**: the held-out edit distance against the simulated writers (drafted through
   redraft's Drafter, as bench/loop.py measures the base model), with 95% intervals.

Prints each engine's ratios to the baseline measured in the same run; asserts nothing. Every
engine is started first and the speed runs take turns, engine after engine, so that a slower
minute of the machine (its other work) falls on all of them; --repeat runs them again and the
median counts. `REDRAFT_LOCAL_MODEL` names another base, as for `redraft local serve`.

    [REDRAFT_LLAMA_SERVER_BIN=.cache/llama-server-0.3.36/llama-server] \\
      .venv/bin/python bench/local_server.py [--drafts 8] [--concurrency 1,2,4] \\
      [--layouts 1x4,2x2,2x4] [--held-out-per-client 6] [--repeat 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from briefs import make_briefs

from redraft.backend.drafting import Drafter
from redraft.backend.versions import ActiveModel
from redraft.editdistance import normalised_edit_distance
from redraft.local.base import resolve_base
from redraft.local.catalog import served_models
from redraft.local.server import (
    LLAMA_SERVER_ENV,
    Engine,
    LocalServer,
    find_engine,
    free_port,
    python_engine,
    usable_cores,
)
from redraft.openai_client import openai_client
from redraft.prompting import build_messages, load_template
from redraft.report.stats import mean_interval
from redraft.settings import Settings
from redraft.simulate.rules import load_rules
from redraft.simulate.writers import simulate_edit


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def speed(
    settings: Settings,
    url: str,
    model: str,
    prompts: list[list[dict[str, str]]],
    concurrency: int,
    count_tokens: Any,
) -> tuple[float, float, float]:
    """Drafts per minute, generated tokens per second and mean latency at `concurrency`."""
    client = openai_client(
        settings.with_overrides(request_timeout=600.0), base_url=url, api_key="local"
    )

    def one(messages: list[dict[str, str]]) -> tuple[float, int]:
        began = time.perf_counter()
        response = client.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            temperature=0,
            max_tokens=settings.max_tokens,
        )
        return time.perf_counter() - began, count_tokens(response.choices[0].message.content)

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, prompts))
    wall = time.perf_counter() - began
    client.close()
    tokens = sum(t for _, t in results)
    return len(prompts) / wall * 60, tokens / wall, statistics.mean(s for s, _ in results)


def held_out(
    settings: Settings, url: str, model: str, briefs: list[dict[str, Any]]
) -> list[str | None]:
    """The held-out drafts as redraft's Drafter writes them (sized to the server's header)."""
    drafter = Drafter(settings, cache=None)
    try:
        active = ActiveModel(model, model, url, "local")
        tasks = [{"id": i + 1, "data": data} for i, data in enumerate(briefs)]
        return [o.text for o in drafter.draft_many(tasks, active)]
    finally:
        drafter.close()


def edit_costs(briefs: list[dict[str, Any]], drafts: list[str | None]) -> list[float]:
    """Per brief: the normalised edit distance from the draft to its simulated writer's final."""
    rules = load_rules()
    costs = []
    for data, draft in zip(briefs, drafts, strict=True):
        if draft is None:
            costs.append(1.0)
            continue
        final = simulate_edit(rules[data["client"]], data, draft).final
        costs.append(normalised_edit_distance(draft, final))
    return costs


def interval(costs: list[float]) -> str:
    e = mean_interval(costs, bounds=(0.0, 1.0))
    assert e.value is not None and e.low is not None and e.high is not None
    return f"{100 * e.value:5.1f}% [{100 * e.low:.1f}, {100 * e.high:.1f}] (n={e.n})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drafts", type=int, default=8, help="drafts per speed run")
    parser.add_argument("--concurrency", default="1,2,4", help="requests at once, comma list")
    parser.add_argument(
        "--layouts",
        default="1x4,2x2,2x4",
        help="llama-server layouts to measure, comma list of PROCESSESxSLOTS",
    )
    parser.add_argument("--held-out-per-client", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=320)
    parser.add_argument("--repeat", type=int, default=1, help="speed runs per engine and level")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    levels = [int(c) for c in args.concurrency.split(",")]
    processes = python_engine()
    engines = {"llama-cpp-python x1": Engine()}  # x1 twice on one core: the same engine
    engines[f"llama-cpp-python x{processes.parallel}"] = processes
    llama_server = find_engine()
    if llama_server.binary is not None:
        for layout in filter(None, args.layouts.split(",")):
            servers, slots = (int(n) for n in layout.split("x"))
            engines[f"llama-server {servers}x{slots}"] = replace(
                llama_server, servers=servers, parallel=slots
            )
    else:
        say(f"llama-server: skipped ({LLAMA_SERVER_ENV} names none; ./dev setup builds one)")

    rules = load_rules()
    clients = sorted(rules, key=lambda c: (not rules[c].tuned, c))
    per_client = max(args.held_out_per_client, -(-args.drafts // len(clients)))
    pools = {c: make_briefs(c, per_client, seed=7) for c in clients}
    briefs = [b for c in clients for b in pools[c][: args.held_out_per_client]]
    interleaved = [pools[c][i] for i in range(per_client) for c in clients]
    template = load_template(None)
    prompts = [build_messages(b, template) for b in interleaved[: args.drafts]]

    from llama_cpp import Llama

    with tempfile.TemporaryDirectory(prefix="redraft-bench-local-") as work:
        home = Path(work)
        port = free_port()
        settings = Settings.from_env({**os.environ, "REDRAFT_HOME": str(home)}).with_overrides(
            local_port=port, temperature=0.0, max_tokens=args.max_tokens,
            request_timeout=600.0, cache_enabled=False,
        )  # fmt: skip
        base = resolve_base(settings.local_model)
        settings = settings.with_overrides(
            openai_base_url=settings.local_url, openai_api_key="local", model=base.model_id
        )
        vocab = Llama(str(base.gguf), vocab_only=True, verbose=False)

        def count_tokens(text: str | None) -> int:
            return len(vocab.tokenize((text or "").encode(), add_bos=False, special=False))

        source = base.gguf.name if base.gguf else base.hf_dir
        print(
            f"bench/local_server.py — {base.model_id} ({source}), "
            f"{args.threads or usable_cores()} threads on {usable_cores()} cores; "
            f"{args.drafts} drafts per speed run, max_tokens {args.max_tokens}, temperature 0"
        )
        rates: dict[str, dict[int, list[tuple[float, float, float]]]] = {}
        drafts: dict[str, list[str | None]] = {}
        with contextlib.ExitStack() as running:
            servers = {}
            for i, (name, engine) in enumerate(engines.items()):
                began = time.perf_counter()
                servers[name] = running.enter_context(
                    LocalServer(
                        lambda: served_models(settings),
                        workdir=home / f"run-{i}",
                        port=free_port(),
                        threads=args.threads,
                        engine=engine,
                    )
                )
                say(f"{name}: up in {time.perf_counter() - began:.1f} s")
                speed(settings, servers[name].url, base.model_id, prompts[:1], 1, count_tokens)
            # Every engine waits, loaded, while another runs: the runs take turns, level by
            # level, so that the machine's slower and faster minutes fall on all of them.
            for _ in range(args.repeat):
                for level in levels:
                    for name, server in servers.items():
                        figures = speed(
                            settings, server.url, base.model_id, prompts, level, count_tokens
                        )
                        rates.setdefault(name, {}).setdefault(level, []).append(figures)
                        say(f"  {name} at {level}: {figures[0]:.1f} drafts/min")
            if not args.skip_quality:
                for name, server in servers.items():
                    began = time.perf_counter()
                    drafts[name] = held_out(settings, server.url, base.model_id, briefs)
                    say(f"  {name}: held-out drafts in {time.perf_counter() - began:.0f} s")

        print("\nspeed (median of runs; tokens/s = generated tokens / wall time):")
        first = next(iter(engines))
        for level in levels:
            for name in engines:
                runs = rates[name][level]
                per_min = statistics.median(r[0] for r in runs)
                tok_s = statistics.median(r[1] for r in runs)
                latency = statistics.median(r[2] for r in runs)
                line = (
                    f"  {level} at once  {name:<20} {per_min:6.1f} drafts/min  "
                    f"{tok_s:6.1f} tokens/s  mean latency {latency:5.1f} s"
                )
                if name != first:
                    base_rate = statistics.median(r[0] for r in rates[first][level])
                    line += f"  ratio {per_min / base_rate:.2f}"
                print(line)
        best = {n: max(statistics.median(r[0] for r in rates[n][c]) for c in levels) for n in rates}
        for name in list(engines)[1:]:
            print(
                f"  best drafts/min: {name} {best[name]:.1f} / {first} {best[first]:.1f} "
                f"= {best[name] / best[first]:.2f}"
            )
        if args.skip_quality:
            return
        print("\nsame drafts at temperature 0 as the baseline's:")
        for name in list(engines)[1:]:
            pairs = list(zip(drafts[first], drafts[name], strict=True))
            same = sum(x is not None and x == y for x, y in pairs)
            apart = statistics.mean(normalised_edit_distance(x or "", y or "") for x, y in pairs)
            print(
                f"  {name:<20} {same} of {len(pairs)} identical; mean edit distance between the "
                f"two {100 * apart:.1f}%"
            )
        print("held-out edit distance against the simulated writers (base model, 95% interval):")
        for name in engines:
            print(f"  {name:<20} {interval(edit_costs(briefs, drafts[name]))}")


if __name__ == "__main__":
    main()
