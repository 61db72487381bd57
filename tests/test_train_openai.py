"""`redraft train openai` against the stand-in's fine-tuning API (a real loopback server)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import openai
import pytest
from click.testing import CliRunner, Result

from redraft.cli.main import cli
from redraft.settings import Settings
from redraft.standin import StandinServer
from redraft.training import deadline
from redraft.training.errors import (
    FineTuningUnavailableError,
    TrainingFailedError,
    TrainingInProgressError,
)
from redraft.training.exportdir import load_export
from redraft.training.openai_trainer import OpenAIJobSpec, plan_openai_job, train_openai
from redraft.training.registry import ModelVersion, Registry
from tests.fixtures.training import write_export

BEFORE = date(2026, 11, 22)
AFTER = date(2027, 1, 6)


def _client(standin: StandinServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=standin.base_url, api_key="sk-test", max_retries=0)


def _spec(folder: Path, registry: Registry, **options: object) -> OpenAIJobSpec:
    return plan_openai_job(
        load_export(folder),
        method=str(options.pop("method", "supervised")),
        base_model=options.pop("base_model", None),  # type: ignore[arg-type]
        active=registry.active(),
        fallback_model="gpt-4o-mini",
        **options,  # type: ignore[arg-type]
    )


def _train(
    standin: StandinServer, registry: Registry, spec: OpenAIJobSpec, lines: list[str], **kw: object
) -> ModelVersion:
    return train_openai(
        _client(standin),
        registry,
        spec,
        today=kw.pop("today", BEFORE),  # type: ignore[arg-type]
        report=lines.append,
        base_url=standin.base_url,
        poll_interval=0.02,
        **kw,  # type: ignore[arg-type]
    )


def _interrupt_at_first_wait(
    standin: StandinServer, registry: Registry, spec: OpenAIJobSpec
) -> None:
    """Start training and stop it, as Ctrl-C would, at its first wait for the job."""

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(standin, registry, spec, [], sleep=interrupt)


def _posts(standin: StandinServer) -> list[str]:
    return [r["path"] for r in standin.requests if r["method"] == "POST"]


def test_job_runs_and_registers_a_candidate(
    fast_standin: StandinServer, registry: Registry, export_folder: Path
) -> None:
    lines: list[str] = []
    spec = _spec(export_folder, registry, suffix="acme", epochs=1)
    version = _train(fast_standin, registry, spec, lines)
    export = load_export(export_folder)
    assert version.status == "candidate"
    assert version.model_id.startswith("ft:gpt-4o-mini:stand-in:acme:")
    assert version.as_dict() | {"model_id": "-", "job_id": "-", "created_at": "-"} == {
        "name": "v1",
        "model_id": "-",
        "base_url": fast_standin.base_url,
        "base_model": "gpt-4o-mini",
        "parent": None,
        "trainer": "openai",
        "manifest_sha256": export.manifest_sha256,
        "template_sha256": export.template_sha256,
        "job_id": "-",
        "idempotency_key": spec.key,
        "status": "candidate",
        "created_at": "-",
        "metrics": version.metrics,
        "export_dir": str(export_folder),
        "error": None,
        "pid": None,
        "projects": (),
    }
    assert version.metrics["method"] == "supervised"
    assert version.metrics["trained_tokens"] > 0
    assert [c["step"] for c in version.metrics["checkpoints"]] == sorted(
        c["step"] for c in version.metrics["checkpoints"]
    )
    assert version.metrics["checkpoints"], "the stand-in reports checkpoints"
    assert lines[0] == deadline.notice(BEFORE)
    assert f"job {version.job_id}: succeeded" in lines
    assert lines[-1] == (
        f"registered v1 ({version.model_id}) as a candidate — review it, then "
        "`redraft models promote v1`"
    )
    assert _posts(fast_standin) == ["/v1/files", "/v1/files", "/v1/fine_tuning/jobs"]
    # The fine-tuned model answers chat completions.
    reply = _client(fast_standin).chat.completions.create(
        model=version.model_id, messages=[{"role": "user", "content": "Offer a demo."}]
    )
    assert reply.choices[0].message.content


def test_rerun_reattaches_instead_of_paying_twice(
    fast_standin: StandinServer, registry: Registry, export_folder: Path
) -> None:
    spec = _spec(export_folder, registry, method="dpo")
    first = _train(fast_standin, registry, spec, [])
    lines: list[str] = []
    again = _train(fast_standin, registry, _spec(export_folder, registry, method="dpo"), lines)
    assert again == first
    assert lines == [
        deadline.notice(BEFORE),
        f"already trained: v1 ({first.model_id}) from this dataset",
    ]
    assert _posts(fast_standin) == ["/v1/files", "/v1/files", "/v1/fine_tuning/jobs"]


def test_interrupted_run_resumes_from_the_registry_row(
    fast_standin: StandinServer, registry: Registry, export_folder: Path
) -> None:
    spec = _spec(export_folder, registry)

    _interrupt_at_first_wait(fast_standin, registry, spec)
    row = registry.get("v1")
    assert (row.status, row.job_id is not None) == ("training", True)
    lines: list[str] = []
    version = _train(fast_standin, registry, spec, lines)
    assert (version.name, version.status, version.job_id) == ("v1", "candidate", row.job_id)
    assert lines[1] == f"re-attaching to job {row.job_id} for v1"
    assert _posts(fast_standin).count("/v1/fine_tuning/jobs") == 1
    assert _posts(fast_standin).count("/v1/files") == 2


def test_lost_registry_reattaches_through_job_metadata(
    fast_standin: StandinServer, tmp_path: Path, export_folder: Path
) -> None:
    first = _train(
        fast_standin,
        Registry(tmp_path / "a.sqlite3"),
        _spec(export_folder, Registry(tmp_path / "a.sqlite3")),
        [],
    )
    other = Registry(tmp_path / "b.sqlite3")
    lines: list[str] = []
    version = _train(fast_standin, other, _spec(export_folder, other), lines)
    assert version.job_id == first.job_id
    assert version.model_id == first.model_id
    assert lines[1] == f"re-attaching to job {first.job_id} (same dataset and parameters)"
    assert _posts(fast_standin).count("/v1/fine_tuning/jobs") == 1


def test_job_failing_midway_registers_no_candidate(
    fast_standin: StandinServer, registry: Registry, export_folder: Path
) -> None:
    spec = _spec(export_folder, registry, suffix="fail-midway")
    with pytest.raises(TrainingFailedError) as err:
        _train(fast_standin, registry, spec, [])
    row = registry.get("v1")
    assert row.status == "failed"
    assert row.error is not None and "Fine-tuning failed at step" in row.error
    assert str(err.value) == (
        f"fine-tuning job {row.job_id} failed: {row.error} — no candidate registered; "
        "v1 is marked failed. Fix the data and re-run `redraft train openai`"
    )
    assert registry.latest_candidate() is None
    assert registry.training() is None


def test_second_training_is_refused_while_one_runs(
    fast_standin: StandinServer, registry: Registry, export_folder: Path, tmp_path: Path
) -> None:
    spec = _spec(export_folder, registry)

    _interrupt_at_first_wait(fast_standin, registry, spec)
    job_id = registry.get("v1").job_id
    other = _spec(write_export(tmp_path / "other", rows=11), registry)
    with pytest.raises(TrainingInProgressError) as err:
        _train(fast_standin, registry, other, [])
    assert str(err.value) == (
        f"v1 is still training (job {job_id}) — only one training runs at a time; wait for it "
        "(`redraft status`) or cancel it with `redraft models cancel v1`"
    )
    assert _posts(fast_standin).count("/v1/fine_tuning/jobs") == 1


def test_after_the_shutdown_no_job_is_started(
    fast_standin: StandinServer, registry: Registry, export_folder: Path
) -> None:
    with pytest.raises(FineTuningUnavailableError) as err:
        _train(fast_standin, registry, _spec(export_folder, registry), [], today=AFTER)
    assert str(err.value) == (
        "OpenAI self-serve fine-tuning stopped taking new jobs on 2027-01-06 (today is "
        "2027-01-06) — train an open-weights model instead: `redraft train trl EXPORT_DIR "
        "--base-model PATH_OR_ID` (pip install 'redraft[train]'), then serve it with vLLM or Ollama"
    )
    assert registry.list() == []
    assert _posts(fast_standin) == []


@pytest.mark.parametrize(
    ("today", "line"),
    [
        (
            date(2026, 11, 22),
            "note: OpenAI self-serve fine-tuning stops taking new jobs on 2027-01-06 — "
            "45 days left; `redraft train trl` outlives it",
        ),
        (
            date(2027, 1, 5),
            "note: OpenAI self-serve fine-tuning stops taking new jobs on 2027-01-06 — "
            "1 day left; `redraft train trl` outlives it",
        ),
    ],
)
def test_notice_counts_the_days_left(today: date, line: str) -> None:
    assert deadline.notice(today) == line
    assert not deadline.is_closed(today)


@pytest.mark.parametrize(
    ("status", "message", "refused"),
    [
        (403, "You do not have access to fine-tuning.", True),
        (400, "Fine-tuning is no longer available for new jobs.", True),
        (400, "training_file: line 3 has no assistant message", False),
        (500, "fine-tuning unavailable", False),
    ],
)
def test_api_refusals_point_to_trl(status: int, message: str, refused: bool) -> None:
    explained = deadline.refusal_message(status, message)
    if refused:
        assert explained == (
            f"OpenAI refused fine-tuning (HTTP {status}: {message}) — {deadline.TRL_HINT}"
        )
    else:
        assert explained is None


def test_continues_from_the_active_fine_tune(registry: Registry, export_folder: Path) -> None:
    registry.add(ModelVersion(name="v1", model_id="ft:gpt-4o-mini:stand-in::abc", trainer="openai"))
    registry.promote("v1")
    spec = _spec(export_folder, registry)
    assert (spec.base_model, spec.parent) == ("ft:gpt-4o-mini:stand-in::abc", "v1")
    explicit = _spec(export_folder, registry, base_model="gpt-4.1-mini")
    assert (explicit.base_model, explicit.parent) == ("gpt-4.1-mini", None)
    assert explicit.key != spec.key


def _cli(settings: Settings, standin: StandinServer, *args: str) -> Result:
    env = {
        "REDRAFT_HOME": str(settings.home),
        "OPENAI_API_KEY": "sk-test-key",
        "OPENAI_BASE_URL": standin.base_url,
    }
    return CliRunner().invoke(cli, ["train", "openai", *args], env=env)


def test_cli_trains_and_prints_the_version(
    settings: Settings, fast_standin: StandinServer, export_folder: Path
) -> None:
    result = _cli(settings, fast_standin, str(export_folder), "--poll-interval", "0.02")
    assert result.exit_code == 0, result.output
    assert result.stdout == "v1\n"
    version = Registry(settings.registry_path).get("v1")
    assert result.stderr.splitlines()[-1] == f"done: v1 is candidate ({version.model_id})"


def test_cli_dry_run_uploads_nothing(
    settings: Settings, fast_standin: StandinServer, export_folder: Path
) -> None:
    result = _cli(settings, fast_standin, str(export_folder), "--method", "dpo", "--dry-run")
    assert result.exit_code == 0, result.output
    spec = _spec(export_folder, Registry(settings.registry_path), method="dpo")
    assert result.stdout.splitlines() == [
        "method dpo from gpt-4o-mini",
        "training file openai_dpo.train.jsonl: 12 rows",
        "validation file openai_dpo.validation.jsonl: 2 rows",
        f"idempotency key {spec.key[:16]}…",
    ]
    assert result.stderr.splitlines()[-1] == "dry run: nothing uploaded, no job created"
    assert fast_standin.requests == []


def test_cli_after_the_deadline_explains_and_exits_1(
    settings: Settings, fast_standin: StandinServer, export_folder: Path
) -> None:
    result = _cli(settings, fast_standin, str(export_folder), "--today", "2027-02-01")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "error: " + deadline.closed_message(date(2027, 2, 1))


def test_cli_rejects_a_tampered_export(
    settings: Settings, fast_standin: StandinServer, export_folder: Path
) -> None:
    with open(export_folder / "openai_sft.train.jsonl", "a") as handle:
        handle.write('{"messages": []}\n')
    result = _cli(settings, fast_standin, str(export_folder))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {export_folder / 'openai_sft.train.jsonl'} changed since export (sha256 differs "
        "from the manifest) — re-run `redraft export` instead of editing exported files\n"
    )


def _left_training(
    settings: Settings, standin: StandinServer, export_folder: Path
) -> tuple[Registry, str]:
    """A slow job that `train openai` started and was interrupted from: (registry, job id)."""
    registry = Registry(settings.registry_path)
    spec = _spec(export_folder, registry, suffix="slow")
    standin.state.apply_config({"job_step_seconds": 5.0})
    _interrupt_at_first_wait(standin, registry, spec)
    job_id = registry.get("v1").job_id
    assert job_id is not None
    return registry, job_id


def test_models_cancel_stops_the_job_and_frees_the_slot(
    settings: Settings, fast_standin: StandinServer, export_folder: Path
) -> None:
    registry, job_id = _left_training(settings, fast_standin, export_folder)
    env = {
        "REDRAFT_HOME": str(settings.home),
        "OPENAI_API_KEY": "sk-test-key",
        "OPENAI_BASE_URL": fast_standin.base_url,
    }
    result = CliRunner().invoke(cli, ["models", "cancel", "v1"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stderr == "cancelled v1\n"
    assert _client(fast_standin).fine_tuning.jobs.retrieve(job_id).status == "cancelled"
    row = registry.get("v1")
    assert (row.status, row.error) == ("failed", "cancelled by the operator")
    assert registry.training() is None


def test_following_a_job_someone_cancelled_says_so_without_blaming_the_data(
    settings: Settings, fast_standin: StandinServer, export_folder: Path
) -> None:
    from redraft.training.openai_jobs import finish

    registry, job_id = _left_training(settings, fast_standin, export_folder)
    client = _client(fast_standin)
    client.fine_tuning.jobs.cancel(job_id)
    with pytest.raises(TrainingFailedError) as failed:
        finish(
            client, registry, registry.get("v1"), client.fine_tuning.jobs.retrieve(job_id), print
        )
    assert str(failed.value) == (
        f"fine-tuning job {job_id} was cancelled — no candidate registered; v1 is marked failed. "
        "Re-run `redraft train openai` to train again"
    )


def test_a_dataset_the_exporter_marked_not_ready_is_refused(
    registry: Registry, export_folder: Path
) -> None:
    from redraft.training.errors import ExportFolderError

    export = load_export(export_folder)
    export.manifest.datasets["openai_dpo"] = {
        "ready": False,
        "problems": ["openai_dpo.train.jsonl: 3 rows, fewer than the 10 the API needs"],
    }
    with pytest.raises(ExportFolderError) as err:
        plan_openai_job(
            export, method="dpo", base_model=None, active=None, fallback_model="gpt-4o-mini"
        )
    assert str(err.value) == (
        f"openai_dpo in {export_folder} is not ready for OpenAI fine-tuning: openai_dpo.train."
        "jsonl: 3 rows, fewer than the 10 the API needs — fix it and re-export (see "
        "`redraft validate`)"
    )


def test_two_concurrent_runs_of_the_same_spec_create_one_job(
    settings: Settings, fast_standin: StandinServer, export_folder: Path
) -> None:
    """Run A is held inside its first upload while run B, another process, starts the same."""
    import subprocess
    import sys
    import threading

    import httpx

    uploading, release = threading.Event(), threading.Event()

    def hold_upload(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path == "/v1/files" and not uploading.is_set():
            uploading.set()
            release.wait(60)

    registry = Registry(settings.registry_path)
    spec = _spec(export_folder, registry)
    client = openai.OpenAI(
        base_url=fast_standin.base_url,
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.Client(event_hooks={"request": [hold_upload]}),
    )
    outcome: dict[str, object] = {}

    def run_a() -> None:
        try:
            outcome["a"] = train_openai(
                client, registry, spec, today=BEFORE, report=lambda _: None, poll_interval=0.02
            )
        except BaseException as exc:  # reported by the assert below
            outcome["a"] = exc

    thread = threading.Thread(target=run_a)
    thread.start()
    try:
        assert uploading.wait(30), "run A never reached its upload"
        env = {
            **os.environ,
            "REDRAFT_HOME": str(settings.home),
            "OPENAI_API_KEY": "sk-test-key",
            "OPENAI_BASE_URL": fast_standin.base_url,
        }
        redraft = Path(sys.executable).parent / "redraft"
        b = subprocess.run(
            [str(redraft), "train", "openai", str(export_folder), "--poll-interval", "0.02"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        release.set()
        thread.join(60)
    assert b.returncode == 1, b.stderr
    assert b.stderr.splitlines()[-1] == (
        f"error: v1 is being started by process {os.getpid()} (uploading, no job id yet) — "
        "wait a minute and re-run the same command to follow its job"
    )
    assert b.stdout == ""
    version = outcome["a"]
    assert isinstance(version, ModelVersion), version
    assert (version.name, version.status, version.pid) == ("v1", "candidate", None)
    assert _posts(fast_standin) == ["/v1/files", "/v1/files", "/v1/fine_tuning/jobs"]
