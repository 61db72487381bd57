"""Benchmark: N tasks in one /predict (fan-out) beside the same tasks one request at a time.

    python bench/predict_fanout.py [--tasks 200] [--latency-ms 500] [--concurrency 16]

Starts the OpenAI stand-in with a fixed latency and the backend on loopback (waitress), each
mode with a fresh cache so nothing is free, then measures a full cache hit. Prints figures and
ratios; it asserts nothing about time (targets: fan-out within 1.3x of the ideal
ceil(N / concurrency) x latency; under 5 ms per task on a cache hit).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from redraft.backend.app import create_app
from redraft.backend.server import BackgroundServer
from redraft.settings import Settings
from redraft.standin.server import StandinConfig, StandinServer


def make_tasks(n: int) -> list[dict[str, Any]]:
    """N distinct briefs (distinct prompts, so distinct cache keys)."""
    return [
        {
            "id": i + 1,
            "data": {
                "brief": f"Offer a 20-minute demo of our scheduling tool to clinic #{i}.",
                "client": "Northwind Analytics",
                "recipient": f"Dr. Reader {i}",
                "company": f"Clinic {i}",
            },
        }
        for i in range(n)
    ]


def backend(settings: Settings, home: Path, threads: int) -> BackgroundServer:
    """A backend with its own REDRAFT_HOME (so its own, empty cache)."""
    return BackgroundServer(create_app(settings.with_overrides(home=home)), threads=threads)


def drafted(body: dict[str, Any]) -> int:
    return sum(1 for r in body["results"] if r)


def run(args: argparse.Namespace) -> None:
    tasks = make_tasks(args.tasks)
    latency = args.latency_ms / 1000
    with (
        tempfile.TemporaryDirectory() as tmp,
        StandinServer(StandinConfig(latency_ms=args.latency_ms)) as standin,
    ):
        settings = Settings.from_env({"OPENAI_API_KEY": "sk-bench"}).with_overrides(
            openai_base_url=standin.base_url,
            max_concurrency=args.concurrency,
            request_timeout=max(30.0, 10 * latency),
            max_retries=0,
            predict_deadline=600.0,  # measure the whole fan-out, even for a large --tasks
        )
        session = requests.Session()

        with backend(settings, Path(tmp) / "fanout", args.threads) as server:
            start = time.perf_counter()
            body = session.post(f"{server.url}/predict", json={"tasks": tasks}, timeout=600).json()
            fanout_s = time.perf_counter() - start
            fanout_ok = drafted(body)
            model_calls = standin.request_count()
            peak = standin.peak_in_flight()

            # Cache hit: the same request again, every draft already stored.
            hits = []
            for _ in range(args.hit_rounds):
                start = time.perf_counter()
                again = session.post(f"{server.url}/predict", json={"tasks": tasks}, timeout=600)
                hits.append(time.perf_counter() - start)
                assert drafted(again.json()) == fanout_ok
            new_calls = standin.request_count() - model_calls

        if args.skip_sequential:
            seq_s = float("nan")
            seq_ok = 0
        else:
            with backend(settings, Path(tmp) / "sequential", args.threads) as server:
                seq_ok = 0
                start = time.perf_counter()
                for task in tasks:
                    one = session.post(f"{server.url}/predict", json={"tasks": [task]}, timeout=600)
                    seq_ok += drafted(one.json())
                seq_s = time.perf_counter() - start
        session.close()

    ideal_s = math.ceil(args.tasks / args.concurrency) * latency
    hit_ms = statistics.median(hits) / args.tasks * 1000
    print(
        f"tasks={args.tasks} latency={args.latency_ms}ms concurrency={args.concurrency} "
        f"backend_threads={args.threads}"
    )
    print(f"fan-out (one /predict):       {fanout_s:8.2f} s   drafted {fanout_ok}/{args.tasks}")
    print(f"sequential (one per request): {seq_s:8.2f} s   drafted {seq_ok}/{args.tasks}")
    print(f"sequential / fan-out:         {seq_s / fanout_s:8.1f} x")
    print(f"ideal ceil(N/c) x latency:    {ideal_s:8.2f} s")
    print(f"fan-out / ideal:              {fanout_s / ideal_s:8.2f} x   (target <= 1.3)")
    print(f"peak model calls in flight:   {peak:8d}     (bound {args.concurrency})")
    print(
        f"cache hit (one /predict):     {hit_ms:8.3f} ms/task (median of {args.hit_rounds}; "
        f"target < 5; {new_calls} new model calls)"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=8, help="backend HTTP worker threads")
    parser.add_argument("--hit-rounds", type=int, default=5)
    parser.add_argument(
        "--skip-sequential", action="store_true", help="skip the slow one-at-a-time baseline"
    )
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
