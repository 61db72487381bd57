"""`redraft ab create` and `analyze` against the real Label Studio and the stand-in model."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.fixtures.common import REDRAFT, clean_env


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REDRAFT, *args], capture_output=True, text=True, env=env, check=False)


@pytest.mark.e2e
def test_ab_create_then_analyze(label_studio, ls_client, standin, redraft_home, tmp_path):
    env = clean_env()
    env |= {
        "REDRAFT_HOME": str(redraft_home),
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.login.token,
        "OPENAI_BASE_URL": standin.base_url,
        "OPENAI_API_KEY": "sk-test",
    }
    briefs = tmp_path / "briefs.jsonl"
    briefs.write_text(
        "".join(
            json.dumps({"brief": f"Pitch reporting automation to firm {i}"}) + "\n"
            for i in range(6)
        )
    )
    created = run(
        "ab",
        "create",
        "--versions",
        "v1",
        "v2",
        "--model-a",
        "gpt-4o-mini",
        "--model-b",
        "stand-in",
        "--briefs",
        str(briefs),
        "--n",
        "4",
        "--seed",
        "2",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    project_id = int(created.stdout.strip())
    mapping_path = redraft_home / "ab" / f"project-{project_id}.json"
    assert created.stderr.strip().splitlines()[-1] == (
        f"created A/B project {project_id} with 4 side-by-side tasks (v1 vs v2); "
        f"mapping in {mapping_path}"
    )
    sidecar = json.loads(mapping_path.read_text())
    assert (sidecar["version_a"], sidecar["version_b"], sidecar["seed"]) == ("v1", "v2", 2)
    tasks = [t.model_dump() for t in ls_client.tasks.list(project=project_id, fields="all")]
    assert len(tasks) == 4
    for task in tasks:
        assert set(task["data"]) == {"brief", "left", "right", "pair_id"}
        assert task["data"]["left"] != task["data"]["right"]
    # An annotator prefers v2 on three tasks and calls the fourth a tie.
    for i, task in enumerate(sorted(tasks, key=lambda t: t["id"])):
        sides = sidecar["pairs"][task["data"]["pair_id"]]
        choice = "tie" if i == 3 else ("left" if sides["left"] == "v2" else "right")
        ls_client.annotations.create(
            id=task["id"],
            result=[
                {
                    "from_name": "preference",
                    "to_name": "brief",
                    "type": "choices",
                    "value": {"choices": [choice]},
                }
            ],
        )
    out = tmp_path / "ab"
    analyzed = run("ab", "analyze", "--project", "A/B: v1 vs v2", "-o", str(out), env=env)
    assert analyzed.returncode == 0, analyzed.stderr
    # Wilson(3, 3) = 43.8%-100%; sign test P = 2 / 8 = 0.25; ties as half: 3.5 / 4
    assert analyzed.stdout == (
        "no significant preference between v2 and v1: v2 won 3 of 3 decided tasks "
        "(100%, 95% CI 44%-100%; 1 ties left out, 88% counting ties as half; p=0.25)\n"
    )
    assert analyzed.stderr.strip().splitlines()[-1] == (
        "4 tasks judged (4 judgments; 1 tied, 0 unmatched); wrote 3 preference pairs "
        f"(not ready for training) to {out}"
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"] == {
        "kind": "ab",
        "project_id": project_id,
        "label_studio_url": label_studio.url,
        "version_a": "v1",
        "version_b": "v2",
    }
    rows = [
        json.loads(line)
        for split in ("train", "validation")
        for line in (out / f"trl_dpo.{split}.jsonl").read_text().splitlines()
    ]
    by_pair = {t["data"]["pair_id"]: t["data"] for t in tasks}
    assert len(rows) == 3
    for row in rows:
        brief = row["prompt"][-1]["content"].split("Brief:\n")[-1]
        data = next(d for d in by_pair.values() if d["brief"] == brief)
        sides = sidecar["pairs"][data["pair_id"]]
        v2_side = "left" if sides["left"] == "v2" else "right"
        v1_side = "right" if v2_side == "left" else "left"
        assert row["chosen"] == [{"role": "assistant", "content": data[v2_side]}]
        assert row["rejected"] == [{"role": "assistant", "content": data[v1_side]}]
    assert (
        manifest["datasets"]["openai_dpo"]["train_rows"]
        + manifest["datasets"]["openai_dpo"]["validation_rows"]
        == 3
    )
    assert json.loads((out / "result.json").read_text())["wins_b"] == 3
    # The project id works as well as the title; the folder must be new.
    again = run("ab", "analyze", "--project", str(project_id), "-o", str(out), env=env)
    assert (again.returncode, again.stderr) == (
        1,
        f"error: {out} is not empty — choose a new folder with -o\n",
    )


def test_ab_create_with_the_model_endpoint_down_is_one_error_line(redraft_home, tmp_path):
    from redraft.labelstudio.server import free_port

    env = clean_env()
    env |= {
        "REDRAFT_HOME": str(redraft_home),
        "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
        "OPENAI_API_KEY": "sk-test",
        "REDRAFT_MAX_RETRIES": "0",
    }
    briefs = tmp_path / "briefs.jsonl"
    briefs.write_text("".join(json.dumps({"brief": f"Pitch firm {i}"}) + "\n" for i in range(3)))
    args = ["ab", "create", "--versions", "v1", "v2", "--model-a", "a", "--model-b", "b"]
    done = run(*args, "--briefs", str(briefs), env=env)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "error: v1 could not draft 3 of 3 briefs (brief 1: cannot connect to the model "
        "endpoint) — check the model endpoint and retry; nothing was created"
    )
    assert "Traceback" not in done.stderr
