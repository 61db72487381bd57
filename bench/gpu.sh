#!/usr/bin/env bash
# The real-size path on one GPU: a 1.5–8B base drafts through vLLM, simulated writers edit
# the drafts, `redraft export` makes datasets, `redraft train trl` trains LoRA SFT + DPO, vLLM
# serves the adapter (--enable-lora --lora-modules), redraft drafts held-out briefs with the
# base and with the adapter, and the figures are printed: drafting speed, training seconds per
# step, peak GPU memory per phase, held-out edit distance before and after.
#
#   bench/gpu.sh /models/Qwen2.5-1.5B-Instruct [TRAIN_BRIEFS] [HELD_OUT_BRIEFS]
#
# Needs: an NVIDIA GPU, this repository's venv with the [train] extra and a CUDA torch, and
# vLLM (`pip install vllm`, ideally in its own venv: VLLM=/path/to/vllm). The base is a
# Hugging Face folder you already have (nothing is downloaded). Environment: PORT (8000),
# PYTHON (.venv/bin/python), VLLM (vllm), SFT_STEPS (40), DPO_STEPS (8), LORA_R (16),
# GPU_MEMORY (0.85: vLLM's share while it runs; training runs with vLLM stopped).
# Everything goes to a fresh REDRAFT_HOME under bench-gpu-*/ in the current folder.
set -euo pipefail

BASE=${1:?usage: bench/gpu.sh /path/to/hf-model-folder [TRAIN_BRIEFS] [HELD_OUT_BRIEFS]}
TRAIN=${2:-96}
HELD_OUT=${3:-24}
PORT=${PORT:-8000}
PYTHON=${PYTHON:-.venv/bin/python}
VLLM=${VLLM:-vllm}
SFT_STEPS=${SFT_STEPS:-40}
DPO_STEPS=${DPO_STEPS:-8}
LORA_R=${LORA_R:-16}
GPU_MEMORY=${GPU_MEMORY:-0.85}
REDRAFT=$(dirname "$PYTHON")/redraft

[ -f "$BASE/config.json" ] || { echo "error: $BASE is not a Hugging Face model folder (no config.json)" >&2; exit 1; }
command -v nvidia-smi >/dev/null || { echo "error: no nvidia-smi — this script needs an NVIDIA GPU" >&2; exit 1; }
command -v "$VLLM" >/dev/null || { echo "error: vLLM not found ($VLLM) — pip install vllm, or set VLLM=/path/to/vllm" >&2; exit 1; }
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
  || { echo "error: $PYTHON's torch sees no GPU — install a CUDA torch, then 'redraft[train]'" >&2; exit 1; }

RUN=$PWD/bench-gpu-$(date +%Y%m%dT%H%M%S)
mkdir -p "$RUN"
export REDRAFT_HOME=$RUN/home OPENAI_API_KEY=local REDRAFT_TEMPERATURE=0 REDRAFT_MAX_TOKENS=300
export REDRAFT_REQUEST_TIMEOUT=120 REDRAFT_MAX_CONCURRENCY=16
URL=http://127.0.0.1:$PORT/v1
VLLM_PID=
MEM_PID=
cleanup() {
  [ -n "$VLLM_PID" ] && kill "$VLLM_PID" 2>/dev/null && wait "$VLLM_PID" 2>/dev/null
  [ -n "$MEM_PID" ] && kill "$MEM_PID" 2>/dev/null
  true
}
trap cleanup EXIT

say() { echo "== $*" >&2; }
watch_memory() {  # MiB used on GPU 0, once a second, into $RUN/memory-$1.log
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -l 1 >"$RUN/memory-$1.log" &
  MEM_PID=$!
}
stop_watching() { kill "$MEM_PID" 2>/dev/null || true; MEM_PID=; }
peak() { sort -n "$RUN/memory-$1.log" | tail -1; }

start_vllm() {  # extra vLLM arguments; waits until the OpenAI API answers
  "$VLLM" serve "$BASE" --served-model-name base --port "$PORT" --dtype bfloat16 \
    --max-model-len 4096 --gpu-memory-utilization "$GPU_MEMORY" "$@" >"$RUN/vllm.log" 2>&1 &
  VLLM_PID=$!
  for _ in $(seq 600); do
    curl -sf "$URL/models" >/dev/null && return 0
    kill -0 "$VLLM_PID" 2>/dev/null || { tail -20 "$RUN/vllm.log" >&2; echo "error: vLLM exited" >&2; exit 1; }
    sleep 1
  done
  echo "error: vLLM did not answer in 10 minutes (see $RUN/vllm.log)" >&2
  exit 1
}
stop_vllm() { kill "$VLLM_PID"; wait "$VLLM_PID" 2>/dev/null || true; VLLM_PID=; }

# Drafts briefs through redraft's Drafter (the backend's drafting) against $URL with MODEL;
# writes tasks with drafts, and each draft's simulated-writer edit, to OUT (JSON).
draft() {  # MODEL BRIEFS_JSONL OUT
  "$PYTHON" - "$URL" "$@" <<'PY'
import json, sys, time
from pathlib import Path
from redraft.backend.drafting import Drafter
from redraft.backend.versions import ActiveModel
from redraft.editdistance import normalised_edit_distance
from redraft.settings import Settings
from redraft.simulate.rules import find_rules, load_rules
from redraft.simulate.writers import simulate_edit

url, model, briefs, out = sys.argv[1:5]
tasks = [{"id": i + 1, "data": json.loads(line)} for i, line in enumerate(open(briefs))]
drafter = Drafter(Settings.from_env())
began = time.perf_counter()
outcomes = drafter.draft_many(tasks, ActiveModel(model, model, url, "local"))
seconds = time.perf_counter() - began
drafter.close()
rules = load_rules()
rows, distances = [], []
for task, outcome in zip(tasks, outcomes):
    if outcome.text is None:
        continue
    verdict = simulate_edit(find_rules(rules, task["data"].get("client")), task["data"], outcome.text)
    rows.append({"task": task, "draft": outcome.text, "final": verdict.final,
                 "rating": verdict.rating, "issues": list(verdict.issues)})
    distances.append(normalised_edit_distance(outcome.text, verdict.final))
Path(out).write_text(json.dumps(rows))
mean = sum(distances) / max(1, len(distances))
print(f"{model}: drafted {len(rows)}/{len(tasks)} in {seconds:.1f} s "
      f"({len(rows) / seconds:.2f} drafts/s); held-out edit distance {mean:.3f}")
PY
}

say "briefs: $TRAIN to train on, $HELD_OUT held out"
"$PYTHON" - "$RUN" "$TRAIN" "$HELD_OUT" <<'PY'
import json, sys
from pathlib import Path
from bench.briefs import make_briefs
from redraft.simulate.rules import load_rules

run, train, held_out = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
clients = sorted(load_rules())[:4]
def write(name, n, seed):
    rows = [b for i, c in enumerate(clients) for b in make_briefs(c, n // len(clients), seed + i)]
    (run / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
write("train.jsonl", train, 1)
write("held_out.jsonl", held_out, 101)
PY

say "vLLM serves the base; redraft drafts every brief"
watch_memory serve-base
start_vllm
draft base "$RUN/train.jsonl" "$RUN/train-drafts.json"
draft base "$RUN/held_out.jsonl" "$RUN/held-out-base.json" | tee "$RUN/figures.txt"
stop_vllm
stop_watching

say "simulated writers' edits as a Label Studio export; redraft export"
"$PYTHON" - "$RUN" <<'PY'
import json, sys
from pathlib import Path
from redraft.label_config.results import annotation_result, draft_prediction

run = Path(sys.argv[1])
stamp = "2026-11-20T10:00:00.000000Z"
tasks = []
for i, row in enumerate(json.loads((run / "train-drafts.json").read_text()), start=1):
    prediction = draft_prediction(row["draft"], "base") | {"id": i, "task": i, "project": 1,
                                                          "created_at": stamp}
    result = annotation_result(final=row["final"], draft=row["draft"], rating=row["rating"],
                               issues=row["issues"])
    annotation = {"id": i, "completed_by": 1, "result": result, "was_cancelled": False,
                  "ground_truth": False, "created_at": stamp, "updated_at": stamp,
                  "lead_time": 60.0, "task": i, "project": 1, "parent_prediction": i}
    tasks.append({"id": i, "data": row["task"]["data"], "annotations": [annotation],
                  "predictions": [prediction], "project": 1, "created_at": stamp,
                  "updated_at": stamp})
(run / "label-studio-export.json").write_text(json.dumps(tasks))
PY
"$REDRAFT" export --from-file "$RUN/label-studio-export.json" -o "$RUN/export"

say "redraft train trl: LoRA SFT ($SFT_STEPS steps) then DPO ($DPO_STEPS steps) on the GPU"
watch_memory train
began=$(date +%s)
"$REDRAFT" train trl "$RUN/export" --base-model "$BASE" --name gpu-v1 --serve-url "$URL" \
  --sft-max-steps "$SFT_STEPS" --dpo-max-steps "$DPO_STEPS" --lora-r "$LORA_R" 2>"$RUN/train.log"
train_seconds=$(( $(date +%s) - began ))
stop_watching
tail -1 "$RUN/train.log" >&2
ADAPTER=$REDRAFT_HOME/adapters/gpu-v1/adapter

say "vLLM serves the base and the adapter (--enable-lora --lora-modules); redraft drafts"
watch_memory serve-lora
start_vllm --enable-lora --max-lora-rank "$LORA_R" --lora-modules "gpu-v1=$ADAPTER"
"$REDRAFT" models promote gpu-v1 --force >&2
draft gpu-v1 "$RUN/held_out.jsonl" "$RUN/held-out-v1.json" | tee -a "$RUN/figures.txt"
stop_vllm
stop_watching

"$PYTHON" - "$REDRAFT_HOME" <<'PY' | tee -a "$RUN/figures.txt"
import sys
from pathlib import Path
from redraft.training.registry import Registry

m = Registry(Path(sys.argv[1]) / "registry.sqlite3").get("gpu-v1").metrics
for phase in ("sft", "dpo"):
    p = m.get(phase) or {}
    print(f"{phase}: {p.get('rows')} rows, {p.get('steps')} steps, {p.get('seconds_per_step')} s/step "
          f"(first {p.get('first_step_seconds')} s), loss {p.get('first_loss')} -> {p.get('last_loss')}")
print(f"device {m.get('device')}, precision {m.get('precision')}")
PY
{
  echo "train trl wall time (model load included): ${train_seconds} s"
  echo "peak GPU memory (MiB): serving the base $(peak serve-base), training $(peak train), serving with the adapter $(peak serve-lora)"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
} | tee -a "$RUN/figures.txt"
say "figures in $RUN/figures.txt"
