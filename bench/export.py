"""Benchmark `redraft export`: synthetic annotated tasks to every format, against a baseline.

The baseline only parses the same input and writes one JSONL line per task. Each run happens in
its own subprocess so peak memory (ru_maxrss) is that run's alone. Two sizes show whether memory
stays flat as the export grows. Prints figures and ratios; asserts nothing.

    .venv/bin/python bench/export.py                # 100,000 tasks (and 10,000 for the ratio)
    .venv/bin/python bench/export.py --tasks 20000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redraft.label_config.results import annotation_result, draft_result

WORDS = (
    "demo pipeline churn dashboard quarter team revenue onboarding audit data CRM forecast "
    "integration renewal pricing pilot Thursday workshop analytics report insight"
).split()
ISSUES = ["tone", "voice", "structure", "too long", "call to action", "grammar"]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _email(rng: random.Random) -> str:
    body = "\n\n".join(_text(rng, 30).capitalize() + "." for _ in range(3))
    return f"Subject: {_text(rng, 5)}\n\nHi {rng.choice(['Ada', 'Bob', 'Cy'])},\n\n{body}\n\nBest"


def synthetic_task(i: int, rng: random.Random) -> dict:
    """One task shaped like Label Studio's snapshot export, in one of the table's cases."""
    draft = _email(rng)
    case = i % 4
    final = draft if case in (1, 2) else _email(rng)
    score = {0: 2, 1: 5, 2: 1, 3: 4}[case]
    result = annotation_result(
        final=final, rating=score, issues=rng.sample(ISSUES, 2), feedback=_text(rng, 12)
    )
    return {
        "id": i,
        "data": {
            "brief": _text(rng, 40),
            "client": f"Client {i % 25}",
            "recipient": f"Recipient {i}",
            "company": f"Company {i % 500}",
            "goal": "book a demo",
            "email_type": "cold",
            "external_id": f"ext-{i}",
        },
        "predictions": [
            {
                "id": i,
                "model_version": "v1",
                "result": draft_result(draft),
                "score": None,
                "created_at": "2026-11-20T10:00:00Z",
            }
        ],
        "annotations": [
            {
                "id": i,
                "completed_by": 1 + i % 7,
                "result": result,
                "was_cancelled": i % 50 == 0,
                "ground_truth": False,
                "created_at": "2026-11-20T10:05:00Z",
                "updated_at": "2026-11-20T10:05:00Z",
                "lead_time": 60.0,
                "parent_prediction": i,
            }
        ],
    }


def write_input(path: Path, n: int) -> None:
    """A Label Studio JSON export (one array) with n tasks, written as it is generated."""
    rng = random.Random(7)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[\n")
        for i in range(1, n + 1):
            handle.write(("," if i > 1 else "") + json.dumps(synthetic_task(i, rng)) + "\n")
        handle.write("]\n")


def worker(kind: str, source: Path, out: Path) -> dict:
    """Run one measured job in this process; returns rows written, seconds and peak memory."""
    from redraft.exporters.reading import read_file_tasks

    started, cpu_started = time.perf_counter(), time.process_time()
    if kind == "baseline":
        rows = 0
        with open(out / "baseline.jsonl", "w", encoding="utf-8") as handle:
            for task in read_file_tasks(source):
                handle.write(json.dumps(task, ensure_ascii=False) + "\n")
                rows += 1
    else:
        from redraft.exporters.pipeline import ExportOptions, run_export
        from redraft.exporters.tokens import load_counter
        from redraft.prompting import load_template

        # Opened twice: once to plan the split (ids per client), once to write the rows.
        manifest = run_export(
            lambda: read_file_tasks(source),
            out / "export",
            load_template(None),
            load_counter(),
            ExportOptions(),
            {"kind": "file", "path": str(source)},
        )
        rows = sum(f["rows"] for n, f in manifest.files.items() if n.endswith(".jsonl"))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"kind": kind, "rows": rows, "seconds": seconds, "cpu": cpu, "peak_mib": peak_kib / 1024}


def measure(kind: str, source: Path, tmp: Path) -> dict:
    out = Path(tempfile.mkdtemp(dir=tmp))
    cmd = [sys.executable, __file__, "--worker", kind, "--input", str(source), "--out", str(out)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rate(full: dict, base: dict, clock: str) -> float:
    """Export rows per second over baseline rows per second, on one clock (wall or CPU)."""
    return (full["rows"] / full[clock]) / (base["rows"] / base[clock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--worker", choices=["baseline", "export"])
    parser.add_argument("--input", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.input, args.out)))
        return
    sizes = sorted({max(args.tasks // 10, 1), args.tasks})
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        results = {}
        for n in sizes:
            source = tmp / f"tasks-{n}.json"
            write_input(source, n)
            mib = source.stat().st_size / 2**20
            print(f"{n:,} tasks ({mib:,.0f} MiB of Label Studio JSON)", file=sys.stderr)
            for kind in ("baseline", "export"):
                r = measure(kind, source, tmp)
                results[(n, kind)] = r
                print(
                    f"  {kind:8}  {r['rows']:>9,} rows  {r['seconds']:7.1f} s  "
                    f"{r['rows'] / r['seconds']:>9,.0f} rows/s  {n / r['seconds']:>8,.0f} tasks/s  "
                    f"cpu {r['cpu']:6.1f} s  peak {r['peak_mib']:6.1f} MiB"
                )
            base, full = results[(n, "baseline")], results[(n, "export")]
            print(
                f"  export/baseline: {_rate(full, base, 'seconds'):.0%} of the baseline's rows/s "
                f"({_rate(full, base, 'cpu'):.0%} per CPU second), "
                f"{full['seconds'] / base['seconds']:.1f}x the time, "
                f"{full['peak_mib'] / base['peak_mib']:.2f}x the peak memory"
            )
        if len(sizes) == 2:
            small, large = (results[(n, "export")]["peak_mib"] for n in sizes)
            print(
                f"peak memory at {sizes[1]:,} vs {sizes[0]:,} tasks: {large / small:.2f}x "
                f"({small:.1f} -> {large:.1f} MiB) for {sizes[1] / sizes[0]:.0f}x the tasks"
            )


if __name__ == "__main__":
    main()
