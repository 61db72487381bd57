"""Benchmark: how llama-server's decoding scales with sequences decoded together, per GGUF file.

The kernels, not the front: one llama-server process on every core with the arguments `redraft
local serve` gives it, `--parallel` slots, a fixed number of tokens per request (`ignore_eos`,
so every run decodes the same work), for each GGUF file given and each copy of the first re-
quantised to a `--requantize` type (with llama.cpp's quantiser, through llama-cpp-python), and
each number of requests at once. Prints generated tokens per second and the ratio to the first
file at the same level; asserts nothing. Quality is not measured here: bench/local_server.py
does that through the real front (`REDRAFT_LOCAL_MODEL=FILE`).

    .venv/bin/python bench/llama_batch.py --server .cache/llama-server-0.3.36/llama-server \\
      FILE.gguf [FILE2.gguf ...] [--requantize Q8_0,IQ4_NL] [--concurrency 1,4,8] \\
      [--tokens 200] [--repeat 2]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from redraft.local.server import ServedModel, free_port, llama_server_args
from redraft.machine import usable_cores

PROMPT = "Write a cold email from Anna at Harbor & Pine, a bakery supplier, to Tom about flour."


def tokens_per_second(port: int, concurrency: int, tokens: int) -> float:
    def one(i: int) -> int:
        body = {"prompt": f"{PROMPT} ({i})", "n_predict": tokens, "temperature": 0}
        body |= {"ignore_eos": True, "cache_prompt": False}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/completion",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            return int(json.load(response)["tokens_predicted"])

    requests = max(4, 2 * concurrency)
    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = sum(pool.map(one, range(requests)))
    return done / (time.perf_counter() - began)


def requantised(source: Path, kind: str, folder: Path) -> Path:
    """A copy of `source` re-quantised to `kind` (a llama.cpp type name such as Q8_0)."""
    import llama_cpp

    target = folder / f"{source.stem}.{kind.lower()}.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind.upper()}")
    params.allow_requantize = True
    if llama_cpp.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    ):
        raise SystemExit(f"could not re-quantise {source} to {kind}")
    return target


def start_llama_server(
    server: Path, models: list[ServedModel], n_ctx: int, slots: int, extra: list[str]
) -> tuple[subprocess.Popen[bytes], int]:
    """llama-server on every core with the product's arguments (redraft.local.server) and
    `extra`, once it answers; (process, port)."""
    port = free_port()
    args = llama_server_args(models, port, usable_cores(), n_ctx, slots)
    command = [str(server), *args, *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process, port
        except OSError:
            if process.poll() is not None:
                exited = f"llama-server exited ({process.returncode}): {' '.join(command)}"
                raise SystemExit(exited) from None
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"llama-server did not answer: {' '.join(command)}")


def run(server: Path, gguf: Path, levels: list[int], tokens: int, repeat: int) -> list[float]:
    # 1024 tokens a slot: the requests are short.
    served = [ServedModel(gguf.stem, gguf)]
    process, port = start_llama_server(server, served, 1024, max(levels), [])
    try:
        tokens_per_second(port, 1, 8)  # warm
        return [
            statistics.median(tokens_per_second(port, c, tokens) for _ in range(repeat))
            for c in levels
        ]
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gguf", nargs="+", type=Path)
    parser.add_argument("--server", type=Path, required=True, help="the llama-server program")
    parser.add_argument("--requantize", default="", help="types to copy the first file to")
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per request")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    print(f"bench/llama_batch.py — {args.server}, {usable_cores()} threads, {args.tokens} tokens")
    with tempfile.TemporaryDirectory(prefix="redraft-bench-batch-") as folder:
        files = list(args.gguf)
        for kind in filter(None, args.requantize.split(",")):
            files.append(requantised(args.gguf[0], kind, Path(folder)))
        rates = {g: run(args.server, g, levels, args.tokens, args.repeat) for g in files}
    first = rates[files[0]]
    for gguf, figures in rates.items():
        cells = "  ".join(
            f"{c} at once {r:6.1f} tok/s ({r / f:.2f})"
            for c, r, f in zip(levels, figures, first, strict=True)
        )
        print(f"  {gguf.name:<40} {cells}")


if __name__ == "__main__":
    main()
