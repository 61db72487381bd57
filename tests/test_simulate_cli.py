"""`redraft simulate` against the real Label Studio: annotations as the editor stores them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio

from redraft.label_config import read_label_config
from redraft.label_config.results import draft_prediction
from redraft.labelstudio.briefs import Feedback
from redraft.labelstudio.tasks import feedback_results
from redraft.settings import Settings
from tests.fixtures.labelstudio import run_cli

pytestmark = pytest.mark.e2e

RULES = """
[clients.Acme]
greeting = "Hi {first_name},"
sign_off = "Best,\\nAnn"
call_to_action = "Free for a demo at {company} on Friday?"
max_words = 40
banned_phrases = ["just"]

[clients."Quarry Bikes"]
greeting = "Hey {first_name}!"
sign_off = "Cheers, Sam"
call_to_action = "Fancy a test ride?"
max_words = 40
postscript = "P.S. First service free."
"""
ACCEPTED = (
    "Hi Bo,\n\nLumo Labs doubled its team.\n\nFree for a demo at Lumo Labs on Friday?\n\nBest,\nAnn"
)
EDITED = "Hello Cy,\n\nWe just saw Lumo Labs doubled its team.\n\nBest,\nAnn"
BIKES = "Hey Di!\n\nCobble Coffee delivers every morning.\n\nFancy a test ride?\n\nCheers, Sam"
TASKS = [
    ({"client": "Acme", "recipient": "Bo Li, CTO", "company": "Lumo Labs"}, ACCEPTED),
    ({"client": "acme", "recipient": "Cy Ng, COO", "company": "Lumo Labs"}, EDITED),
    ({"client": "Quarry Bikes", "recipient": "Di Ho", "company": "Cobble Coffee"}, BIKES),
    ({"client": "Zed Corp", "recipient": "Ed", "company": "Ohm"}, "Hi Ed."),
]
BRIEF = "{company} doubled its team and delivers every morning. Offer a demo."


@pytest.fixture
def project(ls_client: LabelStudio) -> dict[str, Any]:
    """Four open tasks with drafts: three for clients with writers, one for a client without."""
    made = ls_client.projects.create(
        title=f"simulate e2e {uuid.uuid4().hex[:8]}", label_config=read_label_config()
    )
    ls_client.projects.import_tasks(
        made.id,
        request=[
            {
                "data": {**data, "brief": BRIEF.format(company=data["company"])},
                "predictions": [draft_prediction(draft, "v1")],
            }
            for data, draft in TASKS
        ],
    )
    tasks = sorted(
        (t.model_dump() for t in ls_client.tasks.list(project=made.id, fields="all")),
        key=lambda t: t["id"],
    )
    return {
        "id": made.id,
        "title": made.title,
        "tasks": [t["id"] for t in tasks],
        "predictions": [t["predictions"][0]["id"] for t in tasks],
    }


def annotations(client: LabelStudio, task_id: int) -> list[tuple[Any, Any]]:
    return [(a.result, a.parent_prediction) for a in client.annotations.list(id=task_id)]


def test_simulate_annotates_open_drafts_like_the_editor(
    ls_client: LabelStudio, ls_settings: Settings, project: dict[str, Any], tmp_path: Path
) -> None:
    rules = tmp_path / "writers.toml"
    rules.write_text(RULES)
    args = ["simulate", "--project", project["title"], "--rules", str(rules)]

    dry = run_cli([*args, "--dry-run"], ls_settings)
    assert dry.exit_code == 0, dry.output
    assert dry.stderr.splitlines()[-1] == (
        "dry run: would annotate 3 tasks (simulated writers): 1 accepted as is, mean rating "
        "4.0; skipped 1 (no rules for client 'Zed Corp')"
    )
    assert [annotations(ls_client, t) for t in project["tasks"]] == [[], [], [], []]

    done = run_cli(args, ls_settings)
    assert done.exit_code == 0, done.output
    assert done.stderr.splitlines()[-1] == (
        "annotated 3 tasks (simulated writers): 1 accepted as is, mean rating 4.0; "
        "skipped 1 (no rules for client 'Zed Corp')"
    )
    edited = (
        "Hi Cy,\n\nWe saw Lumo Labs doubled its team.\n\nFree for a demo at Lumo Labs on "
        "Friday?\n\nBest,\nAnn"
    )
    bikes = f"{BIKES}\n\nP.S. First service free."
    expected = [
        [(feedback_results(Feedback(ACCEPTED, ACCEPTED, 5)), project["predictions"][0])],
        [
            (
                feedback_results(
                    Feedback(
                        EDITED,
                        edited,
                        3,
                        ("tone", "voice", "call to action"),
                        "Open with 'Hi Cy,'; cut 'just'; close with 'Free for a demo at Lumo "
                        "Labs on Friday?'.",
                    )
                ),
                project["predictions"][1],
            )
        ],
        [
            (
                feedback_results(
                    Feedback(
                        BIKES, bikes, 4, ("structure",), "End with 'P.S. First service free.'."
                    )
                ),
                project["predictions"][2],
            )
        ],
        [],
    ]
    assert [annotations(ls_client, t) for t in project["tasks"]] == expected
    # The stored result is the labeling config's: draft, rating, issues, feedback, final.
    assert expected[1][0][0] == [
        {"from_name": "draft", "to_name": "brief", "type": "textarea", "value": {"text": [EDITED]}},
        {"from_name": "rating", "to_name": "brief", "type": "rating", "value": {"rating": 3}},
        {
            "from_name": "issues",
            "to_name": "brief",
            "type": "choices",
            "value": {"choices": ["tone", "voice", "call to action"]},
        },
        {
            "from_name": "feedback",
            "to_name": "brief",
            "type": "textarea",
            "value": {
                "text": [
                    "Open with 'Hi Cy,'; cut 'just'; close with 'Free for a demo at Lumo Labs on "
                    "Friday?'."
                ]
            },
        },
        {"from_name": "final", "to_name": "brief", "type": "textarea", "value": {"text": [edited]}},
    ]

    again = run_cli(args, ls_settings)
    assert again.exit_code == 0, again.output
    assert again.stderr.splitlines()[-1] == (
        "annotated 0 tasks (simulated writers); skipped 1 (no rules for client 'Zed Corp')"
    )


def test_simulate_names_a_bad_rules_file(settings: Settings, tmp_path: Path) -> None:
    rules = tmp_path / "writers.toml"
    rules.write_text("[clients.Acme]\ngreeting = 'Hi'\n")
    result = run_cli(["simulate", "--rules", str(rules)], settings)
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: {rules}: clients.Acme: missing field 'sign_off'\n",
    )
