"""Benchmark: `redraft prefill` vs Label Studio's own "Retrieve predictions" on the same tasks.

A real Label Studio (copied template data dir), the stand-in model at a fixed latency, the
backend on loopback. Project A: prefill drafts N tasks. Project B (same briefs, backend
connected): the Data Manager action retrieve_tasks_predictions on all of them, which sends
every task to /predict in one request. The draft cache is off so both pay for every draft.

    .venv/bin/python bench/prefill.py --tasks 500 --latency-ms 500 --concurrency 16
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from redraft.backend.app import create_app  # noqa: E402
from redraft.backend.drafting import Drafter  # noqa: E402
from redraft.backend.server import BackgroundServer  # noqa: E402
from redraft.backend.versions import SettingsModelSource  # noqa: E402
from redraft.label_config import read_label_config  # noqa: E402
from redraft.labelstudio.briefs import BriefRow  # noqa: E402
from redraft.labelstudio.client import session  # noqa: E402
from redraft.labelstudio.prefill import list_tasks, prefill, tasks_missing  # noqa: E402
from redraft.labelstudio.project import ProjectSpec, init_project  # noqa: E402
from redraft.labelstudio.server import (  # noqa: E402
    LabelStudioServer,
    Login,
    ensure_template,
    find_binary,
    prepare_data_dir,
)
from redraft.labelstudio.tasks import batches, import_task  # noqa: E402
from redraft.settings import Settings  # noqa: E402
from redraft.standin.config import StandinConfig  # noqa: E402
from redraft.standin.server import StandinServer  # noqa: E402


def rows(n: int) -> list[BriefRow]:
    """n distinct briefs."""
    return [
        BriefRow(i, {"external_id": f"B-{i}", "client": "Kestrel Freight", "brief": f"Lane {i}"})
        for i in range(1, n + 1)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--latency-ms", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    binary = find_binary(default=REPO / ".cache/ls-venv/bin/label-studio")
    login = Login()
    work = Path(tempfile.mkdtemp(prefix="redraft-bench-"))
    standin = StandinServer(StandinConfig(latency_ms=args.latency_ms)).start()
    settings = Settings.from_env(
        {"REDRAFT_HOME": str(work / "home"), "OPENAI_API_KEY": "sk-bench", "REDRAFT_CACHE": "0"}
    ).with_overrides(
        openai_base_url=standin.base_url,
        model_version="bench-v1",
        max_concurrency=args.concurrency,
        request_timeout=120.0,
    )
    data_dir = prepare_data_dir(ensure_template(binary, REPO / ".cache", login), work / "ls")
    server = LabelStudioServer(binary, data_dir).start()
    app = create_app(settings)
    backend = BackgroundServer(app, threads=8).start()
    active = SettingsModelSource(settings).active()
    try:
        with session(server.url, login.token, timeout=600) as client:
            config = read_label_config()
            a = init_project(client, ProjectSpec("bench prefill", config, active.name))
            b_spec = ProjectSpec("bench retrieve", config, active.name, backend_url=backend.url)
            b = init_project(client, b_spec)
            assert a.project_id is not None and b.project_id is not None
            for project_id in (a.project_id, b.project_id):
                for batch in batches(rows(args.tasks), 500):
                    items = [import_task(r) for r in batch]
                    client.projects.import_tasks(id=project_id, request=items)

            drafter = Drafter(settings, cache=None)
            before = standin.request_count()
            start = time.perf_counter()
            summary = prefill(client, a.project_id, drafter, active)
            prefill_s = time.perf_counter() - start
            drafter.close()
            assert summary.written == args.tasks, summary.line()
            assert standin.request_count() - before == args.tasks

            before = standin.request_count()
            start = time.perf_counter()
            client.actions.create(
                id="retrieve_tasks_predictions",
                project=b.project_id,
                selected_items={"all": True, "excluded": []},
            )
            retrieve_s = time.perf_counter() - start
            left = len(tasks_missing(list_tasks(client, b.project_id), active.name))
    finally:
        backend.stop()
        server.stop()
        standin.stop()

    ideal = math.ceil(args.tasks / args.concurrency) * args.latency_ms / 1000
    print(
        f"{args.tasks} tasks, stand-in latency {args.latency_ms} ms, "
        f"concurrency {args.concurrency}, Label Studio {server.url}"
    )
    print(f"ideal ceil(N/concurrency) x latency: {ideal:7.2f} s")
    print(
        f"redraft prefill:                     {prefill_s:7.2f} s  ({prefill_s / ideal:.2f}x ideal)"
    )
    print(
        f"Label Studio retrieve (one /predict): {retrieve_s:7.2f} s  "
        f"({retrieve_s / ideal:.2f}x ideal; {args.tasks - left} of {args.tasks} tasks drafted, "
        f"{standin.request_count() - before} model calls)"
    )
    print(f"prefill / retrieve:                  {prefill_s / retrieve_s:7.2f}")


if __name__ == "__main__":
    main()
