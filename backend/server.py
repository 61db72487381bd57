"""Serving the backend app under waitress: blocking (`redraft serve`) or in a thread."""

from __future__ import annotations

import logging
import threading
from typing import Any

import waitress
from flask import Flask
from waitress import wasyncore

from redraft.backend.app import backend_state
from redraft.errors import ConfigError

logger = logging.getLogger(__name__)

_POLL_S = 0.05  # how long stop() may wait for the serving loop to notice


def server_options(app: Flask) -> dict[str, Any]:
    """waitress' limits for a backend that Label Studio and proxies keep connections to.

    waitress' defaults (100 connections, idle ones kept 120 s) let 100 idle keep-alive
    connections lock out every new one, /health included, for two minutes.
    """
    settings = backend_state(app).settings
    return {
        "connection_limit": settings.connection_limit,
        "channel_timeout": settings.channel_timeout,
        "cleanup_interval": max(1, min(30, settings.channel_timeout // 2)),
        "backlog": 2048,
        "clear_untrusted_proxy_headers": True,
    }


class BackgroundServer:
    """A WSGI app served by waitress in a daemon thread until `stop()`; a context manager."""

    def __init__(
        self, app: Flask, *, host: str = "127.0.0.1", port: int = 0, threads: int = 8
    ) -> None:
        self.app = app
        self._server: Any = waitress.create_server(
            app, host=host, port=port, threads=threads, **server_options(app)
        )
        self.url = f"http://{host}:{self._server.effective_port}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="redraft-backend-waitress", daemon=True
        )

    def _loop(self) -> None:
        # waitress' own run() loops until its socket map is empty; polling one round at a
        # time lets stop() end the loop first and close the sockets after, without a race.
        server = self._server
        while not self._stopping.is_set():
            wasyncore.loop(timeout=_POLL_S, map=server._map, use_poll=True, count=1)

    def start(self) -> BackgroundServer:
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the loop, let running requests finish, close every socket (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        # Worker threads finish their request (and pull the trigger) before it is closed.
        server.task_dispatcher.shutdown(timeout=10)
        for channel in list(server._map.values()):
            if channel is not server and channel is not server.trigger:
                channel.handle_close()
        server.close()  # the listening socket and the trigger
        backend_state(self.app).close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(app: Flask, *, host: str, port: int, threads: int) -> None:
    """Serve until interrupted (the `redraft serve` command), then release the app."""
    try:
        try:
            server = waitress.create_server(
                app, host=host, port=port, threads=threads, **server_options(app)
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror}) — stop what runs there or "
                "pass another --port"
            ) from None
        server.print_listen("Serving on http://{}:{}")
        server.run()
    finally:
        backend_state(app).close()
