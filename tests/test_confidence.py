"""The confidence score per draft: its signals, the fit, and how drafting gets and keeps them
(log-probabilities from a loopback endpoint that gives them, or refuses them; the cache)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from redraft.backend.drafting import Drafter
from redraft.backend.versions import ActiveModel
from redraft.editdistance import normalised_edit_distance
from redraft.exporters.records import FeedbackRecord
from redraft.prompting import ClientStyle, LearnedNote, load_template
from redraft.scoring.calibration import calibration_path, fit_rows, load_calibration, refit
from redraft.scoring.confidence import (
    Calibration,
    Signals,
    confidence,
    draft_signals,
    fit_calibration,
    prior_score,
)
from redraft.settings import Settings
from redraft.styles.check import edit_for

DRAFT = (
    "Subject: A faster close for Acme\n\nHi Sam,\n\n"
    + "We help finance teams close the month in half the time. " * 4
    + "\n\nWould a short call next week suit you?\n\nBest,\nPriya"
)
DATA = {"brief": "Offer a demo.", "recipient": "Sam Lee", "company": "Acme", "client": "Northwind"}
NO_EXCLAIM = LearnedNote("No exclamation marks", "avoid", example="!")
GREETING = LearnedNote('Open with "Hello {first_name},"', "greeting", example="Hello {first_name},")


@pytest.mark.parametrize(
    ("text", "notes", "token", "truncated", "expected"),
    [
        (DRAFT, (), None, False, Signals(1.0)),
        (
            DRAFT,
            (NO_EXCLAIM, GREETING),
            0.9,
            False,
            Signals(1.0, (), 1, 2, 0.9, rule_edit=0.0125, phrase_edit=0.0),  # "Hi" -> "Hello"
        ),
        (
            "Hi Sam, quick one!",
            (NO_EXCLAIM,),
            None,
            True,
            Signals(
                0.3333, ("subject", "sign-off", "length", "company"), 0, 1, None, True, None, 0.0556
            ),
        ),
    ],
    ids=["complete-no-rules", "rules-and-tokens", "short-cut-off"],
)
def test_signals_of_a_draft(
    text: str,
    notes: tuple[LearnedNote, ...],
    token: float | None,
    truncated: bool,
    expected: Signals,
) -> None:
    assert draft_signals(text, DATA, notes, token, truncated) == expected


@pytest.mark.parametrize(
    ("note", "chars"),
    [
        (GREETING, 4),  # "Hi" -> "Hello"
        (LearnedNote('Open with "Hi {first_name},"', "greeting", example="Hi {first_name},"), 0),
        (LearnedNote("Close with it", "sign_off", example="Warm regards,\nPriya"), 11),
        (LearnedNote("End with it", "sentence", example="Reply STOP to opt out."), 22),
        (
            LearnedNote(
                "End with it", "sentence", example="Would a short call next week suit you?"
            ),
            0,
        ),
        (LearnedNote("Add it", "postscript", example="P.S. We are hiring."), 19),
        (LearnedNote('Avoid "half"', "avoid", example="half"), 16),  # 4 uses
        (LearnedNote('"cut", not "close"', "replace", example="close -> cut"), 20),
        (LearnedNote("Keep the email under 30 words", "length"), 122),  # 24 words too many
        (LearnedNote("Keep the email under 80 words", "length"), 0),
        (LearnedNote("Be warm", "tone"), None),  # a rule the check cannot read
    ],
)
def test_the_characters_a_writer_changes_for_each_broken_rule(
    note: LearnedNote, chars: int | None
) -> None:
    assert edit_for(note, DRAFT, DATA) == chars


def test_the_more_of_a_draft_its_rules_would_change_the_lower_it_scores() -> None:
    rules = (
        GREETING,
        LearnedNote("End with it", "sentence", example="Reply STOP to opt out."),
        LearnedNote("Keep the email under 50 words", "length"),
    )
    following = (
        DRAFT.replace("Hi Sam", "Hello Sam")
        .replace("suit you?", "suit you? Reply STOP to opt out.")
        .replace("We help finance teams close the month in half the time. " * 4, "We help. " * 4)
    )
    one_broken = following.replace("Hello Sam", "Hi Sam")
    all_broken = DRAFT + " And more words here to go over the limit."
    signals = [draft_signals(text, DATA, rules) for text in (following, one_broken, all_broken)]
    assert [(s.rules_followed, s.rule_edit) for s in signals] == [
        (3, 0.0),
        (2, round(4 / len(one_broken), 4)),
        (0, signals[2].rule_edit),
    ]
    assert signals[2].rule_edit is not None and signals[2].rule_edit > signals[1].rule_edit
    scores = [confidence(s).score for s in signals]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 3
    # Without learned rules there is nothing to estimate: the signal is absent, not zero.
    assert draft_signals(DRAFT, DATA).rule_edit is None


def test_a_fit_on_one_versions_drafts_ranks_the_next_versions_by_what_rules_would_change() -> None:
    # Past drafts broke many rules; a new version's break few. The edits follow the rules
    # broken, whichever version wrote the draft, so the fit on the old drafts still ranks the
    # new ones the writers' way.
    old = [(Signals(0.8, (), 1, 4, None, False, edit), 0.1 + edit) for edit in (0.2, 0.3, 0.4)]
    fit = fit_calibration(old * 5)
    assert fit is not None
    new = [Signals(1.0, (), 4 - k, 4, None, False, 0.05 * k) for k in range(4)]
    predicted = [fit.predicted_distance(s) for s in new]
    assert predicted == sorted(predicted) and len(set(predicted)) == 4


def test_the_fit_weighs_part_rules_and_phrase_rules_by_what_the_writers_did() -> None:
    # These writers fix every part a rule names and leave the phrases (rules mined from noise).
    rows = [
        (Signals(1.0, (), 2, 4, None, False, part, phrase), 0.05 + part)
        for part in (0.0, 0.1, 0.2, 0.3)
        for phrase in (0.0, 0.1, 0.2, 0.3)
    ]
    fit = fit_calibration(rows)
    assert fit is not None
    parts_broken = fit.predicted_distance(Signals(1.0, (), 2, 4, None, False, 0.3, 0.0))
    phrases_broken = fit.predicted_distance(Signals(1.0, (), 2, 4, None, False, 0.0, 0.3))
    assert parts_broken > 0.25 > 0.1 > phrases_broken


@pytest.mark.parametrize(
    ("signals", "score", "reason"),
    [
        (Signals(1.0), 1.0, "1.00 — likely sent as is (no history yet)"),
        (
            Signals(1.0, (), 1, 2, 0.9),
            0.82,
            "0.82 — likely sent as is: follows 1/2 learned rules; token confidence 0.90 "
            "(no history yet)",
        ),
        (
            Signals(0.3333, ("subject", "sign-off"), 0, 1, None, True),
            0.0952,
            "0.10 — heavy edits likely: follows 0/1 learned rules; cut off at the length limit; "
            "missing: subject, sign-off (no history yet)",
        ),
    ],
)
def test_no_history_score_and_reason(signals: Signals, score: float, reason: str) -> None:
    assert confidence(signals) == confidence(signals, None)
    assert (confidence(signals).score, confidence(signals).reason) == (score, reason)
    assert prior_score(signals) == score


def test_a_fit_learns_which_signal_predicts_the_edits() -> None:
    # Writers rewrite drafts that break the rules; token confidence says nothing here.
    rows = [
        (Signals(1.0, (), followed, 4, token), 0.8 - 0.15 * followed)
        for followed in range(5)
        for token in (0.5, 0.7, 0.9)
    ]
    fit = fit_calibration(rows, "2026-12-01T00:00:00+00:00")
    assert fit is not None
    assert (fit.n, fit.mean_distance, fit.fitted_at) == (15, 0.5, "2026-12-01T00:00:00+00:00")
    following_all = confidence(Signals(1.0, (), 4, 4, 0.5), fit)
    following_none = confidence(Signals(1.0, (), 0, 4, 0.9), fit)
    assert following_all.score > 0.7 > 0.4 > following_none.score
    assert following_all.reason.endswith("(fitted on 15 past edits)")
    # More rules followed, fewer edits expected: the fit keeps the writers' order.
    expected = [fit.predicted_distance(Signals(1.0, (), k, 4, 0.7)) for k in range(5)]
    assert expected == sorted(expected, reverse=True) and len(set(expected)) == 5


def test_too_few_edits_no_fit() -> None:
    assert fit_calibration([(Signals(1.0), 0.1)] * 9) is None


def _record(draft: str | None, final: str, **kw: Any) -> FeedbackRecord:
    return FeedbackRecord(1, 2, [], final, draft=draft, data=DATA, client="Northwind", **kw)


def test_fit_rows_score_every_draft_against_todays_rules_and_keep_what_the_text_cannot_give() -> (
    None
):
    # The base model wrote these drafts with no rules in its prompt; the export has since
    # learned a greeting rule. The fit must see which drafts break it.
    template = load_template(None)
    template = replace(template, clients={"northwind": ClientStyle(learned=(GREETING,))})
    stored = Signals(0.5, ("subject",), 0, 0, 0.7, True).as_json()
    rows = fit_rows(
        [
            _record(DRAFT, DRAFT, draft_signals=stored),
            _record(DRAFT, DRAFT + " Thanks."),
            _record(None, "Written from scratch"),
            _record("Hi", "Golden", machine_written=True),
        ],
        template,
    )
    assert [(s, round(d, 4)) for s, d in rows] == [
        (Signals(1.0, (), 0, 1, 0.7, True, rule_edit=0.0125), 0.0),
        (
            Signals(1.0, (), 0, 1, rule_edit=0.0125),
            round(normalised_edit_distance(DRAFT, DRAFT + " Thanks."), 4),
        ),
    ]


def test_refit_writes_the_project_fit_and_a_later_load_reads_it(tmp_path: Path) -> None:
    template = load_template(None)
    records = [_record(DRAFT, DRAFT + "x" * i) for i in range(12)]
    line = refit(tmp_path, 3, records, template, "now")
    path = calibration_path(tmp_path, 3)
    assert line.startswith("confidence score refitted on 12 edited drafts (mean edit distance ")
    assert line.endswith(f": {path}")
    fit = load_calibration(tmp_path, 3)
    assert fit == Calibration.from_json(json.loads(path.read_text()))
    assert fit is not None and (fit.n, fit.fitted_at) == (12, "now")
    # Fewer than ten: the file goes, and the project is back to the no-history score.
    assert refit(tmp_path, 3, records[:4], template, "later") == (
        "confidence score: 4 edited drafts, fewer than 10 — drafts keep the no-history score"
    )
    assert (path.exists(), load_calibration(tmp_path, 3)) == (False, None)


def test_a_damaged_fit_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = calibration_path(tmp_path, 4)
    path.parent.mkdir(parents=True)
    path.write_text('{"features": ["intercept"], "weights": [1]}')
    assert load_calibration(tmp_path, 4) is None
    assert [r.getMessage() for r in caplog.records] == [
        f"{path} is not a confidence fit: scoring without it; re-run export"
    ]
    assert load_calibration(tmp_path, None) is None


# --- drafting: log-probabilities from an endpoint, kept by the cache --------------------------

LOGPROBS = [-0.1, -0.2, -0.3]


class ChatEndpoint:
    """A loopback OpenAI-compatible chat endpoint: model "lp" answers with log-probabilities
    when asked, model "strict" refuses the `logprobs` parameter with HTTP 400."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.bodies.append(body)
                if body["model"] == "strict" and "logprobs" in body:
                    self._send(
                        400,
                        {
                            "error": {
                                "message": "logprobs is not supported",
                                "type": "invalid_request_error",
                            }
                        },
                    )
                    return
                logprobs = None
                if body.get("logprobs"):
                    logprobs = {
                        "content": [
                            {"token": f"t{i}", "logprob": lp, "bytes": None, "top_logprobs": []}
                            for i, lp in enumerate(LOGPROBS)
                        ],
                        "refusal": None,
                    }
                self._send(
                    200,
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 1,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": DRAFT},
                                "logprobs": logprobs,
                                "finish_reason": "stop",
                            }
                        ],
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[ChatEndpoint]:
    server = ChatEndpoint()
    yield server
    server.close()


def _drafter(settings: Settings, endpoint: ChatEndpoint) -> Drafter:
    return Drafter.from_settings(
        settings.with_overrides(
            openai_base_url=endpoint.base_url, max_retries=0, request_timeout=5.0
        )
    )


TASKS = [{"id": 1, "data": DATA}, {"id": 2, "data": {**DATA, "brief": "Another."}}]


def test_token_confidence_from_the_endpoint_survives_the_cache(
    settings: Settings, endpoint: ChatEndpoint
) -> None:
    expected = Signals(1.0, (), 0, 0, round(math.exp(-0.2), 4))
    drafter = _drafter(settings, endpoint)
    try:
        first = drafter.draft_many(TASKS[:1], ActiveModel("v1", "lp"))
        again = drafter.draft_many(TASKS[:1], ActiveModel("v1", "lp"))
    finally:
        drafter.close()
    assert [(o.text, o.cached, o.signals) for o in first + again] == [
        (DRAFT, False, expected),
        (DRAFT, True, expected),
    ]
    assert [(b.get("logprobs"), b.get("top_logprobs")) for b in endpoint.bodies] == [(True, 1)]


def test_an_endpoint_that_refuses_logprobs_is_asked_without_them(
    settings: Settings, endpoint: ChatEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    drafter = _drafter(settings.with_overrides(max_concurrency=1), endpoint)
    try:
        with caplog.at_level("INFO", logger="redraft.backend.drafting"):
            outcomes = drafter.draft_many(TASKS, ActiveModel("v1", "strict"))
    finally:
        drafter.close()
    assert [(o.text, o.error, o.signals) for o in outcomes] == [
        (DRAFT, None, Signals(1.0)),
        (DRAFT, None, Signals(1.0)),
    ]
    # Refused once, asked again at once without them, and never with them after that.
    assert ["logprobs" in b for b in endpoint.bodies] == [True, False, False]
    assert [r.getMessage() for r in caplog.records] == [
        "the endpoint refused log-probabilities; drafts are scored without them"
    ]


def test_learned_rules_of_the_template_count(settings: Settings, endpoint: ChatEndpoint) -> None:
    template = replace(
        load_template(None), clients={"northwind": ClientStyle(learned=(NO_EXCLAIM, GREETING))}
    )
    drafter = Drafter(
        settings.with_overrides(openai_base_url=endpoint.base_url, max_retries=0),
        template=template,
    )
    try:
        (outcome,) = drafter.draft_many(TASKS[:1], ActiveModel("v1", "lp"))
    finally:
        drafter.close()
    assert outcome.signals == Signals(
        1.0, (), 1, 2, round(math.exp(-0.2), 4), rule_edit=0.0125, phrase_edit=0.0
    )
