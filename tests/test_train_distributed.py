"""`redraft train trl` under `accelerate launch`: 2 processes on the CPU (gloo), unchanged CLI.

The same run with one process and with two: the version is registered once (by the main
process), the adapter saved once, the name printed once, and the adapter's held-out loss
matches the single process's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from redraft.training.exportdir import load_export, read_jsonl
from redraft.training.registry import Registry
from redraft.training.trl_lora import TrlParams, run_lora
from tests.fixtures.common import REDRAFT, clean_env
from tests.fixtures.training import write_export

pytestmark = [
    pytest.mark.train,
    # transformers 5 deprecates names that peft/trl still read; not ours to fix.
    pytest.mark.filterwarnings("ignore:.*is deprecated and will be removed in v6:FutureWarning"),
]

ACCELERATE = str(Path(sys.executable).parent / "accelerate")
# One full batch of 8 rows per step (4 per process with two): both runs take the same steps on
# the same examples, so only dropout masks and the order of float sums differ.
BUDGET = ["--batch-size", "8", "--max-steps", "2", "--lora-r", "4", "--sft-learning-rate", "0.05"]


def _train(
    home: Path, export: Path, base: Path, output: Path, processes: int | None
) -> tuple[str, str]:
    """Run `redraft train trl`: as one process (--processes 1), under `accelerate launch` for
    several, or with no setting (None: one process per core, started by train trl itself);
    stdout and stderr."""
    env = clean_env() | {"REDRAFT_HOME": str(home), "OPENAI_API_KEY": "sk-test-key"}
    command = [REDRAFT]
    if processes is not None and processes > 1:
        command = [
            ACCELERATE,
            "launch",
            # accelerate's --cpu takes its one-process launcher; --multi_gpu is its torchrun
            # launcher, which on a machine without a GPU starts CPU processes (gloo).
            "--multi_gpu",
            "--num_processes",
            str(processes),
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "--main_process_port",
            str(_free_port()),
            REDRAFT,
        ]
    args = ["train", "trl", str(export), "--base-model", str(base), "--output", str(output)]
    if processes == 1:
        args += ["--processes", "1"]
    done = subprocess.run(
        [*command, *args, *BUDGET], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, done.stderr


def _free_port() -> int:
    from redraft.local.server import free_port

    return free_port()


def _heldout_loss(base: Path, adapter: Path | None, export: Path) -> float:
    """Mean language-model loss on the export's validation conversations (base + adapter)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForCausalLM.from_pretrained(str(base))
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    losses = []
    with torch.no_grad():
        for row in read_jsonl(export / "trl_sft.validation.jsonl"):
            text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
            ids = tokenizer(text, return_tensors="pt")["input_ids"]
            losses.append(float(model(input_ids=ids, labels=ids).loss))
    return sum(losses) / len(losses)


def test_two_processes_train_once_register_once_and_match_one(
    tiny_model: Path, tmp_path: Path
) -> None:
    from redraft.training.trl_lora import default_processes

    export = write_export(tmp_path / "export", rows=8, validation_rows=4)
    runs = {}
    # None: no setting, so one process per core that splits the batch of 8 and fits in memory
    # (2 on two cores), started by `train trl` itself.
    own = default_processes(TrlParams(str(tiny_model), tmp_path / "x", batch_size=8))
    for launch in (1, 2, None):
        processes = launch or own
        home = tmp_path / f"home-{launch}"
        output = tmp_path / f"run-{launch}"
        stdout, stderr = _train(home, export, tiny_model, output, launch)
        assert stdout == "v1\n", "the name is printed once, by the main process"
        adapter = output / "adapter"
        registered = [line for line in stderr.splitlines() if line.startswith("registered ")]
        assert registered == [f"registered v1 (adapter {adapter}) as a candidate"]
        (version,) = Registry(home / "registry.sqlite3").list()
        assert (version.name, version.status, version.metrics["processes"]) == (
            "v1",
            "candidate",
            processes,
        )
        # SFT: 3 epochs of 8 rows, capped at 2 steps; DPO: 1 epoch of 8 pairs is 1 step.
        assert (version.metrics["sft"]["steps"], version.metrics["dpo"]["steps"]) == (2, 1)
        assert sorted(p.name for p in output.iterdir()) == ["adapter", "dpo", "sft"]
        runs[launch] = _heldout_loss(tiny_model, adapter, export)

    before = _heldout_loss(tiny_model, None, export)
    print(
        f"\nheld-out loss: base {before:.4f}, 1 process {runs[1]:.4f}, 2 processes {runs[2]:.4f}"
        f", train trl's own {runs[None]:.4f}"
    )
    # Both runs take the same 2 steps on the same 8 rows; what differs is LoRA dropout's masks
    # (drawn per process) and the loss being averaged per process, then across the two. So the
    # two adapters must move the held-out loss the same way, by amounts within a quarter of
    # the move (measured: base 4.8099, one process 4.7984, two 4.8002: 16% apart). A process
    # that trained on its half alone, or an adapter saved before its gradients were
    # averaged, moves it by about half as much.
    moved = {n: before - loss for n, loss in runs.items()}
    assert moved[1] > 0 and moved[2] > 0 and moved[None] > 0, moved
    assert abs(moved[2] - moved[1]) <= 0.25 * moved[1], moved
    assert abs(moved[None] - moved[1]) <= 0.25 * moved[1], moved


def test_a_process_that_is_not_the_main_one_trains_but_saves_nothing(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What rank 1 of a launch does, alone: it trains its steps and leaves the saving to 0."""
    monkeypatch.setenv("RANK", "1")
    export = load_export(write_export(tmp_path / "export", rows=4))
    params = TrlParams(
        str(tiny_model), tmp_path / "run", max_steps=1, skip_dpo=True, lora_r=2, processes=1
    )
    adapter, metrics = run_lora(export, params, report=lambda _: None)
    assert (adapter, metrics["sft"]["steps"]) == (tmp_path / "run" / "adapter", 1)
    assert not adapter.exists()


def test_a_batch_that_does_not_split_over_the_processes_is_refused() -> None:
    from redraft.training.errors import TrainingFailedError
    from redraft.training.trl_lora import per_process_batch

    assert json.dumps([per_process_batch(8, 2), per_process_batch(8, 1)]) == "[4, 8]"
    with pytest.raises(TrainingFailedError) as refused:
        per_process_batch(3, 2)
    assert str(refused.value) == (
        "--batch-size 3 does not split over 2 training processes — use a multiple of 2 "
        "(each process takes an equal share of a step)"
    )
