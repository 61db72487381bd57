"""Benchmark: does llama-server's n-gram speculative decoding draft faster, with the same drafts?

An e-mail repeats its brief's facts, and the base model's drafts repeat their own lines, so
guessing the next tokens from text already in the context (`--spec-type ngram-*`, no second
model) might pay. One llama-server process on every core with the arguments `redraft local
serve` gives it, once per `--spec-types` entry and once without; the shipped template on the
simulated-writer clients' briefs, the front's repeat penalty, temperature 0, max_tokens 320.
The servers start together and the runs take turns, round by round, so the machine's slower
minutes fall on all of them. Prints drafts per minute, generated tokens per second, the ratio
to the server without speculation at the same level, and how many drafts are the same text as
its; asserts nothing.

    .venv/bin/python bench/llama_speculative.py --server .cache/llama-server-0.3.36/llama-server \\
      [--spec-types ngram-simple,ngram-map-k,ngram-mod] [--drafts 10] [--concurrency 1,4] \\
      [--rounds 2] [--lora ADAPTER.gguf]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from briefs import make_briefs
from llama_batch import start_llama_server

from redraft.local.base import resolve_base
from redraft.local.server import REPEAT_PENALTY, ServedModel, lora_request
from redraft.machine import usable_cores
from redraft.prompting import build_messages, load_template
from redraft.simulate.rules import load_rules

NONE = "none"


def draft(port: int, body: dict[str, Any]) -> tuple[str, int]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.load(response)
    return answer["choices"][0]["message"]["content"], int(answer["usage"]["completion_tokens"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", type=Path, required=True, help="the llama-server program")
    parser.add_argument("--spec-types", default="ngram-simple,ngram-map-k,ngram-mod")
    parser.add_argument("--drafts", type=int, default=10)
    parser.add_argument("--concurrency", default="1,4")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--lora", type=Path, default=None, help="draft with this GGUF adapter")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    base = resolve_base(None)
    assert base.gguf is not None
    models = [ServedModel("base", base.gguf)]
    if args.lora:
        models.append(ServedModel("tuned", base.gguf, args.lora))
    model = models[-1].model_id
    rules = load_rules()
    per_client = -(-args.drafts // len(rules))
    pools = [make_briefs(c, per_client, seed=7) for c in sorted(rules)]
    briefs = [pool[i] for i in range(per_client) for pool in pools][: args.drafts]
    template = load_template(None)
    bodies = [
        {
            **REPEAT_PENALTY,
            "model": model,
            "messages": build_messages(b, template),
            "temperature": 0,
            "max_tokens": 320,
            "lora": lora_request(models, model),
        }
        for b in briefs
    ]
    variants = {NONE: []} | {t: ["--spec-type", t] for t in args.spec_types.split(",") if t}
    print(
        f"bench/llama_speculative.py — {base.gguf.name}, model {model}, {usable_cores()} "
        f"threads, {len(bodies)} drafts a run, max_tokens 320, temperature 0"
    )
    runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    texts: dict[str, list[str]] = {}
    servers = {}
    try:
        for name, extra in variants.items():
            servers[name] = start_llama_server(args.server, models, 2048, max(levels), extra)
            draft(servers[name][1], {**bodies[0], "max_tokens": 8})  # warm
        for _ in range(args.rounds):
            for level in levels:
                for name, (_, port) in servers.items():
                    began = time.perf_counter()
                    with ThreadPoolExecutor(level) as pool:
                        done = list(pool.map(lambda b, p=port: draft(p, b), bodies))
                    wall = time.perf_counter() - began
                    texts.setdefault(name, [t for t, _ in done])
                    tokens = sum(n for _, n in done)
                    rate = (len(done) / wall * 60, tokens / wall)
                    runs.setdefault((name, level), []).append(rate)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait()
    for level in levels:
        plain = statistics.median(r[0] for r in runs[(NONE, level)])
        for name in variants:
            per_min = statistics.median(r[0] for r in runs[(name, level)])
            tok_s = statistics.median(r[1] for r in runs[(name, level)])
            same = sum(a == b for a, b in zip(texts[NONE], texts[name], strict=True))
            print(
                f"  {level} at once  {name:<14} {per_min:5.1f} drafts/min  {tok_s:6.1f} tokens/s"
                f"  ratio {per_min / plain:.2f}  same drafts as none {same}/{len(bodies)}"
            )


if __name__ == "__main__":
    main()
