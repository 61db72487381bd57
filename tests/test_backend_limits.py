"""The backend's limits against the real stand-in: the /predict deadline and the global bound
on model calls in flight (bulk and single-task requests together)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from redraft.backend.drafting import Drafter, DraftOutcome
from redraft.backend.versions import SettingsModelSource
from redraft.settings import Settings
from redraft.standin.server import FaultRule, StandinServer
from tests.fixtures.backend import BackendFactory
from tests.fixtures.drafting import make_tasks, stand_in_draft
from tests.fixtures.scoring import scored

HANG_S = 3.0  # the hung call answers after this; the deadline is far shorter
DEADLINE_S = 1.0
LATE = f"deadline exceeded: no draft within the {DEADLINE_S:g}s request deadline"


@pytest.fixture
def limit_settings(settings: Settings, standin: StandinServer) -> Settings:
    return settings.with_overrides(
        openai_base_url=standin.base_url,
        max_retries=0,
        request_timeout=30.0,  # longer than the hang: only the deadline can cut it
        predict_deadline=DEADLINE_S,
    )


def active(settings: Settings) -> Any:
    return SettingsModelSource(settings).active()


def test_deadline_answers_without_the_hung_task_then_caches_it_later(
    limit_settings: Settings, standin: StandinServer, caplog: pytest.LogCaptureFixture
) -> None:
    standin.state.apply_config({"hang_seconds": HANG_S})
    standin.add_fault(FaultRule("hang", match="POISON"))
    tasks = make_tasks(5, poison={2: "POISON"})
    drafter = Drafter.from_settings(limit_settings)
    try:
        with caplog.at_level(logging.WARNING, logger="redraft.backend.drafting"):
            outcomes = drafter.draft_many(tasks, active(limit_settings), deadline=DEADLINE_S)
    finally:
        drafter.close()  # waits for the hung call, which then stores its draft
    drafts = [stand_in_draft(limit_settings, t["data"]) for t in tasks]
    expected = [DraftOutcome(t["id"], text) for t, text in zip(tasks, drafts, strict=True)]
    expected[2] = DraftOutcome(102, None, LATE, error_kind="deadline")
    assert outcomes == expected
    assert [r.getMessage() for r in caplog.records] == [
        "1 task without a draft — deadline exceeded (1s); their drafts go to the cache "
        "when they finish: tasks 102"
    ]
    drafter = Drafter.from_settings(limit_settings)
    try:
        again = drafter.draft_many(tasks, active(limit_settings), deadline=DEADLINE_S)
    finally:
        drafter.close()
    assert again == [
        DraftOutcome(t["id"], text, cached=True) for t, text in zip(tasks, drafts, strict=True)
    ]
    assert standin.request_count() == 5


def test_predict_over_http_answers_by_the_deadline(
    limit_settings: Settings, standin: StandinServer, backend_server: BackendFactory
) -> None:
    standin.state.apply_config({"hang_seconds": HANG_S})
    standin.add_fault(FaultRule("hang", match="POISON"))
    tasks = make_tasks(4, poison={0: "POISON"})
    server = backend_server(limit_settings)
    body = requests.post(f"{server.url}/predict", json={"tasks": tasks}, timeout=HANG_S).json()
    version = limit_settings.active_model_version
    assert body == {
        "results": [
            [],
            *(
                scored(stand_in_draft(limit_settings, t["data"]), t["data"], version)
                for t in tasks[1:]
            ),
        ],
        "model_version": version,
    }
    metrics = requests.get(f"{server.url}/metrics", timeout=5).json()
    assert metrics["failures"] == {"deadline": 1}


def test_single_task_request_is_cut_by_the_deadline_too(
    limit_settings: Settings, standin: StandinServer
) -> None:
    standin.state.apply_config({"hang_seconds": HANG_S})
    standin.add_fault(FaultRule("hang"))
    drafter = Drafter.from_settings(limit_settings)
    try:
        outcomes = drafter.draft_many(make_tasks(1), active(limit_settings), deadline=DEADLINE_S)
    finally:
        drafter.close()
    assert outcomes == [DraftOutcome(100, None, LATE, error_kind="deadline")]


def test_bulk_fan_out_keeps_exactly_max_concurrency_calls_in_flight(
    settings: Settings, standin: StandinServer
) -> None:
    standin.set_latency(200)
    bounded = settings.with_overrides(
        openai_base_url=standin.base_url, max_retries=0, max_concurrency=4, cache_enabled=False
    )
    drafter = Drafter.from_settings(bounded)
    try:
        outcomes = drafter.draft_many(make_tasks(40), active(bounded))
    finally:
        drafter.close()
    assert [o.ok for o in outcomes] == [True] * 40
    # == 4: never more than the bound, and truly concurrent (a sequential loop peaks at 1);
    # the pace starts at 2 and doubles while the endpoint answers.
    assert standin.peak_in_flight() == 4
    assert drafter.pace_for(active(bounded)).slots.peak == 4


def test_concurrent_single_task_requests_share_the_bound(
    settings: Settings, standin: StandinServer, backend_server: BackendFactory
) -> None:
    standin.set_latency(200)
    bounded = settings.with_overrides(
        openai_base_url=standin.base_url, max_retries=0, max_concurrency=2, cache_enabled=False
    )
    server = backend_server(bounded, threads=12)
    tasks = make_tasks(12)
    bulk, singles = tasks[:4], tasks[4:]

    def predict(batch: list[dict[str, Any]]) -> list[Any]:
        response = requests.post(f"{server.url}/predict", json={"tasks": batch}, timeout=60)
        return response.json()["results"]

    with ThreadPoolExecutor(max_workers=9) as pool:
        answers = list(pool.map(predict, [bulk, *([task] for task in singles)]))
    assert [len(a) for a in answers] == [4] + [1] * 8
    assert all(prediction for answer in answers for prediction in answer)
    assert standin.request_count() == 12
    assert standin.peak_in_flight() == 2
