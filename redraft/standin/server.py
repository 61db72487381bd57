"""StandinServer: the stand-in app on a real loopback port, served from a background thread."""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from redraft.errors import RedraftError
from redraft.standin.app import create_app
from redraft.standin.config import FaultRule, StandinConfig, StandinState

logger = logging.getLogger(__name__)

# FaultRule and StandinConfig are re-exported: `from redraft.standin.server import FaultRule`.
__all__ = ["FaultRule", "StandinConfig", "StandinServer", "StandinServerError"]


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, with access lines sent to this module's logger at DEBUG."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s -> %s", self.command, self.path, code)


class StandinServerError(RedraftError):
    """The stand-in server could not start (for example: the port is taken)."""


class StandinServer:
    """An OpenAI-compatible server on loopback; `base_url` is what OPENAI_BASE_URL is set to.

    Use as a context manager, or call start() and stop(). Latency and faults can be changed
    while it runs, from Python (set_latency, add_fault) or over HTTP (POST /_standin/config).
    """

    def __init__(
        self, config: StandinConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or StandinConfig()
        self.host = host
        self.port = port
        self.state = StandinState(self.config)
        self.app = create_app(self.state)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> StandinServer:
        """Bind the port and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        try:
            server = make_server(
                self.host, self.port, self.app, threaded=True, request_handler=_RequestHandler
            )
        except OSError as exc:
            raise StandinServerError(
                f"stand-in could not listen on {self.host}:{self.port} ({exc.strerror}) — "
                "pick another --port or stop whatever uses it"
            ) from None
        self.state.stop_event.clear()
        self._server = server
        self.port = server.server_port
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns quickly
            name=f"standin-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("stand-in serving on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Release hanging requests, stop serving and close the port."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self.state.stop_event.set()
        server.shutdown()
        if thread is not None:
            thread.join(timeout=10)
        server.server_close()
        self._server = None
        self._thread = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until stop() or KeyboardInterrupt (for the CLI)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server root, e.g. http://127.0.0.1:8123."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (url + "/v1")."""
        return f"{self.url}/v1"

    # -- runtime control ---------------------------------------------------------------

    def set_latency(self, ms: int) -> None:
        """Delay every chat completion by `ms` milliseconds from now on."""
        self.state.apply_config({"latency_ms": ms})

    def add_fault(self, rule: FaultRule) -> None:
        """Append a fault rule; rules are tried in order, the first that matches applies."""
        self.state.add_fault(rule)

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.state.clear_faults()

    def request_count(self, path: str = "/v1/chat/completions") -> int:
        """How many requests reached `path` (thread-safe)."""
        return self.state.request_count(path)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A copy of the request log, {"method", "path", "json"} each: the last 10,000."""
        return self.state.request_log()

    def total_requests(self) -> int:
        """How many requests arrived in all (exact, unlike the bounded log)."""
        return self.state.total_requests()

    def hold_answers(self) -> None:
        """Hold every chat completion's answer from now on, until release_answers() or stop():
        a test sees its requests in flight and decides when they finish, with no sleeps."""
        self.state.answers_open.clear()

    def release_answers(self) -> None:
        """Answer the held chat completions, and answer at once from now on."""
        self.state.answers_open.set()

    def in_flight(self) -> int:
        """How many chat completions are in flight right now (held ones included)."""
        with self.state.lock:
            return self.state.chat_in_flight

    def peak_in_flight(self) -> int:
        """The most chat completions that were in flight at once (since start or reset)."""
        with self.state.lock:
            return self.state.chat_peak_in_flight

    def reset_peak_in_flight(self) -> None:
        """Restart the in-flight peak from the number in flight now."""
        self.state.reset_peak_in_flight()
