"""Briefs files → validated rows (pure), the init plan (pure), and the server harness's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redraft.errors import BriefImportError, LabelStudioError
from redraft.label_config.results import annotation_result, draft_prediction
from redraft.labelstudio.briefs import (
    BriefRow,
    Feedback,
    RowError,
    parse_mapping,
    read_records,
    validate_records,
)
from redraft.labelstudio.importer import ImportProgress
from redraft.labelstudio.project import BACKEND_TITLE, ProjectSpec, plan_init
from redraft.labelstudio.server import BIN_ENV, find_binary, server_env
from redraft.labelstudio.tasks import import_task


def test_csv_jsonl_json_read_alike(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_text('ID,Notes,client\nA1,"Offer, a demo",\nA2,Say hi,Acme\n')
    rows = [
        {"ID": "A1", "Notes": "Offer, a demo"},
        {"ID": "A2", "Notes": "Say hi", "client": "Acme"},
    ]
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (tmp_path / "b.json").write_text(json.dumps([{"data": r} for r in rows]))
    mapping = parse_mapping(["ID=external_id", "Notes=brief"])
    expected = [
        BriefRow(1, {"external_id": "A1", "brief": "Offer, a demo"}),
        BriefRow(2, {"external_id": "A2", "brief": "Say hi", "client": "Acme"}),
    ]
    for name in ("b.csv", "b.jsonl", "b.json"):
        parsed = validate_records(read_records(tmp_path / name), mapping)
        assert (parsed.rows, parsed.errors) == (expected, []), name


def test_every_bad_row_gets_its_reason() -> None:
    records = [
        {"brief": "ok", "external_id": "X"},
        {"external_id": "Y"},
        {"brief": "  ", "external_id": 7},
        {"brief": "again", "external_id": "X"},
        {"brief": "old", "external_id": "Z"},
    ]
    parsed = validate_records(records, existing_ids={"Z": 41})
    assert [str(e) for e in parsed.errors] == [
        "row 2: no `brief` column — map one with --map COLUMN=brief",
        "row 3: the brief is empty — every task needs a non-empty brief",
        "row 4: external_id 'X' repeats row 1",
        "row 5: external_id 'Z' is already in the project (task 41)",
    ]
    assert parsed.rows == [BriefRow(1, {"brief": "ok", "external_id": "X"})]


def test_feedback_columns_become_a_feedback_record() -> None:
    record = {
        "brief": "b",
        "draft": "D",
        "rating": "4.0",
        "issues": "Tone| call to action",
        "feedback": "",
        "final": "F",
    }
    parsed = validate_records(
        [record, {**record, "rating": "6", "issues": "spelling"}], with_feedback=True
    )
    assert parsed.rows == [
        BriefRow(1, {"brief": "b"}, Feedback("D", "F", 4, ("tone", "call to action")))
    ]
    assert parsed.errors == [
        RowError(
            2,
            "rating '6' is not a whole number from 1 to 5 (leave it empty when there is none); "
            "unknown issues ['spelling'] — use: "
            "tone, voice, structure, too long, too short, personalisation, call to action, "
            "factual error, grammar, off-brief",
        )
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("b.txt", "x", "b.txt: unknown file type '.txt' — use .csv, .jsonl or .json"),
        ("b.jsonl", '{"brief": 1}\n[1]\n', "b.jsonl: line 2 is not a JSON object"),
        ("b.json", '{"brief": "x"}', "b.json: expected a JSON list of objects, one per brief"),
        (
            "b.csv",
            "brief;client\nOffer a demo;Acme\n",
            "b.csv: the header 'brief;client' reads as one column — the file looks "
            "semicolon-separated; save it comma-separated (Excel: CSV UTF-8, comma delimited)",
        ),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(BriefImportError) as err:
        read_records(tmp_path / name)
    assert str(err.value) == f"{tmp_path}/{message}"


def test_bad_mapping() -> None:
    with pytest.raises(BriefImportError) as err:
        parse_mapping(["Notes"])
    assert str(err.value) == "--map 'Notes' is not column=field — e.g. --map Notes=brief"


def test_plan_connects_backend_and_only_resends_password_with_a_new_user() -> None:
    spec = ProjectSpec("T", "<View/>", "v1", "http://127.0.0.1:9090/", "ann", "s3cret")
    fresh = plan_init(spec, None)
    assert fresh.project_changes["model_version"] == BACKEND_TITLE
    assert fresh.backend_changes == {
        "url": "http://127.0.0.1:9090",
        "title": BACKEND_TITLE,
        "is_interactive": False,
        "auto_update": True,
        "auth_method": "BASIC_AUTH",
        "basic_auth_user": "ann",
        "basic_auth_pass": "s3cret",
    }
    assert "set ML backend basic_auth_pass = ***" in fresh.describe(spec)
    server_side = {**fresh.backend_changes, "id": 3, "basic_auth_pass": None}
    project = {"id": 9, **spec.project_fields()}
    assert plan_init(spec, project, [server_side]).changes_nothing
    renamed = plan_init(spec, project, [{**server_side, "basic_auth_user": "bob"}])
    assert (renamed.backend_id, renamed.backend_changes) == (
        3,
        {"basic_auth_user": "ann", "basic_auth_pass": "s3cret"},
    )


def test_overlap_is_set_when_asked_and_kept_when_init_runs_again_without_it() -> None:
    from dataclasses import replace

    from redraft.labelstudio.project import Overlap

    spec = ProjectSpec("T", "<View/>", "v1")
    fresh = plan_init(spec, None).project_changes
    assert {k: fresh[k] for k in ("maximum_annotations", "overlap_cohort_percentage")} == {
        "maximum_annotations": 1,
        "overlap_cohort_percentage": 100,
    }
    two = replace(spec, overlap=Overlap(2, 20))
    asked = plan_init(two, None)
    assert (asked.project_changes["maximum_annotations"], asked.describe(two)[1:]) == (
        2,
        [
            "set project label_config = <redraft labeling config>",
            "set project show_collab_predictions = True",
            "set project evaluate_predictions_automatically = False",
            "set project reveal_preannotations_interactively = False",
            "set project enable_empty_annotation = False",
            "set project show_skip_button = True",
            "set project model_version = 'v1'",
            "set project maximum_annotations = 2",
            "set project overlap_cohort_percentage = 20",
        ],
    )
    server = {"id": 9, **spec.project_fields(), **Overlap(2, 20).fields()}
    assert plan_init(spec, server).changes_nothing  # a re-run without --overlap keeps it
    assert plan_init(two, server).changes_nothing
    back = plan_init(replace(spec, overlap=Overlap()), server)
    assert back.project_changes == {"maximum_annotations": 1, "overlap_cohort_percentage": 100}


def test_an_overlap_share_without_overlap_is_refused_before_label_studio_is_asked(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from redraft.cli.main import cli

    env = {
        "REDRAFT_HOME": str(tmp_path),
        "LABEL_STUDIO_URL": "http://127.0.0.1:9",
        "LABEL_STUDIO_API_KEY": "t",
    }
    refused = CliRunner().invoke(cli, ["init", "--overlap-share", "20"], env=env)
    assert (refused.exit_code, refused.stderr.splitlines()[-1]) == (
        2,
        "Error: --overlap-share needs --overlap N: how many writers that share of tasks gets",
    )


def test_missing_binary_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(LabelStudioError) as err:
        find_binary(tmp_path / "nope")
    assert str(err.value) == (
        f"{BIN_ENV}={tmp_path / 'nope'} does not exist — run ./dev setup, or point it at a "
        "label-studio executable"
    )


def test_server_env_drops_what_label_studio_would_misread(tmp_path: Path) -> None:
    env = server_env(tmp_path, {"PATH": "/bin", "USERNAME": "me", "LABEL_STUDIO_API_KEY": "k"})
    assert env == {
        "PATH": "/bin",
        "ML_BLOCK_LOCAL_IP": "false",
        "SSRF_PROTECTION_ENABLED": "false",
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_BASE_DATA_DIR": str(tmp_path),
    }


def test_a_lone_surrogate_rejects_its_row_by_number(tmp_path: Path) -> None:
    source = tmp_path / "b.jsonl"
    source.write_text('{"brief": "Offer a demo."}\n{"brief": "Hi \\ud83d there"}\n')
    parsed = validate_records(read_records(source))
    assert [row.row for row in parsed.rows] == [1]
    assert [str(e) for e in parsed.errors] == [
        "row 2: `brief` holds a lone surrogate (\\ud83d), not valid Unicode text"
    ]


def test_history_without_a_rating_imports_as_a_draft_and_the_email_sent(tmp_path: Path) -> None:
    """Real history is often a draft and the email that was sent, nothing more."""
    source = tmp_path / "history.csv"
    source.write_text(
        "brief,draft,final,rating\n"
        "Offer a demo,Hi,Hello Ada,\n"
        "Ask for a call,Hey,Hey Bob,4\n"
        "Follow up,Yo,Hi Cy,five\n"
    )
    parsed = validate_records(read_records(source), with_feedback=True)
    assert parsed.rows == [
        BriefRow(1, {"brief": "Offer a demo"}, Feedback("Hi", "Hello Ada", None)),
        BriefRow(2, {"brief": "Ask for a call"}, Feedback("Hey", "Hey Bob", 4)),
    ]
    assert parsed.errors == [
        RowError(
            3, "rating 'five' is not a whole number from 1 to 5 (leave it empty when there is none)"
        )
    ]
    # The annotation Label Studio gets carries no rating item, as the editor leaves one out.
    assert import_task(parsed.rows[0]) == {
        "data": {"brief": "Offer a demo"},
        "predictions": [draft_prediction("Hi", "imported")],
        "annotations": [{"result": annotation_result(final="Hello Ada", draft="Hi")}],
    }


def test_nested_values_are_checked_like_top_level_ones(tmp_path: Path) -> None:
    """A list or an object inside a field can hold what no server stores, at any depth."""
    source = tmp_path / "b.jsonl"
    lines = [
        '{"brief": "Offer a demo.", "tags": ["crm", "demo"]}',
        '{"brief": "Say hi", "tags": ["ok", "bad \\ud83d"]}',
        '{"brief": "Say hi", "meta": {"notes": [{"text": "x\\u0000y"}], "score": Infinity}}',
        '{"brief": "Say hi", "meta": {"\\udc00": 1}, "\\ud800": "x", "n": NaN, "m": [NaN]}',
    ]
    source.write_text("\n".join(lines) + "\n")
    parsed = validate_records(read_records(source))
    assert parsed.rows == [BriefRow(1, {"brief": "Offer a demo.", "tags": ["crm", "demo"]})]
    assert [str(e) for e in parsed.errors] == [
        "row 2: `tags[1]` holds a lone surrogate (\\ud83d), not valid Unicode text",
        "row 3: `meta.notes[0].text` holds a NUL character (\\x00), which Label Studio on "
        "PostgreSQL cannot store; `meta.score` holds inf, a number JSON cannot carry",
        "row 4: a key in `meta` holds a lone surrogate (\\udc00), not valid Unicode text; "
        "a column name (`\\ud800`) holds a lone surrogate (\\ud800), not valid Unicode text; "
        "`m[0]` holds nan, a number JSON cannot carry",
    ]


def test_a_settled_progress_record_knows_whether_the_batch_in_flight_landed() -> None:
    def record() -> ImportProgress:
        return ImportProgress(Path("p.json"), {1, 2}, [10, 11], pending=[3, 4], count_before=7)

    landed, missed = record(), record()
    landed.settle(list(range(20, 29)))  # 7 + the 2 rows in flight: they are the newest tasks
    missed.settle(list(range(20, 27)))
    assert (landed.rows, landed.task_ids, landed.pending) == ({1, 2, 3, 4}, [10, 11, 27, 28], [])
    assert (missed.rows, missed.task_ids, missed.pending) == ({1, 2}, [10, 11], [])
    with pytest.raises(BriefImportError) as changed:
        record().settle(list(range(20, 28)))
    assert str(changed.value) == (
        "an interrupted import of this file was sending rows 3-4 when it stopped, and the "
        "project now holds 8 tasks (7 before that batch, 9 had it landed), so redraft cannot "
        "tell what is in it — check the project, then delete p.json to import the file again"
    )
