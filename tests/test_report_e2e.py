"""`redraft report --project` against the real Label Studio, with judge scores stored in it."""

from __future__ import annotations

import csv
import subprocess

import pytest

from redraft.label_config import read_label_config
from redraft.report.judge import JudgeScore, store_judgements
from tests.fixtures.common import REDRAFT, clean_env
from tests.fixtures.report import make_tasks


@pytest.mark.e2e
def test_report_from_a_project(label_studio, ls_client, redraft_home, tmp_path):
    project = ls_client.projects.create(title="report e2e", label_config=read_label_config())
    tasks = make_tasks(per_version=12)
    for task in tasks:
        task.pop("id")
        for item in task["predictions"] + task["annotations"]:
            item.pop("id")
            item.pop("parent_prediction", None)
            item.pop("completed_by", None)
    ls_client.projects.import_tasks(id=project.id, request=tasks)
    stored = sorted(t.id for t in ls_client.tasks.list(project=project.id))
    assert len(stored) == 28
    scores = [JudgeScore(task_id, 4, "Fine.") for task_id in stored[:10]]
    assert store_judgements(ls_client, scores, "stand-in", {}) == 10

    env = clean_env()
    env |= {
        "REDRAFT_HOME": str(redraft_home),
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.login.token,
    }
    out = tmp_path / "out"
    done = subprocess.run(
        [REDRAFT, "report", "--project", str(project.id), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:3] for line in lines[1:3]] == [["v1", "14", "14"], ["v2", "14", "14"]]
    assert lines[3].startswith("- v2 drafts were rated")
    with (out / "judge_agreement.csv").open() as handle:
        judge = next(csv.DictReader(handle))
    # The first 10 tasks are v1's i=0..9; i=0 carries two annotations: 11 rated pairs.
    assert (judge["judge"], judge["n"]) == ("judge:stand-in", "11")
    # Judge predictions are not drafts: each version still counts 14 drafted tasks.
    with (out / "versions.csv").open() as handle:
        assert [r["drafts"] for r in csv.DictReader(handle)] == ["14", "14"]
