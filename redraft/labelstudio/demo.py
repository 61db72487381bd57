"""`redraft demo`: Label Studio + the ML backend (+ the stand-in model) on this machine.

Everything runs on 127.0.0.1 and lives under REDRAFT_HOME: Label Studio's SQLite data in
`labelstudio/`, the draft cache, the registry. Ctrl-C stops what the demo started.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import Any

import click

from redraft.errors import LabelStudioError
from redraft.label_config import read_label_config
from redraft.labelstudio.client import session
from redraft.labelstudio.login import LOGIN_FILE, Login, load_login, write_private
from redraft.labelstudio.server import (
    TEMPLATE_MARKER,
    LabelStudioServer,
    find_binary,
    init_data_dir,
    port_in_use,
)
from redraft.settings import Settings

logger = logging.getLogger(__name__)

DEMO_TITLE = "redraft demo"
DEFAULT_BIN = Path(".cache/ls-venv/bin/label-studio")
LOCAL_MAX_TOKENS = 320  # an outreach email is 100-200 words; a small model may ramble past
ENV_FILE = "demo.env"  # mode 0600, rewritten on each start: `source` it in another shell


def sample_path(name: str) -> Path:
    """A file shipped in redraft.samples, as a filesystem path."""
    return Path(str(resources.files("redraft.samples").joinpath(name)))


def needs_own_model(env_settings: Settings) -> bool:
    """True when neither OPENAI_API_KEY nor OPENAI_BASE_URL is set: the demo brings a model."""
    return not env_settings.openai_api_key and not env_settings.openai_base_url


def run_demo(
    settings: Settings,
    *,
    ls_port: int = 8080,
    backend_port: int = 9090,
    fresh: bool = False,
    wait: Callable[[], None] | None = None,
    model_kind: str = "local",
    annotate: int = 0,
) -> None:
    """Start everything, set up and prefill the demo project, print the login, then wait."""
    binary = find_binary(settings.label_studio_bin, default=DEFAULT_BIN.resolve())
    data_dir = settings.home / "labelstudio"
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    if not (data_dir / TEMPLATE_MARKER).is_file():
        say(f"initialising Label Studio in {data_dir} (first run only, about a minute)…")
        init_data_dir(binary, data_dir, Login.generate())
    login = load_login(data_dir)
    env_settings = settings
    with ExitStack() as stack:
        settings = _start_model(settings, stack, model_kind)
        if settings.template_path is None:
            settings = settings.with_overrides(template_path=sample_path("demo_template.toml"))
        say(f"starting Label Studio on http://127.0.0.1:{ls_port} …")
        server = LabelStudioServer(binary, data_dir, port=_free_or_fail(ls_port, "--port"))
        stack.enter_context(server.start())
        backend_url = _start_backend(settings, backend_port, stack)
        project_id = _setup_project(settings, server.url, login, backend_url)
        if annotate:
            _annotate(settings, server.url, login, project_id, annotate)
        env_file = data_dir / ENV_FILE
        write_private(
            env_file, demo_env(settings, server.url, login.token, needs_own_model(env_settings))
        )
        say("")
        say(f"Label Studio: {server.url}/projects/{project_id}/data")
        say(f"login:        {login.username}  /  {login.password}")
        say(f"ML backend:   {backend_url}")
        say(f"(login and API token are stored in {data_dir / LOGIN_FILE}, readable by you only)")
        say("redraft commands in another shell (export, train, prefill…) need this demo's setup")
        say(f"(its URL, API token and prompt template): source {shlex.quote(str(env_file))}")
        say("open a task: the draft is filled in — rate it, tick issues, edit the final email.")
        say("Ctrl-C stops everything the demo started.")
        (wait or wait_for_interrupt)()
    say("demo stopped")


def demo_env(settings: Settings, url: str, token: str, own_model: bool) -> str:
    """The shell lines that point redraft commands in another shell at the running demo.

    The demo overrides settings in its own process (template, stand-in model and version); a
    second shell must use the same ones, or its prompts and version names would differ. The
    text holds the API token: it is written to a 0600 file, never printed.

    >>> s = Settings(home=Path("/h"), template_path=Path("/t.toml"), model_version="d",
    ...              openai_base_url="http://127.0.0.1:5/v1", openai_api_key="sk-standin-demo")
    >>> print(demo_env(s, "http://127.0.0.1:8080", "tok", own_model=False), end="")
    # written by `redraft demo`; load it with: source <this file>
    export REDRAFT_HOME=/h
    export LABEL_STUDIO_URL=http://127.0.0.1:8080
    export LABEL_STUDIO_API_KEY=tok
    export REDRAFT_TEMPLATE=/t.toml
    >>> demo_env(s, "http://127.0.0.1:8080", "tok", own_model=True).splitlines()[5:8]
    ['export OPENAI_BASE_URL=http://127.0.0.1:5/v1', 'export OPENAI_API_KEY=sk-standin-demo', \
'export REDRAFT_MODEL=gpt-4o-mini']
    """
    values = {
        "REDRAFT_HOME": str(settings.home),
        "LABEL_STUDIO_URL": url,
        "LABEL_STUDIO_API_KEY": token,
        "REDRAFT_TEMPLATE": str(settings.template_path or ""),
    }
    if own_model:  # the demo's own model; its key is not a secret (a real one is never written)
        values |= {
            "OPENAI_BASE_URL": settings.openai_base_url or "",
            "OPENAI_API_KEY": settings.openai_api_key or "",
            "REDRAFT_MODEL": settings.model,
            "REDRAFT_MODEL_VERSION": settings.model_version or "",
            "REDRAFT_MAX_CONCURRENCY": str(settings.max_concurrency),
            "REDRAFT_REQUEST_TIMEOUT": f"{settings.request_timeout:g}",
            "REDRAFT_MAX_TOKENS": str(settings.max_tokens),
        }
    lines = [f"export {k}={shlex.quote(v)}" for k, v in values.items() if v]
    return "\n".join(["# written by `redraft demo`; load it with: source <this file>", *lines, ""])


def _start_model(settings: Settings, stack: ExitStack, model_kind: str) -> Settings:
    if not needs_own_model(settings):
        return settings
    if model_kind == "standin":
        from redraft.standin.server import StandinServer

        standin = StandinServer(None, port=0).start()
        stack.callback(standin.stop)
        say(f"drafting with the canned stand-in at {standin.base_url} (--drafts-from standin)")
        return settings.with_overrides(
            openai_base_url=standin.base_url,
            openai_api_key="sk-standin-demo",
            model_version=settings.model_version or "standin-demo",
        )
    return local_model_settings(settings, stack)


def local_model_settings(settings: Settings, stack: ExitStack) -> Settings:
    """Start `redraft local serve` in this process; settings that draft with its base model."""
    from redraft.local.catalog import listed_models, local_base, served_models
    from redraft.local.server import LocalServer

    base = local_base(settings)
    url = settings.local_url
    running = listed_models(url, timeout=2) if port_in_use(settings.local_port) else None
    if running is not None and base.model_id in running:
        say(f"using the local model server already running at {url}: {', '.join(running)}")
    else:
        if port_in_use(settings.local_port):
            raise LabelStudioError(
                f"port {settings.local_port} is in use by something that is not a redraft local "
                "server — stop it, or set REDRAFT_LOCAL_PORT to a free port"
            )
        say(f"no OPENAI_API_KEY / OPENAI_BASE_URL: starting the local model {base.model_id} …")
        server = LocalServer(
            lambda: served_models(settings),
            workdir=settings.home / "run",
            port=settings.local_port,
        ).start()
        stack.callback(server.stop)
        url = server.url
        say(f"local model server (llama-cpp-python) on {url}: {', '.join(server.model_ids)}")
    # One CPU drafts one email at a time: a deep queue would only time out in the client.
    return settings.with_overrides(
        openai_base_url=url,
        openai_api_key="local",
        model=base.model_id,
        model_version=settings.model_version or base.model_id,
        max_concurrency=min(settings.max_concurrency, 2),
        request_timeout=max(settings.request_timeout, 120.0),
        max_tokens=min(settings.max_tokens, LOCAL_MAX_TOKENS),
    )


def _annotate(settings: Settings, url: str, login: Login, project_id: int, limit: int) -> None:
    from redraft.simulate.annotate import simulate_project
    from redraft.simulate.rules import load_rules

    with session(url, login.token) as client:
        summary = simulate_project(client, project_id, load_rules(), limit=limit)
    say(summary.line())


def _start_backend(settings: Settings, port: int, stack: ExitStack) -> str:
    from redraft.backend.compose import compose_backend
    from redraft.backend.server import BackgroundServer

    app = compose_backend(settings)
    backend = BackgroundServer(app, port=_free_or_fail(port, "--backend-port"), threads=16)
    stack.enter_context(backend)
    say(f"ML backend on {backend.url}")
    return backend.url


def _setup_project(settings: Settings, url: str, login: Login, backend_url: str) -> int:
    from redraft.backend.compose import model_source_for
    from redraft.backend.drafting import Drafter
    from redraft.labelstudio.importer import check_file, import_briefs
    from redraft.labelstudio.prefill import prefill
    from redraft.labelstudio.project import ProjectSpec, init_project

    active = model_source_for(settings).active()
    spec = ProjectSpec(DEMO_TITLE, read_label_config(), active.name, backend_url=backend_url)
    with session(url, login.token) as client:
        plan = init_project(client, spec)
        assert plan.project_id is not None
        for line in plan.describe(spec):
            say(line)
        briefs = sample_path("demo_briefs.jsonl")
        parsed = check_file(client, plan.project_id, briefs)
        if parsed.rows:
            summary = import_briefs(client, plan.project_id, parsed, path=briefs, skip_invalid=True)
            say(summary.line(plan.project_id))
        drafter = Drafter.from_settings(settings)
        try:
            source = model_source_for(settings)
            result = prefill(client, plan.project_id, drafter, source.active(plan.project_id))
        finally:
            drafter.close()
        say(result.line())
    return plan.project_id


def _free_or_fail(port: int, option: str) -> int:
    if port_in_use(port):
        raise LabelStudioError(
            f"port {port} is already in use — stop what runs there, or pass {option} PORT"
        )
    return port


def wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()

    def handler(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def say(line: str) -> None:
    """Print a progress line to stderr."""
    click.echo(line, err=True)
    sys.stderr.flush()
