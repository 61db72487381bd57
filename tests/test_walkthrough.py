"""docs/walkthrough.md runs as printed: every `$ ` command of its console blocks, in order and
in one shell, against the demo (the real Label Studio, the backend, the stand-in) on loopback.
Each `redraft status` block's current stage is the one the document shows.

Set REDRAFT_WALKTHROUGH_TRANSCRIPT=FILE to keep the run's output (to refresh the document).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from redraft.labelstudio.server import BIN_ENV, ensure_template, free_port, prepare_data_dir
from redraft.loop.demo import ENV_FILE, run_demo
from redraft.settings import Settings
from tests.fixtures.labelstudio import CACHE, LabelStudioInstance, ls_binary

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "walkthrough.md"
DOC_BACKEND = "localhost:9090"  # the demo's default backend address, as the document uses it


@dataclass
class Step:
    """One `$ ` command of the document and the lines shown under it."""

    command: str
    shown: list[str] = field(default_factory=list)


def walkthrough_steps(text: str) -> list[Step]:
    """The commands of every console block, continuation lines joined; `./dev demo` (terminal
    1, started by the test itself) left out.

    >>> walkthrough_steps("```console\\n$ a \\\\\\n  b\\nout\\n```\\n$ not in a block")
    [Step(command='a \\\\\\n  b', shown=['out'])]
    """
    steps: list[Step] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = line.startswith("```console")
            continue
        if not inside:
            continue
        if line.startswith("$ "):
            steps.append(Step(line[2:]))
        elif steps and steps[-1].command.endswith("\\") and not steps[-1].shown:
            steps[-1].command += "\n" + line
        elif steps:
            steps[-1].shown.append(line)
    return [s for s in steps if not s.command.startswith("./dev demo")]


def current_stage(lines: list[str]) -> str | None:
    """The `> N. stage` label of a status output, without its detail."""
    for line in lines:
        if line.startswith("> "):
            return line.split(" — ")[0]
    return None


def test_every_command_of_the_walkthrough_runs_as_printed(
    label_studio: LabelStudioInstance, tmp_path: Path
) -> None:
    steps = walkthrough_steps(DOC.read_text("utf-8"))
    assert len(steps) >= 15, "the walkthrough lost its commands"
    # `~/.redraft` in the document is this test's REDRAFT_HOME: HOME is the test's folder.
    home = tmp_path / ".redraft"
    binary = ls_binary()
    prepare_data_dir(ensure_template(binary, CACHE), home / "demo" / "labelstudio")
    settings = Settings.from_env({"REDRAFT_HOME": str(home), BIN_ENV: str(binary)})
    backend_port = free_port()
    outputs: list[str] = []

    def walk() -> None:
        script = ["set -e -o pipefail", "exec 2>&1"]  # one stream, in the order printed
        for number, step in enumerate(steps):
            script.append(f"echo '@@step {number}'")
            script.append(step.command.replace(DOC_BACKEND, f"127.0.0.1:{backend_port}"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDRAFT_", "OPENAI_"))}
        env |= {"HOME": str(tmp_path), "COLUMNS": "200"}
        env.pop("LABEL_STUDIO_API_KEY", None)
        env.pop("LABEL_STUDIO_URL", None)
        done = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        outputs.append(done.stdout + done.stderr)
        outputs.append(str(done.returncode))

    run_demo(
        settings,
        ls_port=free_port(),
        backend_port=backend_port,
        wait=walk,
        model_kind="standin",
    )
    merged, returncode = outputs
    transcript = os.environ.get("REDRAFT_WALKTHROUGH_TRANSCRIPT")
    if transcript:
        Path(transcript).write_text(merged)
    blocks = re.split(r"^@@step (\d+)\n", merged, flags=re.MULTILINE)
    ran = {int(blocks[i]): blocks[i + 1].splitlines() for i in range(1, len(blocks) - 1, 2)}
    assert returncode == "0", (
        f"step {max(ran)} failed: {steps[max(ran)].command}\n{chr(10).join(ran[max(ran)])}"
    )
    assert (home / "demo" / "labelstudio" / ENV_FILE).is_file()
    for number, step in enumerate(steps):
        if step.command.startswith("redraft status") and current_stage(step.shown):
            assert current_stage(ran[number]) == current_stage(step.shown), (
                f"step {number} `{step.command}` shows {ran[number]}"
            )
