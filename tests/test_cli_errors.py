"""Errors as the house style promises them: one `error: what failed — what to do` line and exit
1, or click's usage error and exit 2 — never a traceback, never a misleading cause. Each case
runs the real `redraft` entry point and asserts the whole of stderr."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from redraft.cli.main import cli
from redraft.labelstudio.server import free_port
from tests.fixtures.common import REDRAFT, clean_env
from tests.fixtures.exports import annotation, prediction, task, write_json


def usage(command: str, message: str, arguments: str = "") -> str:
    """click's usage error for `redraft COMMAND`, as printed (exit 2)."""
    return (
        f"Usage: redraft {command} [OPTIONS]{arguments}\n"
        f"Try 'redraft {command} --help' for help.\n\nError: {message}\n"
    )


@pytest.fixture
def env(redraft_home: Path) -> dict[str, str]:
    """An operator's environment whose Label Studio is not running (nothing listens there)."""
    return {
        "REDRAFT_HOME": str(redraft_home),
        "LABEL_STUDIO_URL": f"http://127.0.0.1:{free_port()}",
        "LABEL_STUDIO_API_KEY": "a-token",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": "",
        "REDRAFT_LOG_LEVEL": "",
    }


def run(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False, prog_name="redraft")


def test_an_unknown_log_level_is_a_usage_error_not_a_traceback(env: dict[str, str]) -> None:
    done = subprocess.run(
        [REDRAFT, "--log-level", "LOUD", "status"],
        env={**clean_env(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "Usage: redraft [OPTIONS] COMMAND [ARGS]...\nTry 'redraft --help' for help.\n\n"
        "Error: Invalid value for '--log-level': 'LOUD' is not one of 'debug', 'info', "
        "'warning', 'error'.\n"
    )
    from_env = subprocess.run(
        [REDRAFT, "status"],
        env={**clean_env(), **env, "REDRAFT_LOG_LEVEL": "loud"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (from_env.returncode, from_env.stdout) == (1, "")
    assert from_env.stderr == (
        "error: REDRAFT_LOG_LEVEL=LOUD is not a log level — set it to one of DEBUG, INFO, "
        "WARNING, ERROR\n"
    )


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["import", "dry-run"])
def test_import_checks_the_file_before_asking_label_studio(
    env: dict[str, str], tmp_path: Path, dry_run: list[str]
) -> None:
    """Label Studio is down here: a file problem is still the error named, not the server."""
    missing = tmp_path / "briefs.csv"
    done = run(["import", str(missing), "--project", "1", *dry_run], env)
    assert (done.exit_code, done.stdout) == (1, "")
    assert done.stderr == f"error: {missing}: no such file — check the path\n"

    text = tmp_path / "briefs.txt"
    text.write_text("Offer a demo.\n")
    done = run(["import", str(text), "--project", "1", *dry_run], env)
    assert (done.exit_code, done.stdout) == (1, "")
    assert done.stderr == (f"error: {text}: unknown file type '.txt' — use .csv, .jsonl or .json\n")

    empty = tmp_path / "briefs.jsonl"
    empty.write_text("\n")
    done = run(["import", str(empty), "--project", "1", *dry_run], env)
    assert done.stderr == f"error: {empty}: no rows — add one brief per row\n"

    # A good file gets as far as Label Studio, which is down: that is the error then.
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"brief": "Offer a demo."}) + "\n")
    done = run(["import", str(good), "--project", "1", *dry_run], env)
    assert done.exit_code == 1
    assert done.stderr.startswith(f"error: cannot reach Label Studio at {env['LABEL_STUDIO_URL']}")


@pytest.mark.parametrize(
    "document",
    [
        '[{"id": 1, "data": {"brief": "B"}},\n {"id": 2, "data": {"brief": "C"}}]\n',
        '{\n "a": 1\n}\n',
    ],
    ids=["list", "object-over-lines"],
)
def test_validate_on_a_json_document_says_it_wants_jsonl(
    env: dict[str, str], tmp_path: Path, document: str
) -> None:
    export = tmp_path / "project-1-at-2026-11-22.json"
    export.write_text(document)
    done = run(["validate", str(export)], env)
    assert (done.exit_code, done.stdout) == (1, "")
    assert done.stderr == (
        f"error: {export} is one JSON document, not JSONL (one training example per line) — "
        "validate the .jsonl files `redraft export` writes; a Label Studio export is read by "
        f"`redraft export --from-file {export}`\n"
    )


def test_a_missing_export_folder_is_worded_alike_everywhere(
    env: dict[str, str], tmp_path: Path
) -> None:
    gone = tmp_path / "exports" / "gone"
    cases = {
        "report": (["report", "--export", str(gone)], "'--export'", ""),
        "eval": (["eval", "v2", "--export", str(gone)], "'--export'", " CANDIDATE"),
        "train openai": (["train", "openai", str(gone)], "'EXPORT_DIR'", " EXPORT_DIR"),
        "train trl": (["train", "trl", str(gone)], "'EXPORT_DIR'", " EXPORT_DIR"),
    }
    for command, (args, name, arguments) in cases.items():
        done = run(args, env)
        why = f"Invalid value for {name}: Directory '{gone}' does not exist."
        expected = usage(command, why, arguments)
        assert (command, done.exit_code, done.stdout, done.stderr) == (command, 2, "", expected)


def test_report_and_export_without_a_source_are_both_usage_errors(env: dict[str, str]) -> None:
    report = run(["report"], env)
    assert (report.exit_code, report.stdout) == (2, "")
    assert report.stderr == usage(
        "report",
        "name exactly one source: --project ID|TITLE, --export DIR or --from-file EXPORT.json",
    )
    export = run(["export"], env)
    assert (export.exit_code, export.stdout) == (2, "")
    assert export.stderr == usage(
        "export", "give exactly one of --project ID|TITLE or --from-file FILE"
    )


def test_the_export_summary_counts_in_words(env: dict[str, str], tmp_path: Path) -> None:
    """One of each: 1 SFT row, 1 preference pair, 1 task rejected, 1 line — never `1 tasks`."""
    draft = "Hi Ada, shall we show you the CRM cleanup on Friday? Best, Sam"
    final = "Hi Ada, could we show you the CRM cleanup this Friday at ten? Best, Sam"
    tasks = [
        task(1, predictions=[prediction(11, draft)], annotations=[annotation(101, final, 4)]),
        task(2, predictions=[prediction(21, draft)], annotations=[annotation(201, cancelled=True)]),
    ]
    source, out = write_json(tmp_path / "project-1.json", tasks), tmp_path / "out"
    done = run(
        ["export", "--from-file", str(source), "--validation-ratio", "0", "-o", str(out)],
        env,
    )
    assert done.exit_code == 0, done.output
    assert done.stderr.splitlines()[-1] == (
        "exported 1 SFT row, 1 preference pair from 1 of 2 tasks; rejected 1 task "
        "(1 line in rejects.jsonl); NOT ready"
    )


def test_simulate_with_a_missing_rules_file_says_what_to_do(
    env: dict[str, str], tmp_path: Path
) -> None:
    done = run(["simulate", "--rules", str(tmp_path / "missing.toml"), "--project", "1"], env)
    assert (done.exit_code, done.stdout) == (1, "")
    assert done.stderr == (
        f"error: cannot read writer rules {tmp_path / 'missing.toml'}: No such file or "
        'directory — check the path; a rules file has one [clients."Name"] table per client, '
        "like redraft/samples/simulated_writers.toml (docs/local.md#simulated-writers)\n"
    )
