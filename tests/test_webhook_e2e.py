"""Annotation events reach the backend authenticated, with no hand steps: `redraft serve` and
`redraft init` as a user runs them (only the README's settings) on the real Label Studio."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from label_studio_sdk import LabelStudio

from redraft.local.server import free_port
from redraft.settings import Settings
from redraft.standin import StandinServer
from redraft.webhook import WEBHOOK_SECRET_HEADER, secret_path
from tests.fixtures.common import REDRAFT, clean_env, interrupt, start_interruptible

pytestmark = pytest.mark.e2e

CLIENT = "Kestrel Freight"  # a client the simulated writers know


def wait_until_up(url: str, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"nothing answered at {url}")


def webhook_log(url: str, limit_s: float = 20.0) -> dict[str, Any]:
    """The backend's webhook log once it has heard something (Label Studio sends them async)."""
    deadline = time.monotonic() + limit_s
    while True:
        log = requests.get(f"{url}/metrics", timeout=5).json()["webhook_log"]
        if log["counts"] or time.monotonic() > deadline:
            return log
        time.sleep(0.2)


def test_init_leaves_a_project_whose_annotations_reach_the_backend_authenticated(
    ls_client: LabelStudio, ls_settings: Settings, standin: StandinServer, tmp_path: Path
) -> None:
    env = clean_env() | {
        "REDRAFT_HOME": str(ls_settings.home),
        "LABEL_STUDIO_URL": ls_settings.label_studio_url,
        "LABEL_STUDIO_API_KEY": ls_settings.label_studio_api_key or "",
        "OPENAI_API_KEY": "sk-test-key",
        "OPENAI_BASE_URL": standin.base_url,
    }
    port = free_port()
    backend = f"http://127.0.0.1:{port}"
    serve = start_interruptible(
        [REDRAFT, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_up(backend)

        def redraft(*args: str) -> subprocess.CompletedProcess[str]:
            done = subprocess.run(
                [REDRAFT, *args], env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stderr
            return done

        made = redraft("init", "--title", "hooks arrive", "--backend-url", backend)
        project_id = int(made.stdout)
        assert f"create webhook {backend}/webhook (annotation events, with the secret header)" in (
            made.stderr
        )
        briefs = tmp_path / "briefs.jsonl"
        briefs.write_text(json.dumps({"client": CLIENT, "brief": "Invite Ada to a demo."}) + "\n")
        redraft("import", str(briefs), "--project", str(project_id))
        redraft("prefill", "--project", str(project_id))
        # The writer submits: stored exactly as the labeling screen stores it.
        simulated = redraft("simulate", "--project", str(project_id), "--limit", "1")
        assert "annotated 1 task (simulated writers)" in simulated.stderr, simulated.stderr
        log = webhook_log(backend)
        (task,) = ls_client.tasks.list(project=project_id, fields="all")
        annotation_id = task.annotations[0]["id"]
        assert (log["counts"], log["last_annotation_ids"]) == (
            {"ANNOTATION_CREATED": 1},
            [annotation_id],
        )
        # Ours carries the secret serve and init share; Label Studio's own carries nothing.
        hooks = [h.model_dump() for h in ls_client.webhooks.list(project=str(project_id))]
        secret = secret_path(ls_settings.home).read_text().strip()
        ours = [h for h in hooks if (h["headers"] or {}).get(WEBHOOK_SECRET_HEADER) == secret]
        assert [h["url"] for h in ours] == [f"{backend}/webhook"]
        assert oct(secret_path(ls_settings.home).stat().st_mode & 0o777) == "0o600"
        again = redraft("init", "--title", "hooks arrive", "--backend-url", backend)
        assert "create webhook" not in again.stderr
        assert len(ls_client.webhooks.list(project=str(project_id))) == len(hooks)
    finally:
        _, stderr = interrupt(serve, timeout=30)
    # Auto mode is off: Label Studio's own header-less webhook is refused without a warning.
    assert "webhook refused" not in stderr
    assert secret not in stderr
