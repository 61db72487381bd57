"""`redraft serve`: the real entry point, under waitress, on a loopback port."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import requests
from click.testing import CliRunner

from redraft.cli.main import cli
from redraft.labelstudio.server import free_port
from redraft.standin.server import StandinServer
from tests.fixtures.common import REDRAFT, clean_env, interrupt, start_interruptible


def serve_env(home: Path, **extra: str) -> dict[str, str]:
    return {**clean_env(), "REDRAFT_HOME": str(home), **extra}


def wait_until_up(url: str, proc: subprocess.Popen[str], limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"redraft serve exited early: {proc.communicate()}")
        try:
            requests.get(f"{url}/health", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"redraft serve did not answer on {url} within {limit_s}s")


def test_serve_answers_label_studio_and_stops_on_ctrl_c(
    redraft_home: Path, standin: StandinServer
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_interruptible(
        [REDRAFT, "serve", "--port", str(port), "--threads", "4", "--base-url", standin.base_url,
         "--model-version", "writer-v9", "--max-concurrency", "3", "--deadline", "30"],
        env=serve_env(redraft_home, OPENAI_API_KEY="sk-serve-test"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_until_up(url, proc)
        assert requests.post(f"{url}/setup", json={}, timeout=5).json() == {
            "model_version": "writer-v9"
        }
        tasks = [{"id": 1, "data": {"brief": "Offer a demo."}}]
        results = requests.post(f"{url}/predict", json={"tasks": tasks}, timeout=30).json()
        assert results["results"][0]["model_version"] == "writer-v9"
    finally:
        stdout, stderr = interrupt(proc, timeout=30)
    assert (proc.returncode, stdout) == (0, "")
    assert (
        f"redraft backend on http://127.0.0.1:{port} — model version 'writer-v9', "
        "up to 3 concurrent drafts (sized to the endpoint), deadline 30s, cache on, "
        "auto-train off"
    ) in stderr
    assert (redraft_home / "cache.sqlite3").exists()


def test_serve_without_api_key_fails_with_the_fix(redraft_home: Path) -> None:
    done = subprocess.run(
        [REDRAFT, "serve", "--port", str(free_port())],
        env=serve_env(redraft_home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines()[-1] == (
        "error: OPENAI_API_KEY is not set — export it (any non-empty value works for a "
        "local OpenAI-compatible server such as `redraft local serve`, vLLM or Ollama)"
    )


def test_serve_help_shows_an_example() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "redraft serve --port 9090 --model gpt-4o-mini" in result.output


def test_serve_on_a_port_in_use_is_one_error_line(redraft_home: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [REDRAFT, "serve", "--port", str(port)],
            env=serve_env(redraft_home, OPENAI_API_KEY="sk-test"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port} (Address already in use) — stop what runs "
        "there or pass another --port"
    )
    assert "Traceback" not in done.stderr


def test_idle_connections_never_lock_out_health(
    backend_server, settings, standin: StandinServer
) -> None:  # type: ignore[no-untyped-def]
    """Label Studio and proxies keep connections open; 150 idle ones must not block a probe."""
    import socket

    server = backend_server(settings.with_overrides(openai_base_url=standin.base_url))
    host, port = server.url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(150)]
    try:
        answer = requests.get(f"{server.url}/health", timeout=10)
        assert answer.json()["status"] == "UP"
    finally:
        for connection in idle:
            connection.close()
