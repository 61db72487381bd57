"""The stand-in's files and fine-tuning API, driven through the real `openai` client."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from redraft.standin import FaultRule, StandinServer
from redraft.standin.ftdata import train_loss

TERMINAL = ("succeeded", "failed", "cancelled")


def sft_row(i: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You write outreach emails."},
            {"role": "user", "content": f"Brief:\nPitch product {i}"},
            {"role": "assistant", "content": f"Subject: Product {i}\n\nHello."},
        ]
    }


def dpo_row(i: int) -> dict[str, Any]:
    return {
        "input": {"messages": [{"role": "user", "content": f"Brief:\nPitch product {i}"}]},
        "preferred_output": [{"role": "assistant", "content": f"Subject: Final {i}"}],
        "non_preferred_output": [{"role": "assistant", "content": f"Subject: Draft {i}"}],
    }


def jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


@pytest.fixture
def client(standin: StandinServer) -> openai.OpenAI:
    standin.state.apply_config({"job_step_seconds": 0.01})
    return openai.OpenAI(base_url=standin.base_url, api_key="sk-test", max_retries=0)


def upload(client: openai.OpenAI, rows: list[Any], name: str = "train.jsonl") -> str:
    return client.files.create(file=(name, jsonl(rows)), purpose="fine-tune").id


def wait_for(client: openai.OpenAI, job_id: str, statuses: tuple[str, ...] = TERMINAL) -> Any:
    """Poll a job until it reaches one of `statuses` (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + 20
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses or time.monotonic() > deadline:
            return job
        time.sleep(0.02)


def event_messages(client: openai.OpenAI, job_id: str) -> list[str]:
    events = client.fine_tuning.jobs.list_events(job_id, limit=100).data
    return [event.message for event in reversed(events)]


def test_file_endpoints(client: openai.OpenAI) -> None:
    content = jsonl([sft_row(i) for i in range(10)])
    uploaded = client.files.create(file=("train.jsonl", content), purpose="fine-tune")
    body = uploaded.model_dump()
    assert body["id"].startswith("file-")
    assert isinstance(body.pop("created_at"), int)
    assert body == {
        "id": uploaded.id,
        "object": "file",
        "purpose": "fine-tune",
        "filename": "train.jsonl",
        "bytes": len(content),
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }
    assert client.files.retrieve(uploaded.id) == uploaded
    assert [f.id for f in client.files.list(purpose="fine-tune")] == [uploaded.id]
    assert client.files.list(purpose="batch").data == []
    assert client.files.content(uploaded.id).read() == content
    deleted = client.files.delete(uploaded.id)
    assert deleted.model_dump() == {"id": uploaded.id, "object": "file", "deleted": True}
    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve(uploaded.id)
    assert caught.value.body == {
        "message": f"No such File object: {uploaded.id}",
        "type": "invalid_request_error",
        "param": "id",
        "code": None,
    }


def test_upload_refuses_a_line_that_is_not_json(client: openai.OpenAI) -> None:
    content = jsonl([sft_row(0)]) + b"{not json\n"
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("train.jsonl", content), purpose="fine-tune")
    assert caught.value.body == {
        "message": "Invalid file format for Fine-Tuning API. Line 2 is not valid JSON: "
        "Expecting property name enclosed in double quotes.",
        "type": "invalid_request_error",
        "param": "file",
        "code": "invalid_value",
    }


def test_sft_job_runs_to_success_and_the_model_answers(
    client: openai.OpenAI, standin: StandinServer
) -> None:
    training = upload(client, [sft_row(i) for i in range(12)])
    created = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=training, suffix="acme", metadata={"run": "r1"}
    )
    assert created.status == "validating_files"
    assert created.fine_tuned_model is None
    job = wait_for(client, created.id)
    body = job.model_dump(exclude_none=True)
    for key in ("created_at", "finished_at", "seed", "trained_tokens"):
        assert isinstance(body.pop(key), int)
    result_file = body.pop("result_files")
    short = created.id[-8:]
    hyperparameters = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}
    assert body == {
        "id": created.id,
        "object": "fine_tuning.job",
        "model": "gpt-4o-mini",
        "fine_tuned_model": f"ft:gpt-4o-mini:stand-in:acme:{short}",
        "organization_id": "org-standin",
        "status": "succeeded",
        "training_file": training,
        "hyperparameters": hyperparameters,
        "user_provided_suffix": "acme",
        "integrations": [],
        "metadata": {"run": "r1"},
        "method": {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
    }
    model = f"ft:gpt-4o-mini:stand-in:acme:{short}"
    assert model in [m.id for m in client.models.list()]
    answer = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Brief:\nPitch product 3"}]
    )
    assert (answer.choices[0].message.content or "").endswith(f"[stand-in draft from {model}]")

    csv = client.files.content(result_file[0]).text.splitlines()
    assert csv[0] == "step,train_loss,train_mean_token_accuracy"
    losses = [float(line.split(",")[1]) for line in csv[1:]]
    assert len(losses) == 20
    assert losses == sorted(losses, reverse=True) and losses[0] > losses[-1]
    assert standin.request_count("/v1/fine_tuning/jobs") >= 1

    checkpoints = client.fine_tuning.jobs.checkpoints.list(created.id).data
    assert [(c.step_number, c.fine_tuned_model_checkpoint) for c in checkpoints] == [
        (20, model),
        (13, f"{model}:ckpt-step-13"),
        (6, f"{model}:ckpt-step-6"),
    ]
    assert checkpoints[0].metrics.train_loss == train_loss(20, 20, job.seed)


def test_events_are_newest_first_and_page_with_after(client: openai.OpenAI) -> None:
    job = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini", training_file=upload(client, [sft_row(i) for i in range(10)])
    )
    wait_for(client, job.id)
    messages = event_messages(client, job.id)
    assert messages[:3] == [
        f"Validating training file: {job.training_file}",
        "Files validated, moving job to queued state",
        "Fine-tuning job started",
    ]
    assert messages[3] == f"Step 1/20: training loss={train_loss(1, 20, job.seed):.4f}"
    assert messages[-2:] == [
        f"New fine-tuned model created: ft:gpt-4.1-mini:stand-in::{job.id[-8:]}",
        "The job has successfully completed",
    ]
    assert len(messages) == 25
    first = client.fine_tuning.jobs.list_events(job.id, limit=3)
    assert [e.message for e in first.data] == messages[::-1][:3]
    assert first.has_more is True
    second = client.fine_tuning.jobs.list_events(job.id, limit=3, after=first.data[-1].id)
    assert [e.message for e in second.data] == messages[::-1][3:6]
    metrics = [e.data for e in client.fine_tuning.jobs.list_events(job.id, limit=100).data]
    steps = [m for m in reversed(metrics) if m]
    assert steps[0] == {
        "step": 1,
        "train_loss": 1.6,
        "total_steps": 20,
        "train_mean_token_accuracy": 0.2,
        "trained_tokens": steps[-1]["trained_tokens"] // 20,
    }
    assert [m["train_loss"] for m in steps] == sorted(
        (m["train_loss"] for m in steps), reverse=True
    )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [sft_row(i) for i in range(3)]
            + [{"messages": [{"role": "user", "content": "no answer"}]}]
            + [sft_row(i) for i in range(10)],
            "Line 4: no assistant message; every example needs at least one.",
        ),
        (
            [sft_row(0), {"messages": [{"role": "robot", "content": "x"}]}],
            "Line 2: messages[0] has invalid role 'robot'; use one of assistant, developer, "
            "function, system, tool, user.",
        ),
        (
            [sft_row(0), sft_row(1), {**sft_row(2), "label": "good"}],
            "Line 3: unrecognized key 'label'.",
        ),
        (
            [
                {
                    "messages": [
                        {"role": "user", "content": "x"},
                        {"role": "assistant", "content": ""},
                    ]
                }
            ],
            "Line 1: messages[1] has no text content.",
        ),
        (
            [sft_row(i) for i in range(9)],
            "The file has 9 example(s), but must have at least 10 examples.",
        ),
        (
            [dpo_row(0)],
            "Line 1: unrecognized key 'input'.",
        ),
    ],
)
def test_invalid_training_file_fails_the_job(
    client: openai.OpenAI, standin: StandinServer, rows: list[Any], message: str
) -> None:
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload(client, rows))
    assert job.status == "validating_files"
    job = wait_for(client, job.id)
    assert job.status == "failed"
    assert job.error is not None
    assert job.error.model_dump() == {
        "code": "invalid_training_file",
        "message": f"The job failed due to an invalid training file. {message}",
        "param": "training_file",
    }
    assert job.fine_tuned_model is None
    assert event_messages(client, job.id)[-1] == job.error.message
    assert len(client.models.list().data) == len(standin.config.models)


def test_fail_midway_suffix(client: openai.OpenAI) -> None:
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini",
        training_file=upload(client, [sft_row(i) for i in range(10)]),
        suffix="fail-midway",
    )
    job = wait_for(client, job.id)
    assert job.status == "failed"
    assert job.error is not None
    assert job.error.model_dump() == {
        "code": "training_failed",
        "message": "Fine-tuning failed at step 10 of 20 (stand-in fault injection). Retry the job.",
        "param": None,
    }
    messages = event_messages(client, job.id)
    assert messages[-2:] == [
        f"Step 10/20: training loss={train_loss(10, 20, job.seed):.4f}",
        "Fine-tuning job failed",
    ]
    assert client.fine_tuning.jobs.checkpoints.list(job.id).data == []


def test_job_fail_fault_rule_hits_once(client: openai.OpenAI, standin: StandinServer) -> None:
    standin.add_fault(FaultRule("job_fail", match="nightly", times=1))
    training = upload(client, [sft_row(i) for i in range(10)])
    first = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=training, suffix="nightly"
    )
    other = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)
    second = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=training, suffix="nightly"
    )
    statuses = [wait_for(client, job.id).status for job in (first, other, second)]
    assert statuses == ["failed", "succeeded", "succeeded"]


def test_cancel_stops_the_job(client: openai.OpenAI, standin: StandinServer) -> None:
    standin.state.apply_config({"job_step_seconds": 0.2})
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=upload(client, [sft_row(i) for i in range(10)])
    )
    wait_for(client, job.id, ("running",))
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert (cancelled.status, cancelled.fine_tuned_model) == ("cancelled", None)
    assert cancelled.finished_at is not None
    standin.state.apply_config({"job_step_seconds": 0.01})  # applies to new jobs only
    time.sleep(0.5)  # long enough for steps to have been emitted, had it kept running
    later = client.fine_tuning.jobs.retrieve(job.id)
    assert later.status == "cancelled"
    messages = event_messages(client, job.id)
    assert messages[-1] == "Fine-tuning job cancelled"
    assert messages == event_messages(client, job.id)
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.cancel(job.id)
    assert caught.value.body == {
        "message": f"Job {job.id} has already finished (status cancelled); only a running or "
        "queued job can be cancelled.",
        "type": "invalid_request_error",
        "param": "fine_tuning_job_id",
        "code": None,
    }


def test_dpo_job(client: openai.OpenAI) -> None:
    training = upload(client, [dpo_row(i) for i in range(10)], "pairs.jsonl")
    validation = upload(client, [dpo_row(i) for i in range(2)], "pairs.val.jsonl")
    job = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14",
        training_file=training,
        validation_file=validation,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}},
    )
    job = wait_for(client, job.id)
    assert job.status == "succeeded"
    assert job.method is not None
    assert job.method.model_dump(exclude_none=True) == {
        "type": "dpo",
        "dpo": {
            "hyperparameters": {
                "beta": 0.2,
                "batch_size": 1,
                "learning_rate_multiplier": 1.8,
                "n_epochs": 3,
            }
        },
    }
    step = client.fine_tuning.jobs.list_events(job.id, limit=3).data[-1].data
    assert step is not None and set(step) == {
        "step",
        "train_loss",
        "total_steps",
        "train_mean_token_accuracy",
        "trained_tokens",
        "valid_loss",
        "valid_mean_token_accuracy",
    }


def test_dpo_job_with_two_preferred_outputs_fails(client: openai.OpenAI) -> None:
    rows = [dpo_row(i) for i in range(10)]
    rows[6]["preferred_output"].append({"role": "assistant", "content": "again"})
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=upload(client, rows), method={"type": "dpo"}
    )
    job = wait_for(client, job.id)
    assert job.error is not None
    assert job.error.message == (
        "The job failed due to an invalid training file. "
        "Line 7: 'preferred_output' must be a list with exactly one message."
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"model": "gpt-9"},
            {
                "message": "Model gpt-9 is not available for fine-tuning or does not exist.",
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_available",
            },
        ),
        (
            {"training_file": "file-missing"},
            {
                "message": "Invalid file ID for 'training_file': 'file-missing'. Upload it first "
                "with POST /v1/files.",
                "type": "invalid_request_error",
                "param": "training_file",
                "code": "invalid_file_id",
            },
        ),
        (
            {"method": {"type": "reinforcement"}},
            {
                "message": "Invalid 'method.type': 'reinforcement'. The stand-in supports "
                "'supervised' and 'dpo'.",
                "type": "invalid_request_error",
                "param": "method.type",
                "code": "invalid_value",
            },
        ),
    ],
)
def test_bad_job_request_is_400(
    client: openai.OpenAI, overrides: dict[str, Any], expected: dict[str, Any]
) -> None:
    params = {
        "model": "gpt-4o-mini",
        "training_file": upload(client, [sft_row(i) for i in range(10)]),
        **overrides,
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(**params)
    assert caught.value.body == expected


def test_list_jobs_filters_by_metadata_and_pages(client: openai.OpenAI) -> None:
    training = upload(client, [sft_row(i) for i in range(10)])
    ids = [
        client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=training, metadata={"batch": str(i % 2)}
        ).id
        for i in range(4)
    ]
    assert [j.id for j in client.fine_tuning.jobs.list()] == ids[::-1]
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"batch": "1"})] == [
        ids[3],
        ids[1],
    ]
    page = client.fine_tuning.jobs.list(limit=2)
    assert ([j.id for j in page.data], page.has_more) == ([ids[3], ids[2]], True)
    rest = client.fine_tuning.jobs.list(limit=2, after=ids[2])
    assert ([j.id for j in rest.data], rest.has_more) == ([ids[1], ids[0]], False)
