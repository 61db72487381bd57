"""`redraft local serve`: one OpenAI-compatible endpoint for the base model and its versions.

Child processes do the inference, one per core (up to `MAX_MODEL_PROCESSES`), the cores'
threads split among them: llama.cpp's own `llama-server` when one is built
(`REDRAFT_LLAMA_SERVER_BIN`; `./dev setup` compiles it from the llama-cpp-python sdist's
vendored llama.cpp), else llama-cpp-python's server. Each llama-server decodes
`LLAMA_SERVER_SLOTS` requests together (parallel slots, continuous batching): the base GGUF
file, each version's GGUF LoRA loaded once with scale 0, and per request the front applies the
LoRA of the model id asked for (the request's `lora` field) and llama-cpp-python's repeat
penalty. llama-cpp-python's server gets one model entry per version and decodes one request at
a time. The front hands each request to the process with the fewest in flight: a small model
gains little from a second thread (llama.cpp's threads meet at a barrier after every short
operation), so on two cores two one-thread processes write more drafts per minute than one
two-thread process, the same drafts to the character for llama-cpp-python
(bench/local_server.py); one draft alone takes longer.

Either server's model list is fixed at start, so this front keeps the public port and, when
the registry gains a servable version, starts new model processes with the new list, switches
new requests to them once they answer, and stops the old ones when their requests in flight are
done. No request fails because of a reload.

The front also refuses a model id it does not serve with HTTP 404: both servers would silently
answer with the base model instead, and a draft would carry the wrong version.

The front says how many requests its model processes decode at once on every answer (the
`X-Redraft-Parallel` header, which redraft's drafting sizes its concurrency to), queues the
rest in arrival order, and asks the model for a stream even when the client did not, so that a
client that has gone away (it timed out, or was stopped) stops the generation at the next token
instead of holding a slot for a draft nobody will read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from redraft.backend.pacing import PARALLEL_HEADER
from redraft.backend.slots import Slots
from redraft.errors import LocalModelError
from redraft.machine import available_memory, thread_shares, usable_cores

logger = logging.getLogger(__name__)

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
READY_TIMEOUT = 180.0
DRAIN_TIMEOUT = 600.0
# llama-cpp-python's server holds one lock around its model: one request decodes at a time.
LLAMA_PARALLEL = 1
# How many model processes at most (one per core): more than this gains little, and each
# llama-cpp-python server holds its own copy of the weights once it serves a LoRA (it then loads
# without mmap).
MAX_MODEL_PROCESSES = 4
# Room a model process needs besides its GGUF files: KV cache, buffers, the Python server.
PROCESS_OVERHEAD_BYTES = 300 * 2**20
# Slots of each llama-server process (one per core), decoded together in one batch per step:
# on two cores two 2-slot processes wrote more drafts a minute than one with 4 slots or two
# with 4 (bench/local_server.py).
LLAMA_SERVER_SLOTS = 2
LLAMA_SERVER_ENV = "REDRAFT_LLAMA_SERVER_BIN"
QUEUE_POLL_SECONDS = 0.5
LOGPROB_FIELDS = frozenset({"logprobs", "top_logprobs"})
# llama-cpp-python's server penalises repeated tokens unless a request says otherwise
# (repeat_penalty 1.1 over the last 64); llama-server does not (1.0), and its drafts were
# edited far more (65.4% against 46.6%; 45.4% with 1.1, bench/local_server.py). llama-server
# is asked for the same default.
REPEAT_PENALTY = {"repeat_penalty": 1.1}


@dataclass(frozen=True)
class ServedModel:
    """One model id the local server answers: a GGUF base, optionally with a GGUF LoRA."""

    model_id: str
    gguf: Path
    lora: Path | None = None


def llama_config(models: list[ServedModel], port: int, threads: int, n_ctx: int) -> dict[str, Any]:
    """The llama-cpp-python server config file for `models` (the first one is the default).

    `logits_all` is off: the server keeps every token's logits only to answer `logprobs`,
    which the front never asks it for (`LlamaChild.prepare`). Off, the same drafts come out
    and each process holds ~150 MB less (420 → 270 MB resident on SmolLM2-135M).

    >>> config = llama_config([ServedModel("base", Path("/m.gguf"))], 9000, 2, 2048)
    >>> config["models"]
    [{'model': '/m.gguf', 'model_alias': 'base', 'n_ctx': 2048, 'n_threads': 2, \
'n_threads_batch': 2, 'logits_all': False, 'verbose': False}]
    """
    entries = []
    for model in models:
        entry: dict[str, Any] = {
            "model": str(model.gguf),
            "model_alias": model.model_id,
            "n_ctx": n_ctx,
            "n_threads": threads,
            "n_threads_batch": threads,
            "logits_all": False,
            "verbose": False,
        }
        if model.lora is not None:
            entry["lora_path"] = str(model.lora)
        entries.append(entry)
    return {"host": "127.0.0.1", "port": port, "models": entries}


@dataclass(frozen=True)
class Engine:
    """What runs the model: `servers` llama.cpp `llama-server` processes at `binary`, each
    with `parallel` slots, or (no binary) `parallel` llama-cpp-python servers, each decoding
    one request at a time."""

    binary: Path | None = None
    parallel: int = LLAMA_PARALLEL
    servers: int = 1

    @property
    def name(self) -> str:
        if self.binary:
            return "llama-server" + (f" x{self.servers}" if self.servers > 1 else "")
        return "llama-cpp-python's server" + (f" x{self.parallel}" if self.parallel > 1 else "")

    @property
    def processes(self) -> int:
        """Model processes per model list: llama-server batches its slots in each."""
        return self.servers if self.binary else self.parallel

    @property
    def slots(self) -> int:
        """Requests one model process decodes at once."""
        return self.parallel if self.binary else 1


def processes_that_fit(models: list[ServedModel], wanted: int) -> int:
    """How many of `wanted` llama-cpp-python processes the available memory holds, each with
    the base and its largest LoRA, twice over (a reload runs old and new side by side)."""
    files = [m.gguf for m in models[:1]] + [m.lora for m in models if m.lora is not None]
    sizes = [_size(f) for f in files]
    each = (sizes[0] if sizes else 0) + max(sizes[1:], default=0) + PROCESS_OVERHEAD_BYTES
    available = available_memory()
    if available is None:
        return wanted
    return max(1, min(wanted, available // (2 * each)))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def python_engine(cores: int | None = None) -> Engine:
    """llama-cpp-python's server, one process per core up to MAX_MODEL_PROCESSES.

    >>> python_engine(2), python_engine(1).name, python_engine(16).parallel
    (Engine(binary=None, parallel=2, servers=1), "llama-cpp-python's server", 4)
    """
    cores = usable_cores() if cores is None else cores
    return Engine(parallel=model_processes(cores))


def model_processes(cores: int) -> int:
    """One model process per core, up to MAX_MODEL_PROCESSES.

    >>> model_processes(1), model_processes(2), model_processes(16)
    (1, 2, 4)
    """
    return max(1, min(cores, MAX_MODEL_PROCESSES))


def find_engine(binary: Path | None = None, parallel: int = LLAMA_SERVER_SLOTS) -> Engine:
    """llama-server at `binary` (else $REDRAFT_LLAMA_SERVER_BIN), one process per core with
    `parallel` slots each, or llama-cpp-python's servers (python_engine) when neither names
    one; a named program that is missing fails."""
    if binary is None:
        value = os.environ.get(LLAMA_SERVER_ENV)
        binary = Path(value).expanduser() if value else None
    if binary is None:
        return python_engine()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise LocalModelError(
            f"{LLAMA_SERVER_ENV}={binary}: no such program — build it with `./dev setup`, or "
            f"unset {LLAMA_SERVER_ENV} to serve with llama-cpp-python's server"
        )
    return Engine(binary, parallel, servers=model_processes(usable_cores()))


def adapters(models: list[ServedModel]) -> list[Path]:
    """The distinct LoRA files of `models`, in order: llama-server's adapter ids are the indexes.

    >>> adapters([ServedModel("b", Path("/m")), ServedModel("v1", Path("/m"), Path("/v1"))])
    [PosixPath('/v1')]
    """
    return list(dict.fromkeys(m.lora for m in models if m.lora is not None))


def lora_request(models: list[ServedModel], model_id: str) -> list[dict[str, Any]]:
    """llama-server's per-request `lora` field for `model_id`: its adapter at scale 1, every
    other at 0. Every adapter is named: an empty list would apply them all at the scale they
    were loaded with (1, even with --lora-init-without-apply).

    >>> models = [ServedModel("b", Path("/m")), ServedModel("v1", Path("/m"), Path("/v1"))]
    >>> lora_request(models, "v1"), lora_request(models, "b")
    ([{'id': 0, 'scale': 1.0}], [{'id': 0, 'scale': 0.0}])
    """
    lora = next((m.lora for m in models if m.model_id == model_id), None)
    return [{"id": i, "scale": float(f == lora)} for i, f in enumerate(adapters(models))]


def llama_server_args(
    models: list[ServedModel], port: int, threads: int, n_ctx: int, parallel: int
) -> list[str]:
    """llama-server's arguments for `models`: one base, each LoRA loaded once and applied per
    request; every slot gets `n_ctx` tokens of context. Flash attention is off, as in
    llama-cpp-python's server: on, the same prompt's log-probabilities move by ~0.05 and greedy
    drafts part ways.

    >>> llama_server_args(
    ...     [ServedModel("b", Path("/m.gguf")), ServedModel("v1", Path("/m.gguf"), Path("/v1"))],
    ...     9000, 2, 2048, 4)  # doctest: +NORMALIZE_WHITESPACE
    ['--model', '/m.gguf', '--alias', 'b', '--host', '127.0.0.1', '--port', '9000',
     '--threads', '2', '--threads-batch', '2', '--ctx-size', '8192', '--parallel', '4',
     '--cont-batching', '--flash-attn', 'off', '--no-webui', '--lora', '/v1',
     '--lora-init-without-apply']
    """
    bases = list(dict.fromkeys(str(m.gguf) for m in models))
    if len(bases) != 1:
        raise LocalModelError(f"llama-server serves one base model, not {len(bases)}: {bases}")
    args = ["--model", bases[0], "--alias", models[0].model_id]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    args += ["--threads", str(threads), "--threads-batch", str(threads)]
    args += ["--ctx-size", str(n_ctx * parallel), "--parallel", str(parallel)]
    args += ["--cont-batching", "--flash-attn", "off", "--no-webui"]
    files = adapters(models)
    for path in files:
        if "," in str(path):  # llama-server splits --lora on commas
            raise LocalModelError(f"llama-server cannot load a LoRA whose path has a comma: {path}")
        args += ["--lora", str(path)]
    if files:
        args.append("--lora-init-without-apply")
    return args


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` different TCP ports on 127.0.0.1 that nothing listens on right now: held open
    together while they are chosen, so sibling model processes never get the same one.

    >>> ports = free_ports(3)
    >>> len(set(ports))
    3
    """
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


class LlamaChild:
    """One model server process (llama-server or llama-cpp-python's) on a loopback port."""

    def __init__(
        self,
        models: list[ServedModel],
        workdir: Path,
        threads: int,
        n_ctx: int,
        engine: Engine = Engine(),
        port: int | None = None,
    ) -> None:
        self.models = models
        self.engine = engine
        self.port = port or free_port()
        self.workdir = workdir
        self._in_flight = 0
        self._idle = threading.Condition()
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / f"llama-{self.port}.json"
        self.log_path = workdir / f"llama-{self.port}.log"
        if engine.binary is None:
            config = llama_config(models, self.port, threads, n_ctx)
            self.config_path.write_text(json.dumps(config, indent=2))
            self.command = [sys.executable, "-m", "llama_cpp.server"]
            self.command += ["--config_file", str(self.config_path)]
            self.ready_path = "/v1/models"
        else:
            args = llama_server_args(models, self.port, threads, n_ctx, engine.parallel)
            self.command = [str(engine.binary), *args]
            self.ready_path = "/health"  # 503 until the model is loaded
        self.process: subprocess.Popen[bytes] | None = None

    def prepare(self, request: dict[str, Any]) -> dict[str, Any]:
        """The request as this child takes it: llama-server gets the model's LoRA to apply
        and llama-cpp-python's repeat penalty unless the request sets one;
        llama-cpp-python's server gets no request for log-probabilities, which it computes in
        Python over the whole vocabulary for every token (measured: 100 tokens in 14.0 s with
        `top_logprobs`, 5.0 s without) — the draft's score does without token confidence."""
        if self.engine.binary is None:
            if "logprobs" in request or "top_logprobs" in request:
                request = {k: v for k, v in request.items() if k not in LOGPROB_FIELDS}
            return request
        lora = lora_request(self.models, str(request.get("model")))
        return {**REPEAT_PENALTY, **request, "lora": lora}

    def start(self) -> LlamaChild:
        """Start the process and wait until it answers (LocalModelError with its log if not)."""
        name = self.engine.name
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        began = time.monotonic()
        while time.monotonic() - began < READY_TIMEOUT:
            if self.process.poll() is not None:
                hint = (
                    "is `redraft[local]` installed? (./dev setup does it)"
                    if self.engine.binary is None
                    else f"unset {LLAMA_SERVER_ENV} to serve with llama-cpp-python's server"
                )
                raise LocalModelError(
                    f"{name} exited ({self.process.returncode}): {self.log_tail()} — {hint}"
                )
            if self._answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise LocalModelError(f"{name} did not answer in {READY_TIMEOUT:g}s")

    def _answers(self) -> bool:
        try:
            conn = HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", self.ready_path)
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][:300] if lines else "no log"

    @property
    def in_flight(self) -> int:
        with self._idle:
            return self._in_flight

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def enter(self) -> None:
        with self._idle:
            self._in_flight += 1

    def leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def drain_and_stop(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Wait for requests in flight to finish, then stop."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)
        self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for path in (self.config_path, self.log_path):
            path.unlink(missing_ok=True)


class ChildGroup:
    """The model processes serving one model list (llama-servers, whose slots each decode
    together, or llama-cpp-python servers), the cores' threads split among them."""

    def __init__(
        self,
        models: list[ServedModel],
        workdir: Path,
        threads: int,
        n_ctx: int,
        engine: Engine,
        processes: int,
    ) -> None:
        self.models = models
        shares = thread_shares(threads, processes)
        self.children = [
            LlamaChild(models, workdir, share, n_ctx, engine, port)
            for share, port in zip(shares, free_ports(processes), strict=True)
        ]
        self._choose = threading.Lock()

    def start(self) -> ChildGroup:
        """Start every process at once and wait for all; if one fails, stop the rest and raise."""
        with ThreadPoolExecutor(len(self.children)) as pool:
            results = list(pool.map(_started, self.children))
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            self.stop()
            if isinstance(failed[0], LocalModelError):
                raise failed[0]
            raise LocalModelError(f"could not start the model process: {failed[0]}")
        return self

    def alive(self) -> bool:
        """Every process still runs (one that died is replaced by the watcher's next reload)."""
        return all(c.running for c in self.children)

    def acquire(self) -> LlamaChild:
        """The running process with the fewest requests in flight, counted as one more (a
        process that died would otherwise look idle and fail every request sent to it)."""
        with self._choose:
            running = [c for c in self.children if c.running] or self.children
            child = min(running, key=lambda c: c.in_flight)
            child.enter()
            return child

    def drain_and_stop(self) -> None:
        """Each process stops once its own requests are done, all at the same time."""
        with ThreadPoolExecutor(len(self.children)) as pool:
            list(pool.map(LlamaChild.drain_and_stop, self.children))

    def stop(self) -> None:
        for child in self.children:
            child.stop()


def _started(child: LlamaChild) -> LlamaChild | Exception:
    try:
        return child.start()
    except Exception as exc:  # reported by ChildGroup.start, after the others are stopped
        return exc


class LocalServer:
    """The public front: routes each request to the current child; reloads on a new model list."""

    def __init__(
        self,
        list_models: Callable[[], list[ServedModel]],
        *,
        workdir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int | None = None,
        n_ctx: int = 2048,
        poll_seconds: float = 5.0,
        engine: Engine | None = None,
    ) -> None:
        self.list_models = list_models
        # None: llama-server when REDRAFT_LLAMA_SERVER_BIN names one (find_engine).
        self.engine = engine or find_engine()
        self.workdir = workdir
        self.threads = threads or usable_cores()  # split among the engine's processes
        self.n_ctx = n_ctx
        self.poll_seconds = poll_seconds
        self._group: ChildGroup | None = None
        self._swap = threading.Lock()  # guards _group
        self._reloading = threading.Lock()  # one reload at a time
        self._stopped = threading.Event()
        # llama-server batches its slots in one process; llama-cpp-python's processes take one
        # request each, and no more of them than threads (start() may lower it for memory).
        self.processes = min(self.engine.processes, self.threads)
        self.parallel = self.engine.slots * self.processes
        self.turns = Slots(self.parallel)  # requests beyond `parallel` wait here, in order
        self._http = ThreadingHTTPServer((host, port), _handler_for(self))
        self._http.daemon_threads = True
        self._threads: list[threading.Thread] = []
        self._failed: list[ServedModel] | None = None
        self._failed_reason = ""
        self._reported = ""

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def model_ids(self) -> list[str]:
        group = self._group
        return [m.model_id for m in group.models] if group else []

    def start(self) -> LocalServer:
        """Start the first processes (blocking until they answer), the HTTP front and the
        watcher."""
        models = self.list_models()
        if not self.engine.binary:
            fit = processes_that_fit(models, self.processes)
            if fit < self.processes:
                logger.warning(
                    "local server: memory for %d model processes, not %d: %d at once",
                    fit, self.processes, fit,
                )  # fmt: skip
                self.processes = self.parallel = fit
                self.turns = Slots(fit)
        self._group = self._new_group(models)
        for target in (self._http.serve_forever, self._watch):
            thread = threading.Thread(target=target, daemon=True, name="redraft-local")
            thread.start()
            self._threads.append(thread)
        return self

    def _new_group(self, models: list[ServedModel]) -> ChildGroup:
        if not models:
            raise LocalModelError("no model to serve")
        group = ChildGroup(
            models, self.workdir, self.threads, self.n_ctx, self.engine, self.processes
        )
        return group.start()

    def reload(self) -> bool:
        """Serve the current model list; True when it changed (the switch is complete then)."""
        with self._reloading:
            models = self.list_models()
            current = self._group
            if current is not None and models == current.models:
                if current.alive():
                    return False
                logger.warning("local server: a model process exited; starting new ones")
            if models == self._failed:  # the same list failed before: do not retry it forever
                raise LocalModelError(f"{self.engine.name} could not load: {self._failed_reason}")
            try:
                group = self._new_group(models)
            except LocalModelError as exc:
                self._failed, self._failed_reason = models, str(exc)
                raise
            with self._swap:
                old, self._group = self._group, group
            logger.info("local server now serves: %s", ", ".join(m.model_id for m in models))
            if old is not None:
                threading.Thread(target=old.drain_and_stop, daemon=True).start()
            return True

    def _watch(self) -> None:
        while not self._stopped.wait(self.poll_seconds):
            try:
                self.reload()
            except LocalModelError as exc:  # keep serving the old list; say why once
                if self._failed_reason != self._reported:
                    logger.error("local server: %s; still serving the previous models", exc)
                    self._reported = self._failed_reason
            except Exception:
                logger.exception("local server: reload failed; still serving the previous models")

    def acquire(self) -> LlamaChild:
        with self._swap:
            group = self._group
            if group is None:
                raise LocalModelError("the local server is stopping")
            return group.acquire()

    def stop(self) -> None:
        """Stop the front, the watcher and the model processes."""
        self._stopped.set()
        self._http.shutdown()
        self._http.server_close()
        with self._swap:
            group, self._group = self._group, None
        if group is not None:
            group.stop()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("local server: " + format, *args)

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header(PARALLEL_HEADER, str(server.parallel))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path in ("/health", ""):
                self._json(
                    200, {"status": "ok", "models": server.model_ids, "parallel": server.parallel}
                )
            elif path == "/v1/models":
                data = [
                    {"id": i, "object": "model", "owned_by": "redraft"} for i in server.model_ids
                ]
                self._json(200, {"object": "list", "data": data})
            else:
                self._json(404, _error(f"no route {path}", "not_found"))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/redraft/reload":
                if self.client_address[0] not in ("127.0.0.1", "::1"):
                    self._json(403, _error("reload is allowed from this machine only", "forbidden"))
                    return
                try:
                    changed = server.reload()
                except LocalModelError as exc:
                    self._json(500, _error(str(exc), "reload_failed"))
                    return
                self._json(200, {"changed": changed, "models": server.model_ids})
                return
            try:
                model = json.loads(body or b"{}").get("model")
            except (ValueError, AttributeError):
                self._json(400, _error("the request body is not a JSON object", "bad_json"))
                return
            if model not in server.model_ids:
                served = ", ".join(server.model_ids)
                self._json(
                    404,
                    _error(
                        f"model {model!r} is not served here (serving: {served}) — train it with "
                        "`redraft train trl`, or check `redraft models list`",
                        "model_not_found",
                    ),
                )
                return
            self._forward(body, model)

        def _client_gone(self) -> bool:
            """True when the client closed its connection (readable, and nothing to read)."""
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _forward(self, body: bytes, model: str) -> None:
            # Checked while it waits and once more when its turn comes: a client that left in
            # the last poll interval must not start a generation nobody reads.
            while not server.turns.acquire(timeout=QUEUE_POLL_SECONDS):
                if self._client_gone():
                    self._left_while_waiting()
                    return
            try:
                if self._client_gone():
                    self._left_while_waiting()
                    return
                self._forward_in_turn(body, model)
            finally:
                server.turns.release()

        def _left_while_waiting(self) -> None:
            logger.info("local server: the client went away while its request waited")
            self.close_connection = True

        def _forward_in_turn(self, body: bytes, model: str) -> None:
            child = server.acquire()
            conn = HTTPConnection("127.0.0.1", child.port, timeout=DRAIN_TIMEOUT)
            try:
                request = json.loads(body or b"{}")
                collect = self.path.rstrip("/") == "/v1/chat/completions" and not request.get(
                    "stream"
                )
                if collect:  # stream from the model, answer in one piece (see the docstring)
                    request = {**request, "stream": True}
                prepared = child.prepare(request)
                if collect or prepared is not request:
                    body = json.dumps(prepared).encode()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                conn.request("POST", self.path, body=body, headers=headers)
                response = conn.getresponse()
                if collect and response.status == 200:
                    self._collect(response, model)
                else:
                    self._relay(response)
            except ClientGone:
                logger.info("local server: the client went away; generation stopped")
                self.close_connection = True
            except (OSError, ValueError) as exc:  # ValueError: a stream line that is not JSON
                logger.warning("local server: the model process failed a request: %s", exc)
                self._json(
                    502, _error("the model process failed; see the server log", "bad_gateway")
                )
            finally:
                conn.close()  # on a gone client this is what stops the model's stream
                child.leave()

        def _relay(self, response: Any) -> None:
            """Pass the model process's answer through as it comes (streams chunk by chunk)."""
            streaming = response.getheader("Content-Length") is None
            self.send_response(response.status)
            self.send_header(PARALLEL_HEADER, str(server.parallel))
            for key, value in response.getheaders():
                if key.lower() not in HOP_HEADERS:
                    self.send_header(key, value)
            try:
                if streaming:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    while chunk := response.read1(65536):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    payload = response.read()
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                raise ClientGone from None

        def _collect(self, response: Any, model: str) -> None:
            """Read the model's event stream, stopping if the client leaves; answer the whole
            completion as one chat.completion object, named for the model id asked for
            (llama-server names its base model in every chunk)."""
            chunks = []
            for line in iter(response.readline, b""):
                if self._client_gone():
                    raise ClientGone
                data = line.strip().removeprefix(b"data:").strip()
                if not data or data == b"[DONE]" or line.startswith(b":"):
                    continue
                chunks.append(json.loads(data))
            self._json(200, {**completion_from_chunks(chunks), "model": model})

    return Handler


class ClientGone(Exception):
    """The client closed its connection before the answer was sent."""


def completion_from_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Join a streamed chat completion's chunks into the object a non-streaming call returns.

    >>> chunks = [
    ...     {"id": "c1", "created": 5, "model": "m",
    ...      "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]},
    ...     {"id": "c1", "created": 5, "model": "m",
    ...      "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
    ...     {"id": "c1", "created": 5, "model": "m",
    ...      "choices": [{"index": 0, "delta": {"content": " Ada"}, "finish_reason": "stop"}]},
    ... ]
    >>> completion_from_chunks(chunks)["choices"]
    [{'index': 0, 'message': {'role': 'assistant', 'content': 'Hi Ada'}, 'logprobs': None, \
'finish_reason': 'stop'}]

    Log-probabilities, which llama-cpp-python streams per chunk when asked, are joined too:

    >>> lp = {"content": [{"token": "Hi", "logprob": -0.1, "bytes": None, "top_logprobs": []}]}
    >>> chunks[1]["choices"][0]["logprobs"] = lp
    >>> completion_from_chunks(chunks)["choices"][0]["logprobs"]["content"][0]["logprob"]
    -0.1
    """
    first = chunks[0] if chunks else {}
    texts: dict[int, list[str]] = {}
    finish: dict[int, str | None] = {}
    logprobs: dict[int, list[Any]] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            index = int(choice.get("index") or 0)
            piece = (choice.get("delta") or {}).get("content")
            texts.setdefault(index, [])
            if piece:
                texts[index].append(piece)
            tokens = (choice.get("logprobs") or {}).get("content")
            if isinstance(tokens, list):
                logprobs.setdefault(index, []).extend(tokens)
            if choice.get("finish_reason"):
                finish[index] = choice["finish_reason"]
    choices = [
        {
            "index": index,
            "message": {"role": "assistant", "content": "".join(parts)},
            "logprobs": (
                {"content": logprobs[index], "refusal": None} if index in logprobs else None
            ),
            "finish_reason": finish.get(index, "stop"),
        }
        for index, parts in sorted(texts.items())
    ]
    return {
        "id": first.get("id", "chatcmpl-local"),
        "object": "chat.completion",
        "created": first.get("created", int(time.time())),
        "model": first.get("model", ""),
        "choices": choices,
    }
