"""A LoRA run on a CPU split over one training process per core.

A small model in bf16 gains less from a second thread than from a second process: torch's
threads meet after every short operation. Measured on a quiet two-core AMX machine
(docs/training.md): two one-thread processes took SFT steps 1.24x and DPO steps 1.31x faster
than one two-thread process, with the same steps on the same examples (in fp32 1.09x and
0.95x, so fp32 runs stay in one). So `run_lora` on a bf16 CPU starts one process per core
(torch.distributed over gloo, as under `accelerate launch`), each training its share of every
step; the first saves the adapter and its metrics come back here.

The processes meet through a file in the run's folder, not a TCP port that another program
could take first. Their log lines come back to the caller's `report`; their step logs go to
stderr, as a single process's do.

`run_apart` runs a whole `run_lora` (split or not) in a process of its own, for a caller that
lives on after it — auto mode inside `redraft serve`: the model and the training's gigabytes
go back when that process ends, and a run killed for memory leaves the caller standing.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import pickle
import queue
import signal
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from redraft.errors import RedraftError
from redraft.machine import thread_shares, usable_cores
from redraft.training.errors import TrainingFailedError

# More processes than this gain little: each holds its own copy of the model.
MAX_TRAINING_PROCESSES = 4
# Room one training process needs besides its weights (activations, logits, optimizer state,
# torch itself): SmolLM2-135M's processes peaked at 5.0 GB each for 0.5 GB of fp32 weights.
PROCESS_OVERHEAD_BYTES = 4 * 2**30


def training_processes(batch_size: int, cores: int, model_bytes: int, available: int | None) -> int:
    """How many processes to train in on a CPU: one per core, as many as split `batch_size`
    evenly, and as many as the memory holds (each loads the model in fp32 beside the others).

    >>> training_processes(4, 2, 2**29, None), training_processes(4, 3, 2**29, None)
    (2, 2)
    >>> training_processes(4, 1, 2**29, None), training_processes(6, 8, 2**29, None)
    (1, 3)
    >>> training_processes(4, 2, 2**29, 8 * 2**30)  # memory for one only
    1
    """
    most = max(1, min(cores, MAX_TRAINING_PROCESSES))
    if available is not None:
        each = 3 * model_bytes + PROCESS_OVERHEAD_BYTES
        most = max(1, min(most, available // each))
    return max(n for n in range(1, most + 1) if batch_size % n == 0)


def run_on_cores(export_dir: Path, params: Any, report: Any, processes: int) -> Any:
    """`run_lora`'s result, trained by `processes` processes on this machine's cores."""
    import multiprocessing

    from redraft.training.trl_lora import per_process_batch

    per_process_batch(params.batch_size, processes)  # refused here, before any model loads
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch state
    events = context.Queue()
    params.output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rendezvous-", dir=params.output_dir) as meet:
        rendezvous = Path(meet) / "group"
        threads = thread_shares(usable_cores(), processes)
        workers = [
            context.Process(
                target=_train_share,
                args=(rank, processes, threads[rank], rendezvous, export_dir, params, events),
                name=f"redraft-train-{rank}",
                daemon=True,  # ends with this process (and PR_SET_PDEATHSIG if it is killed)
            )
            for rank in range(processes)
        ]
        for worker in workers:
            worker.start()
        try:
            return _collect(workers, events, report)
        finally:
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()
                worker.join()
            events.close()


def run_apart(export: Any, params: Any, report: Any) -> Any:
    """`run_lora`'s result, trained in a process of its own (which may split the run over the
    cores itself); this process imports no trainer and keeps none of the run's memory."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    # Not a daemon: a daemon may not start the per-core processes run_lora may want. But
    # multiprocessing joins such a process when this one exits, so a server stopped mid-run
    # would wait for the run to end: stop it first (atexit runs the last registered first).
    worker = context.Process(
        target=_train_apart, args=(export.path, params, events), name="redraft-train"
    )
    worker.start()
    stop = functools.partial(_stop, worker)  # this run's own handler, to unregister
    atexit.register(stop)
    try:
        return _collect([worker], events, report)
    finally:
        atexit.unregister(stop)
        stop()
        events.close()


def _stop(worker: Any) -> None:
    if worker.is_alive():
        worker.terminate()
    worker.join()


def _train_apart(export_dir: Path, params: Any, events: Any) -> None:
    """The whole run, in the process `run_apart` started (its entry point)."""
    _end_with_parent()
    os.dup2(2, 1)  # transformers logs steps on stdout; the caller's stdout is not for them
    try:
        from redraft.training.exportdir import load_export
        from redraft.training.trl_lora import run_lora

        adapter, metrics = run_lora(
            load_export(export_dir), params, lambda line: events.put(("report", line))
        )
        events.put(("done", (str(adapter), metrics)))
    except BaseException as exc:  # the caller raises it
        if not isinstance(exc, RedraftError):
            traceback.print_exc()
        events.put(("error", _picklable(exc)))
        raise SystemExit(1) from None


def _collect(workers: list[Any], events: Any, report: Any) -> Any:
    """Pass the workers' report lines on until the first has a result or one fails."""
    while True:
        try:
            kind, value = events.get(timeout=1.0)
        except queue.Empty:
            if any(w.exitcode not in (None, 0) for w in workers):
                raise _cause(workers, events, []) from None
            if all(w.exitcode == 0 for w in workers):
                raise TrainingFailedError("the training processes ended without a result") from None
            continue
        if kind == "report":
            report(value)
        elif kind == "error":
            raise _cause(workers, events, [value])
        else:
            adapter, metrics = value
            for worker in workers:
                worker.join()
            return Path(adapter), metrics


def _cause(workers: list[Any], events: Any, errors: list[BaseException]) -> BaseException:
    """The error that explains a failed run. When one process fails, the others fail too, in
    their next collective, with a lost-connection error that says nothing: so wait for them,
    and prefer a real error, then a process that was killed (out of memory), then any."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(w.exitcode is None for w in workers):
        time.sleep(0.1)
    with contextlib.suppress(queue.Empty, OSError, EOFError):
        while True:
            kind, value = events.get(timeout=0.2)
            if kind == "error":
                errors.append(value)
    real = [e for e in errors if not _lost_peer(e)]
    if real:
        return real[0]
    killed = [w for w in workers if w.exitcode is not None and w.exitcode < 0]
    dead = killed or [w for w in workers if w.exitcode not in (None, 0)]
    if dead:
        # Split over several, each holds a model: one process needs less memory.
        hint = " — retry with --processes 1" if len(workers) > 1 else ""
        return TrainingFailedError(
            f"training process {dead[0].name} ended with exit code {dead[0].exitcode} "
            f"(out of memory?){hint}"
        )
    return errors[0] if errors else TrainingFailedError("a training process failed")


def _lost_peer(error: BaseException) -> bool:
    """An error a process gets because another one stopped (gloo's closed connection)."""
    text = f"{type(error).__module__}.{type(error).__name__}: {error}"
    return "torch.distributed" in text or "Connection closed by peer" in text or "gloo" in text


def _train_share(
    rank: int,
    processes: int,
    threads: int,
    rendezvous: Path,
    export_dir: Path,
    params: Any,
    events: Any,
) -> None:
    """One process's share of every step (the entry point of a spawned process)."""
    _end_with_parent()
    os.dup2(2, 1)  # transformers logs steps on stdout; a command's stdout is for its result
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(processes),
        LOCAL_WORLD_SIZE=str(processes),
        OMP_NUM_THREADS=str(threads),
    )
    try:
        import torch
        import torch.distributed as dist

        torch.set_num_threads(threads)
        dist.init_process_group(
            "gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=processes
        )
        from redraft.training.exportdir import load_export
        from redraft.training.trl_lora import train_here

        def report(line: str) -> None:
            if rank == 0:
                events.put(("report", line))

        adapter, metrics = train_here(load_export(export_dir), params, report)
        if rank == 0:
            events.put(("done", (str(adapter), metrics)))
    except BaseException as exc:  # the caller raises it
        # A bug, not a message for the user: keep where it happened (but not for the lost
        # connection a process gets when another one failed: the parent names that one).
        if not isinstance(exc, RedraftError) and not _lost_peer(exc):
            traceback.print_exc()
        events.put(("error", _picklable(exc)))
        raise SystemExit(1) from None
    finally:
        with contextlib.suppress(Exception):
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _end_with_parent() -> None:
    """Ask Linux to stop this process when the one that started it dies (killed, or out of
    memory), instead of training on for nobody; elsewhere nothing happens."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _picklable(exc: BaseException) -> BaseException:
    """`exc` if it survives the trip to the parent (pickled and rebuilt), else its message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return TrainingFailedError(f"{type(exc).__name__}: {exc}")
