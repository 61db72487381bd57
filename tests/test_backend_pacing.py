"""Drafting fits the endpoint: the pace learns each endpoint's concurrency from its answers
(429s and timeouts halve it, success grows it, an advertised parallelism caps it) and its
timeout from its latencies — with the default settings, nothing hand-set."""

from __future__ import annotations

import threading
import time

import pytest

from redraft.backend.drafting import Drafter, DraftOutcome
from redraft.backend.pacing import FIRST_TIMEOUT, MAX_TIMEOUT, MIN_TIMEOUT, Pace
from redraft.backend.slots import Slots
from redraft.backend.versions import SettingsModelSource
from redraft.settings import Settings
from redraft.standin.server import StandinServer
from tests.fixtures.drafting import make_tasks, stand_in_draft


def test_the_limit_doubles_per_round_until_the_first_overload_then_grows_by_one() -> None:
    pace = Pace(ceiling=16)
    seen = [pace.limit]
    for _ in range(2 + 4):
        pace.succeeded(0.1)
        seen.append(pace.limit)
    assert seen == [2, 2, 4, 4, 4, 4, 8]
    pace.overloaded(started=time.monotonic())
    assert pace.limit == 4
    for _ in range(4):
        pace.succeeded(0.1)
    assert pace.limit == 5  # additive now: one more per full round
    for _ in range(5 + 6):
        pace.succeeded(0.1)
    assert pace.limit == 7
    for _ in range(7 * 8 - 1):  # next to the limit that failed (8): eight rounds of patience
        pace.succeeded(0.1)
    assert pace.limit == 7
    pace.succeeded(0.1)
    assert pace.limit == 8
    for _ in range(8):  # a full round at 8 went through: growing at the usual rate again
        pace.succeeded(0.1)
    assert pace.limit == 9


def test_calls_in_flight_at_a_cut_do_not_cut_again() -> None:
    pace = Pace(ceiling=16, start=16)
    started = time.monotonic()
    pace.overloaded(started)
    for _ in range(7):  # the other calls of the same burst fail for the same reason
        pace.overloaded(started)
    assert pace.limit == 8
    pace.overloaded(time.monotonic())
    assert pace.limit == 4


def test_an_advertised_parallelism_caps_the_limit_and_the_ceiling_still_holds() -> None:
    pace = Pace(ceiling=16)
    pace.succeeded(0.1, parallel=1)
    assert (pace.limit, pace.advertised) == (1, 1)
    for _ in range(10):
        pace.succeeded(0.1)
    assert pace.limit == 1
    capped = Pace(ceiling=3)
    for _ in range(10):
        capped.succeeded(0.1, parallel=8)
    assert capped.limit == 3


def test_the_timeout_is_generous_until_the_endpoint_answered_then_follows_its_latency() -> None:
    pace = Pace(ceiling=4)
    assert pace.timeout() == FIRST_TIMEOUT
    pace.succeeded(2.0)
    assert pace.timeout() == MIN_TIMEOUT  # 4 x 2 s is below the floor
    pace.succeeded(20.0)
    assert pace.timeout() == 80.0
    assert Pace(ceiling=4, fixed_timeout=7.5).timeout() == 7.5  # REDRAFT_REQUEST_TIMEOUT wins


def test_a_call_that_timed_out_gives_the_next_twice_as_long_until_one_answers() -> None:
    """A large model on a CPU takes longer than the first guess: wait for it, do not give up
    at the same timeout forever."""
    pace = Pace(ceiling=4)
    pace.timed_out(time.monotonic(), pace.timeout())
    assert pace.timeout() == 2 * FIRST_TIMEOUT
    pace.timed_out(time.monotonic(), pace.timeout())
    pace.timed_out(time.monotonic(), pace.timeout())
    assert pace.timeout() == MAX_TIMEOUT
    pace.succeeded(200.0)
    assert pace.timeout() == MAX_TIMEOUT  # 4 x 200 s, within the bound
    pace.succeeded(10.0)
    assert pace.timeout() == MAX_TIMEOUT  # the slowest recent answer still counts


def test_a_server_that_says_it_runs_one_at_a_time_gets_one_from_the_start() -> None:
    pace = Pace(ceiling=16)
    pace.advertise(1)
    assert (pace.limit, pace.advertised) == (1, 1)
    for _ in range(5):
        pace.succeeded(0.1)
    assert pace.limit == 1


def test_a_fixed_pace_never_moves() -> None:
    pace = Pace(ceiling=4, adaptive=False)
    pace.overloaded(time.monotonic())
    pace.succeeded(0.1, parallel=1)
    assert pace.limit == 4


def test_slots_resize_and_a_waiter_can_give_up_its_place() -> None:
    slots = Slots(1)
    slots.acquire()
    assert slots.acquire(timeout=0.05) is False  # left the line: nothing held
    slots.resize(2)
    assert slots.acquire(timeout=0.05) is True
    assert slots.in_use == 2
    slots.resize(1)  # holders keep their slots; nobody new gets one until below the size
    slots.release()
    assert slots.acquire(timeout=0.05) is False
    slots.release()
    assert slots.acquire(timeout=0.05) is True


def test_a_waiter_is_handed_the_slot_a_resize_frees() -> None:
    slots = Slots(1)
    slots.acquire()
    got = threading.Event()
    waiter = threading.Thread(target=lambda: slots.acquire() and got.set())
    waiter.start()
    assert not got.wait(0.1)
    slots.resize(2)
    assert got.wait(5)
    waiter.join()


def test_defaults_draft_every_task_against_an_endpoint_that_refuses_beyond_its_limit(
    settings: Settings, standin: StandinServer
) -> None:
    """A hosted endpoint allowing 3 requests at once: 16 at once (the old fixed default)
    would spend the retries on 429s; the pace backs off and every task is drafted."""
    standin.state.apply_config({"latency_ms": 150, "max_in_flight": 3})
    defaults = Settings.from_env(
        {"REDRAFT_HOME": str(settings.home), "OPENAI_API_KEY": "sk-test", "REDRAFT_CACHE": "0"}
    ).with_overrides(openai_base_url=standin.base_url)
    active = SettingsModelSource(defaults).active()
    drafter = Drafter.from_settings(defaults)
    try:
        tasks = make_tasks(60)
        outcomes = drafter.draft_many(tasks, active)
        limit = drafter.pace_for(active).limit
    finally:
        drafter.close()
    assert outcomes == [DraftOutcome(t["id"], stand_in_draft(defaults, t["data"])) for t in tasks]
    assert 1 <= limit <= 4  # settled around what the endpoint takes, far below 16


@pytest.mark.parametrize("header", ["1", "0", "x", None])
def test_the_parallel_header_is_read_only_when_it_is_a_whole_number(header: str | None) -> None:
    from redraft.backend.drafting import _parallel

    assert _parallel(header) == (1 if header == "1" else None)
