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
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from redraft.backend.app import create_app
from redraft.backend.drafting import Drafter
from redraft.backend.server import BackgroundServer
from redraft.backend.versions import SettingsModelSource
from redraft.label_config import read_label_config
from redraft.labelstudio.briefs import BriefRow
from redraft.labelstudio.client import project_tasks, session
from redraft.labelstudio.login import load_login
from redraft.labelstudio.prefill import prefill, tasks_missing
from redraft.labelstudio.project import ProjectSpec, init_project
from redraft.labelstudio.server import (
    BIN_ENV,
    LabelStudioServer,
    ensure_template,
    find_binary,
    prepare_data_dir,
)
from redraft.labelstudio.tasks import batches, import_task
from redraft.settings import Settings
from redraft.standin.config import StandinConfig
from redraft.standin.server import StandinServer

REPO = Path(__file__).resolve().parents[1]
ML_TIMEOUT_PREDICT = 100.0  # Label Studio's default wait for one /predict answer (seconds)


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
    named = os.environ.get(BIN_ENV)
    binary = find_binary(
        Path(named) if named else None, default=REPO / ".cache/ls-venv/bin/label-studio"
    )
    # Everything started is stopped, and the temporary Label Studio data removed, on any exit.
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="redraft-bench-")))
        standin = StandinServer(StandinConfig(latency_ms=args.latency_ms)).start()
        stack.callback(standin.stop)
        settings = Settings.from_env(
            {"REDRAFT_HOME": str(work / "home"), "OPENAI_API_KEY": "sk-bench", "REDRAFT_CACHE": "0"}
        ).with_overrides(
            openai_base_url=standin.base_url,
            model_version="bench-v1",
            max_concurrency=args.concurrency,
        )
        data_dir = prepare_data_dir(ensure_template(binary, REPO / ".cache"), work / "ls")
        server = stack.enter_context(LabelStudioServer(binary, data_dir))
        app = create_app(settings)
        predict_s: list[float] = []
        app.wsgi_app = timed_predict(app.wsgi_app, predict_s)  # type: ignore[method-assign]
        backend = stack.enter_context(BackgroundServer(app, threads=8))
        active = SettingsModelSource(settings).active()
        client = stack.enter_context(session(server.url, load_login(data_dir).token, timeout=600))
        a, b = make_projects(client, backend.url, active.name, args.tasks)

        drafter = Drafter(settings, cache=None)
        stack.callback(drafter.close)
        before = standin.request_count()
        start = time.perf_counter()
        summary = prefill(client, a, drafter, active)
        prefill_s = time.perf_counter() - start
        prefill_calls = standin.request_count() - before

        before = standin.request_count()
        start = time.perf_counter()
        client.actions.create(
            id="retrieve_tasks_predictions",
            project=b,
            selected_items={"all": True, "excluded": []},
        )
        retrieve_s = time.perf_counter() - start
        retrieve_calls = standin.request_count() - before
        stored = args.tasks - len(tasks_missing(list(project_tasks(client, b)), active.name))

    ideal = math.ceil(args.tasks / args.concurrency) * args.latency_ms / 1000
    print(
        f"{args.tasks} tasks, stand-in latency {args.latency_ms} ms, concurrency {args.concurrency}"
    )
    print(f"ideal ceil(N/concurrency) x latency:   {ideal:7.2f} s")
    print(
        f"redraft prefill:                       {prefill_s:7.2f} s  ({prefill_s / ideal:.2f}x "
        f"ideal; {summary.written} of {args.tasks} stored, {prefill_calls} model calls)"
    )
    answered = max(predict_s, default=0.0)
    print(
        f"Label Studio retrieve (one /predict):  {retrieve_s:7.2f} s  "
        f"({retrieve_s / ideal:.2f}x ideal; {stored} of {args.tasks} stored, "
        f"{retrieve_calls} model calls)"
    )
    print(
        f"  of which the backend's /predict:     {answered:7.2f} s  ({len(predict_s)} request(s)); "
        f"Label Studio's own work: {retrieve_s - answered:.2f} s"
    )
    hit = "yes: Label Studio stored nothing" if answered >= ML_TIMEOUT_PREDICT else "no"
    print(f"  /predict hit ML_TIMEOUT_PREDICT ({ML_TIMEOUT_PREDICT:g} s): {hit}")
    print(f"prefill / retrieve:                    {prefill_s / retrieve_s:7.2f}")


def timed_predict(wsgi_app: Any, seconds: list[float]) -> Any:
    """WSGI middleware: append how long each POST /predict took (body sent) to `seconds`."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start = time.perf_counter()
        try:
            return list(wsgi_app(environ, start_response))
        finally:
            if environ.get("PATH_INFO") == "/predict":
                seconds.append(time.perf_counter() - start)

    return app


def make_projects(client: Any, backend_url: str, version: str, tasks: int) -> tuple[int, int]:
    """Project A (no backend, for prefill) and B (backend connected), each with the same tasks."""
    config = read_label_config()
    a = init_project(client, ProjectSpec("bench prefill", config, version)).project_id
    b_spec = ProjectSpec("bench retrieve", config, version, backend_url=backend_url)
    b = init_project(client, b_spec).project_id
    assert a is not None and b is not None
    for project_id in (a, b):
        for batch in batches(rows(tasks), 500):
            client.projects.import_tasks(id=project_id, request=[import_task(r) for r in batch])
    return a, b


if __name__ == "__main__":
    main()
