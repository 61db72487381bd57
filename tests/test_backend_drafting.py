"""Drafter against the real stand-in server on loopback: fan-out, failures, cache."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from redraft.backend.cache import DraftCache
from redraft.backend.drafting import Drafter, DraftOutcome
from redraft.backend.versions import SettingsModelSource
from redraft.settings import Settings
from redraft.standin.server import FaultRule, StandinServer
from tests.fixtures.drafting import make_tasks, stand_in_draft, wait_until


def draft(drafter: Drafter, tasks: list[dict[str, Any]], **kwargs: Any) -> list[DraftOutcome]:
    return drafter.draft_many(tasks, SettingsModelSource(drafter.settings).active(), **kwargs)


def test_many_tasks_all_drafted_in_order(drafter: Drafter, standin: StandinServer) -> None:
    tasks = make_tasks(6)
    done: list[Any] = []
    outcomes = draft(drafter, tasks, on_done=lambda o: done.append(o.task_id))
    assert outcomes == [
        DraftOutcome(t["id"], stand_in_draft(drafter.settings, t["data"])) for t in tasks
    ]
    assert sorted(done) == [t["id"] for t in tasks]
    assert standin.request_count() == 6


@pytest.mark.parametrize(
    ("rule", "overrides", "reason", "kind"),
    [
        (
            FaultRule(kind="500", match="POISON"),
            {},
            "model server error (HTTP 500)",
            "server_error",
        ),
        (
            FaultRule(kind="429", match="POISON", retry_after=0.01),
            {},
            "rate limited (HTTP 429), retries used up",
            "rate_limit",
        ),
        (
            FaultRule(kind="hang", match="POISON"),
            {"request_timeout": 0.5},
            "no answer within 0.5s",
            "timeout",
        ),
        (
            FaultRule(kind="empty", match="POISON"),
            {},
            "the model returned an empty answer",
            "empty",
        ),
    ],
    ids=["500", "429", "timeout", "empty"],
)
def test_one_failing_task_does_not_stop_the_others(
    drafting_settings: Settings,
    standin: StandinServer,
    caplog: pytest.LogCaptureFixture,
    rule: FaultRule,
    overrides: dict[str, Any],
    reason: str,
    kind: str,
) -> None:
    standin.add_fault(rule)
    settings = drafting_settings.with_overrides(**overrides)
    tasks = make_tasks(5, poison={3: "POISON"})
    drafter = Drafter.from_settings(settings)
    try:
        with caplog.at_level(logging.WARNING, logger="redraft.backend.drafting"):
            outcomes = draft(drafter, tasks)
    finally:
        drafter.close()
    expected = [DraftOutcome(t["id"], stand_in_draft(settings, t["data"])) for t in tasks]
    expected[3] = DraftOutcome(103, None, reason, error_kind=kind)
    assert outcomes == expected
    assert [r.getMessage() for r in caplog.records] == [f"task 103: no draft — {reason}"]


def test_rate_limit_is_retried_by_the_client(
    drafting_settings: Settings, standin: StandinServer
) -> None:
    standin.add_fault(FaultRule(kind="429", match="POISON", times=1, retry_after=0.01))
    drafter = Drafter.from_settings(drafting_settings.with_overrides(max_retries=1))
    try:
        outcomes = draft(drafter, make_tasks(2, poison={1: "POISON"}))
    finally:
        drafter.close()
    assert [o.ok for o in outcomes] == [True, True]
    assert standin.request_count() == 3


def test_task_without_brief_fails_alone(drafter: Drafter, standin: StandinServer) -> None:
    tasks = [{"id": 1, "data": {"client": "Acme"}}, {"id": 2}, *make_tasks(1)]
    outcomes = draft(drafter, tasks)
    assert outcomes[:2] == [
        DraftOutcome(
            1,
            None,
            "task data has no `brief` text — every task needs a non-empty brief",
            error_kind="bad_task",
        ),
        DraftOutcome(2, None, "task has no `data` object", error_kind="bad_task"),
    ]
    assert outcomes[2].ok
    assert standin.request_count() == 1


def test_unknown_model_fails_each_task_with_the_reason(
    drafting_settings: Settings, standin: StandinServer
) -> None:
    drafter = Drafter.from_settings(drafting_settings.with_overrides(model="no-such-model"))
    try:
        outcomes = draft(drafter, make_tasks(2))
    finally:
        drafter.close()
    reason = "model 'no-such-model' not found at the endpoint (HTTP 404)"
    assert outcomes == [
        DraftOutcome(100, None, reason, error_kind="http_error"),
        DraftOutcome(101, None, reason, error_kind="http_error"),
    ]


def test_second_round_comes_from_the_cache(drafter: Drafter, standin: StandinServer) -> None:
    tasks = make_tasks(4)
    first = draft(drafter, tasks)
    second = draft(drafter, tasks)
    assert standin.request_count() == 4
    assert second == [DraftOutcome(o.task_id, o.text, cached=True) for o in first]


def test_cache_survives_a_restart(drafting_settings: Settings, standin: StandinServer) -> None:
    tasks = make_tasks(2)
    for _ in range(2):
        drafter = Drafter.from_settings(drafting_settings)
        try:
            outcomes = draft(drafter, tasks)
        finally:
            drafter.close()
    assert [o.cached for o in outcomes] == [True, True]
    assert standin.request_count() == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_cache_is_set_aside_and_drafting_goes_on(
    drafting_settings: Settings,
    standin: StandinServer,
    damage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The cache is disposable: a corrupt file never stops drafting (or `serve`)."""
    tasks = make_tasks(2)
    drafter = Drafter.from_settings(drafting_settings)
    draft(drafter, tasks)
    drafter.close()
    path = drafting_settings.cache_path
    data = path.read_bytes()
    path.write_bytes(b"not a database" * 100 if damage == "garbage" else data[:200])
    drafter = Drafter.from_settings(drafting_settings)
    try:
        outcomes = draft(drafter, tasks)
        again = draft(drafter, tasks)
    finally:
        drafter.close()
    assert [o.text is not None for o in outcomes] == [True, True]
    assert [o.cached for o in again] == [True, True]  # the fresh cache works
    aside = list(path.parent.glob(f"{path.name}.corrupt-*"))
    assert len(aside) == 1
    assert any("is damaged" in r.getMessage() for r in caplog.records)


def test_changed_generation_params_miss_the_cache(
    drafting_settings: Settings, standin: StandinServer
) -> None:
    for temperature in (0.7, 0.2):
        drafter = Drafter.from_settings(drafting_settings.with_overrides(temperature=temperature))
        try:
            outcomes = draft(drafter, make_tasks(1))
        finally:
            drafter.close()
        assert outcomes[0].cached is False
    assert standin.request_count() == 2


def test_cache_disabled_pays_every_time(
    drafting_settings: Settings, standin: StandinServer
) -> None:
    drafter = Drafter.from_settings(drafting_settings.with_overrides(cache_enabled=False))
    try:
        assert drafter.cache is None
        draft(drafter, make_tasks(2))
        draft(drafter, make_tasks(2))
    finally:
        drafter.close()
    assert standin.request_count() == 4
    assert not drafting_settings.cache_path.exists()


class WatchedCache(DraftCache):
    """The draft cache, with an event set when a claim is refused (someone else drafts it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused = threading.Event()

    def claim(self, key: str, stale_after: float) -> bool:
        won = super().claim(key, stale_after=stale_after)
        if not won:
            self.refused.set()
        return won


def test_a_prompt_being_drafted_elsewhere_is_waited_for_not_paid_twice(
    drafting_settings: Settings, standin: StandinServer
) -> None:
    """Two drafters sharing the cache file (the backend and `prefill`) draft one task at once:
    the second finds the first's claim, waits for its draft and gets it from the cache."""
    tasks = make_tasks(1)
    settings = drafting_settings.with_overrides(request_timeout=60.0)
    second_cache = WatchedCache(settings.cache_path)
    drafters = [Drafter.from_settings(settings), Drafter(settings, cache=second_cache)]
    outcomes: dict[int, list[DraftOutcome]] = {}

    def run(n: int) -> threading.Thread:
        thread = threading.Thread(target=lambda: outcomes.update({n: draft(drafters[n], tasks)}))
        thread.start()
        return thread

    standin.hold_answers()
    try:
        first = run(0)
        # The first drafter has claimed the prompt: its call is at the model, held.
        wait_until(lambda: standin.in_flight() == 1, "the first drafter's call in flight")
        second = run(1)
        wait_until(second_cache.refused.is_set, "the second drafter finding the claim")
        assert standin.in_flight() == 1
        standin.release_answers()
        first.join(30)
        second.join(30)
    finally:
        standin.release_answers()
        for drafter in drafters:
            drafter.close()
    assert standin.request_count() == 1
    text = stand_in_draft(settings, tasks[0]["data"])
    drafted = [(o.task_id, o.text, o.cached) for o in outcomes[0] + outcomes[1]]
    assert drafted == [(100, text, False), (100, text, True)]


def test_a_small_request_is_drafted_while_a_big_one_drains_the_pool(
    drafting_settings: Settings, standin: StandinServer
) -> None:
    """The pool is shared fairly: 5 tasks are not queued behind 120 in flight. The model's
    answers are held until both requests are queued, so the order the model sees them in
    depends on the pool alone: the small request's calls come within its first rounds."""
    settings = drafting_settings.with_overrides(max_concurrency=4, request_timeout=60.0)
    drafter = Drafter.from_settings(settings)
    big = [{"id": 1000 + i, "data": {"brief": f"Bulk brief number {i}."}} for i in range(120)]
    small = [{"id": 10 + i, "data": {"brief": f"Opened task {i}."}} for i in range(5)]
    done: dict[str, list[DraftOutcome]] = {}

    def run(name: str, tasks: list[dict[str, Any]]) -> threading.Thread:
        thread = threading.Thread(target=lambda: done.update({name: draft(drafter, tasks)}))
        thread.start()
        return thread

    standin.hold_answers()
    try:
        retrieve = run("big", big)
        # All 4 workers hold a bulk job (at the model or waiting for the endpoint's pace).
        wait_until(lambda: drafter._pool.waiting() == 116, "the bulk request filling the pool")
        opened = run("small", small)
        wait_until(lambda: drafter._pool.waiting() == 121, "the small request queued behind it")
        standin.release_answers()
        opened.join(60)
        retrieve.join(60)
    finally:
        standin.release_answers()
        drafter.close()
    assert [o.error for o in done["small"]] == [None] * 5
    assert sum(o.text is not None for o in done["big"]) == 120
    chats = [r for r in standin.requests if r["path"] == "/v1/chat/completions"]
    briefs = [r["json"]["messages"][-1]["content"] for r in chats]
    at = [i for i, brief in enumerate(briefs) if "Opened task" in brief]
    assert len(briefs) == 125 and len(at) == 5
    # 4 bulk calls were started first; then the workers alternate between the two requests
    # (bulk, small, bulk, small, …), so the last small call is about the 14th to reach the
    # model — queued behind the bulk request it would be the 125th.
    assert at[-1] < 20, at
