"""Settings ranges, and bad flags or settings failing with one clear line through the CLI."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from redraft.cli.main import cli
from redraft.errors import ConfigError
from redraft.settings import Settings


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("REDRAFT_PORT", "70000", "70000 must be between 1 and 65535 — set it to e.g. 9090"),
        ("REDRAFT_PORT", "0", "0 must be between 1 and 65535 — set it to e.g. 9090"),
        ("REDRAFT_THREADS", "0", "0 must be at least 1 — set it to e.g. 32"),
        ("REDRAFT_TEMPERATURE", "5", "5.0 must be between 0 and 2 — set it to e.g. 0.7"),
        ("REDRAFT_TEMPERATURE", "-0.1", "-0.1 must be between 0 and 2 — set it to e.g. 0.7"),
        ("REDRAFT_MAX_TOKENS", "0", "0 must be at least 1 — set it to e.g. 600"),
        ("REDRAFT_REQUEST_TIMEOUT", "0", "0.0 must be > 0 — set it to e.g. 25"),
        ("REDRAFT_MAX_RETRIES", "-1", "-1 must be 0 or more — set it to e.g. 2"),
        ("REDRAFT_MAX_CONCURRENCY", "0", "0 must be at least 1 — set it to e.g. 16"),
        ("REDRAFT_PREDICT_DEADLINE", "-5", "-5.0 must be > 0 — set it to e.g. 80"),
    ],
)
def test_out_of_range_setting_names_the_variable_and_the_fix(
    name: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert str(caught.value) == f"{name}={says}"


def test_edges_of_each_range_are_accepted() -> None:
    settings = Settings.from_env(
        {
            "REDRAFT_PORT": "65535",
            "REDRAFT_THREADS": "1",
            "REDRAFT_TEMPERATURE": "2",
            "REDRAFT_MAX_TOKENS": "1",
            "REDRAFT_MAX_RETRIES": "0",
            "REDRAFT_PREDICT_DEADLINE": "0.5",
        }
    )
    assert (settings.port, settings.threads, settings.temperature) == (65535, 1, 2.0)
    assert (settings.max_tokens, settings.max_retries, settings.predict_deadline) == (1, 0, 0.5)
    assert Settings().with_overrides(temperature=0.0).temperature == 0.0


def test_the_request_timeout_is_learned_unless_set_and_the_deadline_fits_label_studio() -> None:
    s = Settings()
    assert s.request_timeout is None  # each endpoint's pace learns it (backend/pacing.py)
    assert s.predict_deadline < 100  # /predict answers before Label Studio gives up
    assert Settings.from_env({"REDRAFT_REQUEST_TIMEOUT": "40"}).request_timeout == 40.0


def run(args: list[str], **env: str) -> tuple[int, str, str]:
    """Invoke the real `redraft` group with a clean redraft environment."""
    clean = {k: None for k in os.environ if k.startswith(("REDRAFT_", "OPENAI_"))}
    result = CliRunner().invoke(cli, args, env={**clean, **env})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("command", "option", "value", "shown", "allowed"),
    [
        ("serve", "--port", "70000", "70000", "1<=x<=65535"),
        ("serve", "--port", "0", "0", "1<=x<=65535"),
        ("serve", "--threads", "0", "0", "x>=1"),
        ("serve", "--max-concurrency", "0", "0", "x>=1"),
        ("serve", "--deadline", "0", "0.0", "x>0"),
        ("standin", "--port", "99999", "99999", "0<=x<=65535"),
        ("standin", "--fault-times", "-1", "-1", "x>=0"),
        ("standin", "--latency-ms", "-5", "-5", "x>=0"),
        ("standin", "--hang-seconds", "-1", "-1.0", "x>=0"),
        ("prefill", "--limit", "-1", "-1", "x>=1"),
        ("prefill", "--concurrency", "0", "0", "x>=1"),
        ("judge", "--limit", "0", "0", "x>=1"),
    ],
)
def test_bad_flag_fails_with_one_clear_line(
    command: str, option: str, value: str, shown: str, allowed: str
) -> None:
    code, stdout, stderr = run([command, option, value])
    assert (code, stdout) == (2, "")
    assert stderr.splitlines()[-1] == (
        f"Error: Invalid value for '{option}': {shown} is not in the range {allowed}."
    )
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("REDRAFT_TEMPERATURE", "5", "5.0 must be between 0 and 2 — set it to e.g. 0.7"),
        ("REDRAFT_PORT", "70000", "70000 must be between 1 and 65535 — set it to e.g. 9090"),
        ("REDRAFT_THREADS", "0", "0 must be at least 1 — set it to e.g. 32"),
    ],
)
def test_bad_setting_stops_serve_before_it_starts(name: str, value: str, says: str) -> None:
    code, stdout, stderr = run(["serve"], OPENAI_API_KEY="sk-test", **{name: value})
    assert (code, stdout, stderr) == (1, "", f"error: {name}={says}\n")
