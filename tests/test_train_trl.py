"""`redraft train trl`: LoRA SFT then DPO on a tiny model built by the test (CPU, no downloads)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from redraft.cli.main import cli
from redraft.exporters.sinks import file_sha256
from redraft.settings import Settings
from redraft.training.cpu_processes import run_apart
from redraft.training.errors import TrainingFailedError, TrainingInProgressError
from redraft.training.exportdir import load_export
from redraft.training.registry import ModelVersion, Registry
from redraft.training.trl_lora import run_lora
from redraft.training.trl_trainer import TrlParams, serve_instructions, train_trl
from tests.fixtures.training import lost_trl_run

pytestmark = [
    pytest.mark.train,
    # transformers 5 deprecates names that peft/trl still read; not ours to fix.
    pytest.mark.filterwarnings("ignore:.*is deprecated and will be removed in v6:FutureWarning"),
]


def _cli(settings: Settings, *args: str) -> Result:
    env = {"REDRAFT_HOME": str(settings.home), "OPENAI_API_KEY": "sk-test-key"}
    return CliRunner().invoke(cli, ["train", "trl", *args], env=env)


def test_lora_sft_then_dpo_registers_a_candidate(
    settings: Settings, tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    result = _cli(
        settings,
        str(export_folder),
        "--base-model",
        str(tiny_model),
        "--output",
        str(output),
        "--max-steps",
        "2",
        "--batch-size",
        "2",
        "--lora-r",
        "4",
        "--serve-url",
        "http://127.0.0.1:8000/v1",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "v1\n"
    version = Registry(settings.registry_path).get("v1")
    export = load_export(export_folder)
    adapter = output / "adapter"
    metrics = version.metrics
    assert version.as_dict() | {"created_at": "-", "metrics": {}} == {
        "name": "v1",
        "model_id": "v1",
        "base_url": "http://127.0.0.1:8000/v1",
        "base_model": str(tiny_model),
        "parent": None,
        "trainer": "trl",
        "manifest_sha256": export.manifest_sha256,
        "template_sha256": export.template_sha256,
        "job_id": None,
        "idempotency_key": None,
        "status": "candidate",
        "created_at": "-",
        "metrics": {},
        "export_dir": str(export_folder),
        "error": None,
        "pid": None,
        "projects": (),
    }
    assert (metrics["device"], metrics["lora_r"], metrics["adapter"]) == ("cpu", 4, str(adapter))
    assert (metrics["sft"]["rows"], metrics["sft"]["steps"]) == (12, 2)
    assert (metrics["dpo"]["rows"], metrics["dpo"]["steps"]) == (12, 2)
    assert (metrics["dpo"]["reference"], metrics["dpo"]["first_rewards_margin"]) == (
        "sft-adapter",
        0.0,
    )
    names = {p.name for p in adapter.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "redraft.json"} <= names
    assert "ref" not in names, "DPO's frozen reference copy is not part of the adapter"
    _assert_adapter_trained_and_loads(tiny_model, adapter)
    provenance = json.loads((adapter / "redraft.json").read_text())
    assert provenance["manifest_sha256"] == export.manifest_sha256
    params = TrlParams(base_model=str(tiny_model), output_dir=output, lora_r=4)
    stderr = result.stderr.splitlines()
    for line in serve_instructions("v1", params, adapter, "http://127.0.0.1:8000/v1"):
        assert line in stderr
    assert (
        "  then: redraft models promote v1   (model id 'v1', endpoint http://127.0.0.1:8000/v1)"
        in (stderr)
    )
    assert stderr[-1] == "done: v1 is a candidate — SFT 2 steps, DPO 2 steps on cpu"
    # The figure the issue asks for: CPU seconds per step of the training loop only, setup
    # excluded (printed, never asserted); the first step apart, as it warms up.
    for phase in ("sft", "dpo"):
        assert set(metrics[phase]) >= {"seconds", "seconds_per_step", "first_step_seconds"}
    print(
        f"\nCPU s/step (loop only): SFT {metrics['sft']['seconds_per_step']} "
        f"(first {metrics['sft']['first_step_seconds']}), "
        f"DPO {metrics['dpo']['seconds_per_step']} (first {metrics['dpo']['first_step_seconds']})"
    )


def _assert_adapter_trained_and_loads(base: Path, adapter: Path) -> None:
    """Some LoRA B matrix moved from its zero init; peft loads it onto the base; it generates."""
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    weights = load_file(str(adapter / "adapter_model.safetensors"))
    lora_b = {name: w for name, w in weights.items() if "lora_B" in name}
    assert lora_b, sorted(weights)
    assert any(bool(w.abs().sum() > 0) for w in lora_b.values()), "no LoRA B weight was trained"

    tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(adapter))
    model.eval()
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Offer Dana a demo"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(
            **prompt, max_new_tokens=3, min_new_tokens=3, do_sample=False, pad_token_id=0
        )
    assert out.shape[1] == prompt["input_ids"].shape[1] + 3


def test_skip_dpo_trains_sft_only(
    registry: Registry, tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    params = TrlParams(
        base_model=str(tiny_model),
        output_dir=tmp_path / "run",
        lora_r=2,
        batch_size=4,
        max_steps=1,
        skip_dpo=True,
    )
    version = train_trl(registry, load_export(export_folder), params, report=lines.append)
    assert "dpo" not in version.metrics
    assert version.metrics["sft"]["steps"] == 1
    assert "DPO skipped (--skip-dpo)" in lines


def test_a_failure_inside_a_training_process_is_one_error_line(
    settings: Settings, tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    """Split over processes, a run that fails in one still ends as one `error:` line with what
    to do, and its version is marked failed; nothing it printed leaks onto stdout."""
    rows = (export_folder / "trl_sft.train.jsonl").read_text().splitlines()
    row = json.loads(rows[0])
    row["messages"] = row["messages"][:-1]  # no assistant reply at the end
    rows[0] = json.dumps(row)
    (export_folder / "trl_sft.train.jsonl").write_text("\n".join(rows) + "\n")
    manifest = json.loads((export_folder / "manifest.json").read_text())
    manifest["files"]["trl_sft.train.jsonl"]["sha256"] = file_sha256(
        export_folder / "trl_sft.train.jsonl"
    )  # as if the exporter had written the row: the check must come from the training process
    (export_folder / "manifest.json").write_text(json.dumps(manifest))
    args = ["--base-model", str(tiny_model), "--output", str(tmp_path / "run"), "--processes", "2"]
    result = _cli(settings, str(export_folder), *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "error: a trl_sft row does not end with an assistant message — re-run `redraft export`"
    )
    assert Registry(settings.registry_path).get("v1").status == "failed"
    # The same failure raised inside the training processes themselves.
    from redraft.training.cpu_processes import run_on_cores
    from redraft.training.errors import ExportFolderError

    params = TrlParams(base_model=str(tiny_model), output_dir=tmp_path / "direct")
    with pytest.raises(ExportFolderError) as failed:
        run_on_cores(export_folder, params, report=lambda _: None, processes=2)
    assert str(failed.value) == (
        "a trl_sft row does not end with an assistant message — re-run `redraft export`"
    )
    assert sorted(p.name for p in (tmp_path / "direct").iterdir()) == []  # rendezvous removed


@pytest.mark.parametrize("runner", [run_lora, run_apart], ids=["here", "apart"])
def test_failed_training_marks_the_row_failed(
    registry: Registry, tiny_model: Path, export_folder: Path, tmp_path: Path, runner: Any
) -> None:
    """In this process or in one of its own (auto mode), the run's own error reaches the
    caller and the version is marked failed."""
    params = TrlParams(base_model=str(tmp_path / "no-such-model"), output_dir=tmp_path / "run")
    with pytest.raises(OSError):
        train_trl(
            registry, load_export(export_folder), params, report=lambda _: None, runner=runner
        )
    row = registry.get("v1")
    assert row.status == "failed"
    assert row.error is not None and row.error.startswith("OSError")
    assert registry.training() is None


def test_a_run_apart_trains_and_this_process_loads_no_trainer(
    tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    """Auto mode trains in a process of its own (`run_apart`): the adapter is trained, the run's
    lines come back, and the caller (`redraft serve`) never imports torch or a trainer, so
    none of the run's memory stays with it. Run from a fresh interpreter: this one has them."""
    run = tmp_path / "run"
    script = f"""
import json, sys
from pathlib import Path
from redraft.training.cpu_processes import run_apart
from redraft.training.exportdir import load_export
from redraft.training.trl_trainer import TrlParams

params = TrlParams(
    base_model={str(tiny_model)!r}, output_dir=Path({str(run)!r}), max_steps=1, lora_r=4
)
lines = []
adapter, metrics = run_apart(load_export(Path({str(export_folder)!r})), params, lines.append)
loaded = sorted(m for m in ("torch", "transformers", "trl", "peft") if m in sys.modules)
steps = [metrics["sft"]["steps"], metrics["dpo"]["steps"]]
print(json.dumps({{"adapter": str(adapter), "steps": steps, "loaded": loaded, "lines": lines}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["adapter"], result["steps"], result["loaded"]) == (
        str(run / "adapter"),
        [1, 1],
        [],
    )
    assert result["lines"] == [
        "SFT on 12 finals from trl_sft.train.jsonl (loss on the replies only)",
        "DPO on 12 pairs from trl_dpo.train.jsonl (reference: the SFT adapter)",
    ]
    _assert_adapter_trained_and_loads(tiny_model, run / "adapter")


def test_a_caller_that_exits_during_a_run_apart_ends_it_and_does_not_wait(
    tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    """`redraft serve` stopped (Ctrl-C) while auto mode trains: the server exits at once and
    its training process goes with it, rather than the exit waiting for the run to finish."""
    script = f"""
import multiprocessing, sys, threading
from pathlib import Path
from redraft.training.cpu_processes import run_apart
from redraft.training.exportdir import load_export
from redraft.training.trl_trainer import TrlParams

params = TrlParams(base_model={str(tiny_model)!r}, output_dir=Path({str(tmp_path / "run")!r}),
                   sft_epochs=1e6, sft_max_steps=0, skip_dpo=True)
training = threading.Event()
export = load_export(Path({str(export_folder)!r}))
threading.Thread(
    target=run_apart, args=(export, params, lambda line: training.set()), daemon=True
).start()
training.wait(600)
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
sys.exit(0)  # as the server's main thread does on Ctrl-C, the run in a daemon thread
"""
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as caller:
        assert caller.stdout is not None
        (pid,) = [int(p) for p in caller.stdout.readline().split()]
        try:
            # A million epochs take days: returning at all means the exit did not wait for them.
            assert caller.wait(timeout=120) == 0
        finally:
            caller.kill()
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists(), "the training process outlived its caller"


def test_a_dead_trl_run_does_not_block_the_next(
    registry: Registry, tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    registry.add(lost_trl_run(None))  # a row from before rows named their host
    lines: list[str] = []
    params = TrlParams(
        base_model=str(tiny_model), output_dir=tmp_path / "run", max_steps=1, skip_dpo=True
    )
    version = train_trl(registry, load_export(export_folder), params, report=lines.append)
    assert (version.name, version.status) == ("v2", "candidate")
    assert lines[0] == "marked v1 failed: its training process is gone"
    assert registry.get("v1").error == "interrupted (process ended)"


def test_a_run_another_host_reserved_is_not_judged_from_here(
    registry: Registry, tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    """With a shared registry, a pid means nothing on another host: that host's run is left
    alone, and this one waits its turn."""
    registry.add(lost_trl_run("another-host"))
    params = TrlParams(base_model=str(tiny_model), output_dir=tmp_path / "run", max_steps=1)
    with pytest.raises(TrainingInProgressError) as refused:
        train_trl(registry, load_export(export_folder), params, report=lambda _: None)
    assert str(refused.value) == (
        "v1 is still training — only one training runs at a time; wait for it (`redraft "
        "status`) or cancel it with `redraft models cancel v1`"
    )
    assert [(v.name, v.status) for v in registry.list()] == [("v1", "training")]


def test_old_openai_training_files_join_the_sft_rows(
    settings: Settings, tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old_openai_training.jsonl"
    row = {
        "messages": [
            {"role": "system", "content": "Write for Acme."},
            {"role": "user", "content": "Brief: invite Ann"},
            {"role": "assistant", "content": "Hi Ann, come by Thursday."},
        ]
    }
    old.write_text((json.dumps(row) + "\n") * 3 + "\n", encoding="utf-8")
    args = ["--base-model", str(tiny_model), "--output", str(tmp_path / "run"), "--skip-dpo"]
    result = _cli(settings, str(export_folder), *args, "--max-steps", "1", "--extra-sft", str(old))
    assert result.exit_code == 0, result.output
    assert f"  + 3 rows from {old} (earlier fine-tuning data)" in result.stderr.splitlines()
    assert Registry(settings.registry_path).get("v1").metrics["sft"]["rows"] == 15

    old.write_text(json.dumps({"messages": row["messages"][:2]}) + "\n", encoding="utf-8")
    refused = _cli(settings, str(export_folder), *args, "--name", "v2", "--extra-sft", str(old))
    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[-1] == (
        f"error: {old}:1: the last message must be the assistant's reply"
    )


def _tiny(tiny_model: Path) -> tuple[object, object]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(str(tiny_model)), AutoTokenizer.from_pretrained(
        str(tiny_model)
    )


def _lora() -> object:
    from peft import LoraConfig

    return LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")


def test_sft_loss_covers_the_reply_only(
    tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    from redraft.training.exportdir import read_jsonl
    from redraft.training.trl_lora import build_sft_trainer

    model, tokenizer = _tiny(tiny_model)
    rows = read_jsonl(export_folder / "trl_sft.train.jsonl")
    params = TrlParams(base_model=str(tiny_model), output_dir=tmp_path, max_steps=1)
    trainer = build_sft_trainer(model, tokenizer, rows, params, _lora())
    batch = trainer.data_collator([trainer.train_dataset[0]])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    learned = [int(i) for i, label in zip(ids, labels, strict=True) if label != -100]
    reply = rows[0]["messages"][-1]["content"]
    assert learned == tokenizer(f"{reply} </s>", add_special_tokens=False)["input_ids"]
    assert len(learned) < len(ids) // 2, "the system prompt and brief carry no loss"


def test_dpo_reference_is_the_sft_adapter_not_the_base(
    tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    """SFT moves the model away from the base; DPO's first step still has zero rewards."""
    import torch

    from redraft.training.exportdir import read_jsonl
    from redraft.training.trl_lora import build_dpo_trainer, build_sft_trainer

    model, tokenizer = _tiny(tiny_model)
    params = TrlParams(
        base_model=str(tiny_model),
        output_dir=tmp_path,
        max_steps=2,
        batch_size=2,
        sft_learning_rate=5e-2,
    )
    sft_rows = read_jsonl(export_folder / "trl_sft.train.jsonl")
    sft = build_sft_trainer(model, tokenizer, sft_rows, params, _lora())
    sft.train()
    policy = sft.model
    text = tokenizer.apply_chat_template(sft_rows[0]["messages"], tokenize=False)
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    policy.eval()
    with torch.no_grad():
        sft_loss = float(policy(input_ids=ids, labels=ids).loss)
        with policy.disable_adapter():
            base_loss = float(policy(input_ids=ids, labels=ids).loss)
    assert abs(sft_loss - base_loss) > 1e-3, "SFT must have moved the model for this test"

    dpo_rows = read_jsonl(export_folder / "trl_dpo.train.jsonl")
    dpo = build_dpo_trainer(policy, tokenizer, dpo_rows, replace(params, max_steps=1))
    dpo.train()
    first = next(entry for entry in dpo.state.log_history if "rewards/margins" in entry)
    # rewards = beta * (log p_policy - log p_ref); the policy at step 1 is the SFT model.
    assert (first["rewards/chosen"], first["rewards/rejected"], first["rewards/margins"]) == (
        0.0,
        0.0,
        0.0,
    )


def test_a_run_can_continue_an_earlier_adapter(
    registry: Registry, tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    """--start-adapter: the second run trains the first run's adapter further, not a new one."""
    from safetensors.torch import load_file

    def run(name: str, **more: object) -> Path:
        params = TrlParams(
            base_model=str(tiny_model),
            output_dir=tmp_path / name,
            lora_r=2,
            max_steps=1,
            skip_dpo=True,
            **more,  # type: ignore[arg-type]
        )
        version = train_trl(registry, load_export(export_folder), params, report=print, name=name)
        assert version.metrics["start_adapter"] == (str(more["start_adapter"]) if more else None)
        return Path(version.metrics["adapter"])

    first = run("first")
    second = run("second", start_adapter=first)
    before = load_file(str(first / "adapter_model.safetensors"))
    after = load_file(str(second / "adapter_model.safetensors"))
    assert sorted(before) == sorted(after)  # the same adapter, trained on
    assert any(not bool((before[k] == after[k]).all()) for k in before)
    _assert_adapter_trained_and_loads(tiny_model, second)

    with pytest.raises(TrainingFailedError, match="is not a LoRA adapter folder"):
        run("third", start_adapter=tmp_path)


def test_precision_is_checked_and_auto_follows_the_hardware() -> None:
    from redraft.training.trl_lora import resolve_precision

    assert resolve_precision("fp32", cuda=False) == "fp32"
    assert resolve_precision("auto", cuda=False) in ("bf16", "fp32")
    with pytest.raises(TrainingFailedError, match="unknown precision 'fp16'"):
        resolve_precision("fp16", cuda=False)


def test_only_annotations_new_since_the_parent_export_are_trained(
    registry: Registry, tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    """Continuing an adapter: rows already in the export it was trained on are left out."""
    from redraft.training.exportdir import read_jsonl
    from redraft.training.trl_lora import new_rows

    rows = read_jsonl(export_folder / "trl_sft.train.jsonl")
    older = tmp_path / "older"
    older.mkdir()
    (older / "trl_sft.train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[:-1]))
    assert new_rows(rows, older, "trl_sft.train.jsonl") == rows[-1:]
    assert new_rows(rows, older, "trl_dpo.train.jsonl") == rows  # no such file: all are new

    params = TrlParams(
        base_model=str(tiny_model),
        output_dir=tmp_path / "run",
        lora_r=2,
        max_steps=1,
        skip_dpo=True,
        since_export=export_folder,  # everything was trained on already
    )
    with pytest.raises(TrainingFailedError, match="is new since"):
        train_trl(registry, load_export(export_folder), params, report=print, name="same")


def test_the_next_local_run_continues_the_active_local_version(tmp_path: Path) -> None:
    from redraft.local.base import LocalBase
    from redraft.local.publish import LocalTarget
    from redraft.training.trl_trainer import continuable

    registry = Registry(tmp_path / "registry.sqlite3")
    base = LocalBase(model_id="smollm2-135m-instruct", gguf=tmp_path / "m.gguf", hf_dir=None)
    local = LocalTarget(base, tmp_path / "hf", tmp_path, None, "http://127.0.0.1:8089/v1")
    assert continuable(registry, local) is None  # nothing active: a fresh adapter
    adapter, export = tmp_path / "adapter", tmp_path / "export"
    adapter.mkdir()
    export.mkdir()
    registry.add(
        ModelVersion(
            name="v1",
            model_id="v1",
            trainer="trl",
            export_dir=str(export),
            metrics={"adapter": str(adapter), "local_base": "smollm2-135m-instruct"},
        )
    )
    registry.promote("v1")
    assert continuable(registry, local).name == "v1"  # type: ignore[union-attr]
    other = LocalTarget(
        LocalBase(model_id="qwen", gguf=None, hf_dir=None), tmp_path, tmp_path, None, "u"
    )
    assert continuable(registry, other) is None  # another base: start afresh


def test_a_cpu_step_takes_its_examples_one_at_a_time_and_still_learns_from_all(
    tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    """--batch-size 2 on a CPU: one step, both examples, one forward pass each (the memory of
    one example's logits, not two)."""
    from redraft.training.exportdir import read_jsonl
    from redraft.training.trl_lora import build_sft_trainer

    model, tokenizer = _tiny(tiny_model)
    params = TrlParams(base_model=str(tiny_model), output_dir=tmp_path, max_steps=1, batch_size=2)
    rows = read_jsonl(export_folder / "trl_sft.train.jsonl")[:2]
    sft = build_sft_trainer(model, tokenizer, rows, params, _lora())
    assert (sft.args.per_device_train_batch_size, sft.args.gradient_accumulation_steps) == (1, 2)
    sft.train()
    tokens = sum(len(example["input_ids"]) for example in sft.train_dataset)
    logged = next(entry for entry in sft.state.log_history if "num_tokens" in entry)
    assert (sft.state.global_step, logged["num_tokens"]) == (1, tokens)


def test_reply_only_losses_and_gradients_equal_trls(
    tiny_model: Path, export_folder: Path, tmp_path: Path
) -> None:
    """On a CPU the trainers score only the reply's positions, and DPO runs each pair's prompt
    once; the loss and every gradient are TRL's own (its fused head scores every position
    there, and DPO runs the prompt twice), on the same batches."""
    import torch
    from trl import DPOTrainer, SFTTrainer

    from redraft.training.exportdir import read_jsonl
    from redraft.training.reply_logits import (
        ReplyOnlyDPOTrainer,
        ReplyOnlySFTTrainer,
        shared_prompt_pairs,
    )
    from redraft.training.trl_lora import build_dpo_trainer, build_sft_trainer

    def loss_and_grads(trainer: object, compute: object, batch: dict) -> tuple[float, list]:
        model = trainer.model  # type: ignore[attr-defined]
        model.zero_grad()
        loss = compute(trainer, model, dict(batch))  # type: ignore[operator]
        loss.backward()
        trained = [p for p in model.parameters() if p.requires_grad and p.grad is not None]
        return float(loss.detach()), [p.grad.clone() for p in trained]

    def assert_same(trainer: object, ours: object, theirs: object, batch: dict) -> None:
        loss, grads = loss_and_grads(trainer, ours, batch)
        trl_loss, trl_grads = loss_and_grads(trainer, theirs, batch)
        assert loss == pytest.approx(trl_loss, rel=1e-5) and len(grads) == len(trl_grads) > 0
        for grad, trl_grad in zip(grads, trl_grads, strict=True):
            torch.testing.assert_close(grad, trl_grad, rtol=1e-4, atol=1e-6)

    model, tokenizer = _tiny(tiny_model)
    params = TrlParams(base_model=str(tiny_model), output_dir=tmp_path, max_steps=1)
    rows = read_jsonl(export_folder / "trl_sft.train.jsonl")
    sft = build_sft_trainer(model, tokenizer, rows, params, _lora())
    assert isinstance(sft, ReplyOnlySFTTrainer)
    sft.model.eval()  # no dropout: both losses see the same network
    # Two examples of different lengths: right padding, and reply positions that differ.
    examples = sorted(sft.train_dataset, key=lambda example: len(example["input_ids"]))
    batch = sft.data_collator([examples[0], examples[-1]])
    assert len(set(batch["attention_mask"].sum(dim=1).tolist())) == 2
    assert_same(sft, ReplyOnlySFTTrainer.compute_loss, SFTTrainer.compute_loss, batch)

    pairs = read_jsonl(export_folder / "trl_dpo.train.jsonl")
    dpo = build_dpo_trainer(sft.model, tokenizer, pairs, params)
    assert isinstance(dpo, ReplyOnlyDPOTrainer) and dpo.loss_types == ["sigmoid", "sft"]
    dpo.model.eval()
    with torch.no_grad():  # move the policy off its reference, so the DPO term is not flat
        for name, weight in dpo.model.named_parameters():
            if "lora_B.default" in name:
                weight.add_(0.05 * torch.randn_like(weight))
    # Two pairs of different lengths: each becomes one sequence with its prompt once.
    examples = sorted(dpo.train_dataset, key=lambda pair: len(pair["rejected_ids"]))
    batch = dpo.data_collator([examples[0], examples[-1]])
    shared = shared_prompt_pairs(batch)
    assert shared is not None and shared.input_ids.numel() < batch["input_ids"].numel()
    assert_same(dpo, ReplyOnlyDPOTrainer.compute_loss, DPOTrainer.compute_loss, batch)
    dpo.model.set_attn_implementation("eager")  # the mask as additive floats
    assert_same(dpo, ReplyOnlyDPOTrainer.compute_loss, DPOTrainer.compute_loss, batch)


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_a_continued_adapter_trains_with_this_runs_dropout(
    tiny_model: Path, tmp_path: Path, dropout: float
) -> None:
    """An adapter saved with dropout 0.05 (the old default) takes the run's --lora-dropout."""
    from peft import LoraConfig, get_peft_model
    from torch import nn
    from transformers import AutoModelForCausalLM

    from redraft.training.trl_lora import _continued

    config = LoraConfig(r=2, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), config).save_pretrained(
        tmp_path / "adapter"
    )
    model = _continued(
        AutoModelForCausalLM.from_pretrained(tiny_model), tmp_path / "adapter", dropout
    )
    layers = [m for name, m in model.named_modules() if name.endswith("lora_dropout.default")]
    assert layers
    if dropout == 0.0:
        assert all(isinstance(m, nn.Identity) for m in layers)
    else:
        assert {(type(m), m.p) for m in layers} == {(nn.Dropout, dropout)}
    assert any(p.requires_grad for name, p in model.named_parameters() if "lora_" in name)
