"""`redraft demo`: Label Studio + the ML backend (+ the stand-in model) on this machine.

Everything runs on 127.0.0.1 and lives in the demo's own home, REDRAFT_HOME/demo: Label
Studio's SQLite data in `labelstudio/`, the draft cache, the registry, exports — so the demo
never touches a real project's registry or exports (only the local model files are shared).
Ctrl-C stops what the demo started; `--reset` starts it over.
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
from urllib import error, request

import click

from redraft.backend.versions import ModelSource, SettingsModelSource
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
DEMO_HOME = "demo"  # under REDRAFT_HOME
DEFAULT_BIN = Path(".cache/ls-venv/bin/label-studio")
LOCAL_MAX_TOKENS = 320  # an outreach email is 100-200 words; a small model may ramble past
ENV_FILE = "demo.env"  # mode 0600, rewritten on each start: `source` it in another shell


def sample_path(name: str) -> Path:
    """A file shipped in redraft.samples, as a filesystem path."""
    return Path(str(resources.files("redraft.samples").joinpath(name)))


def needs_own_model(env_settings: Settings) -> bool:
    """True when neither OPENAI_API_KEY nor OPENAI_BASE_URL is set: the demo brings a model."""
    return not env_settings.openai_api_key and not env_settings.openai_base_url


def demo_settings(settings: Settings) -> Settings:
    """The demo's settings: its own home under REDRAFT_HOME, the local model files shared.

    >>> demo = demo_settings(Settings(home=Path("/h")))
    >>> demo.home, demo.models_dir, demo_settings(demo).home
    (PosixPath('/h/demo'), PosixPath('/h/models'), PosixPath('/h/demo'))
    """
    if settings.home.name == DEMO_HOME and settings.models_home is not None:
        return settings  # already the demo's (a second shell that sourced demo.env)
    return settings.with_overrides(home=settings.home / DEMO_HOME, models_home=settings.models_dir)


def reset_demo(settings: Settings) -> Path:
    """Remove everything the demo keeps (Label Studio data, registry, cache, exports, adapters);
    the shared local model files stay. Returns the folder removed."""
    home = demo_settings(settings).home
    if home.exists():
        shutil.rmtree(home)
    return home


def run_demo(
    settings: Settings,
    *,
    ls_port: int = 8080,
    backend_port: int = 9090,
    reset: bool = False,
    wait: Callable[[], None] | None = None,
    model_kind: str = "local",
    annotate: int = 0,
) -> None:
    """Start everything, set up and prefill the demo project, print the login, then wait."""
    binary = find_binary(settings.label_studio_bin, default=DEFAULT_BIN.resolve())
    if reset:
        say(f"reset: removed the demo's data in {reset_demo(settings)}")
    settings = demo_settings(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.home.chmod(0o700)
    data_dir = settings.home / "labelstudio"
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
        source = _model_source(settings)
        backend_url = _start_backend(settings, backend_port, stack, source)
        project_id = _setup_project(settings, server.url, login, backend_url, source)
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
    ... # doctest: +ELLIPSIS
    # written by `redraft demo`; load it with: source <this file>
    export REDRAFT_HOME=/h
    export LABEL_STUDIO_URL=http://127.0.0.1:8080
    export LABEL_STUDIO_API_KEY=tok
    export REDRAFT_TEMPLATE=/t.toml
    export OPENAI_BASE_URL=http://127.0.0.1:5/v1
    export PATH=...:"$PATH"
    >>> demo_env(s, "http://127.0.0.1:8080", "tok", own_model=True).splitlines()[6:8]
    ['export OPENAI_API_KEY=sk-standin-demo', 'export REDRAFT_MODEL=gpt-4o-mini']
    """
    values = {
        "REDRAFT_HOME": str(settings.home),
        "REDRAFT_MODELS_DIR": str(settings.models_home or ""),
        "LABEL_STUDIO_URL": url,
        "LABEL_STUDIO_API_KEY": token,
        "REDRAFT_TEMPLATE": str(settings.template_path or ""),
        "OPENAI_BASE_URL": settings.openai_base_url or "",
    }
    if own_model:  # the demo's own model; its key is not a secret (a real one is never written)
        values |= {
            "OPENAI_API_KEY": settings.openai_api_key or "",
            "REDRAFT_MODEL": settings.model,
            "REDRAFT_MODEL_VERSION": settings.model_version or "",
            "REDRAFT_MAX_TOKENS": str(settings.max_tokens),
        }
    lines = [f"export {k}={shlex.quote(v)}" for k, v in values.items() if v]
    # `redraft` itself, from the environment the demo runs in (a checkout's .venv/bin).
    lines.append(f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"')
    return "\n".join(["# written by `redraft demo`; load it with: source <this file>", *lines, ""])


def _model_source(settings: Settings) -> ModelSource:
    """The registry's versions, unless the active one's stored endpoint does not answer (a
    stand-in port of an earlier run, a stopped vLLM): then this run drafts with the base model,
    and says which command fixes it for good."""
    from redraft.loop.backend import model_source_for
    from redraft.training.registry import open_registry

    source = model_source_for(settings)
    active = open_registry(settings).active()
    if active is None or not active.base_url or active.base_url == settings.openai_base_url:
        return source
    if endpoint_answers(active.base_url):
        return source
    say(
        f"the active version {active.name} is served at {active.base_url}, which does not "
        f"answer — this run drafts with the base model {settings.model}. To fix it: serve it "
        f"again and `redraft models promote {active.name} --base-url URL`, or `redraft models "
        "rollback`, or start over with `redraft demo --reset`"
    )
    return SettingsModelSource(settings)


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
    from redraft.local.address import remove_record, write_record
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
        write_record(settings.home, url)
        stack.callback(remove_record, settings.home)
        say(f"local model server ({server.engine.name}) on {url}: {', '.join(server.model_ids)}")
    # Concurrency and timeouts need no setting: drafting learns them from the server.
    return settings.with_overrides(
        openai_base_url=url,
        openai_api_key="local",
        model=base.model_id,
        model_version=settings.model_version or base.model_id,
        max_tokens=min(settings.max_tokens, LOCAL_MAX_TOKENS),
    )


def _annotate(settings: Settings, url: str, login: Login, project_id: int, limit: int) -> None:
    from redraft.simulate.annotate import simulate_project
    from redraft.simulate.rules import load_rules

    with session(url, login.token) as client:
        summary = simulate_project(client, project_id, load_rules(), limit=limit)
    say(summary.line())


def endpoint_answers(base_url: str, timeout: float = 3.0) -> bool:
    """Whether anything answers HTTP at an OpenAI-compatible URL (a 401 counts: it is there).

    >>> endpoint_answers("http://127.0.0.1:9/v1", timeout=0.5)
    False
    """
    try:
        with request.urlopen(f"{base_url.rstrip('/')}/models", timeout=timeout):
            return True
    except error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def _start_backend(settings: Settings, port: int, stack: ExitStack, source: ModelSource) -> str:
    from redraft.backend.server import BackgroundServer
    from redraft.loop.backend import compose_backend
    from redraft.webhook import with_webhook_secret

    app = compose_backend(with_webhook_secret(settings), source)
    backend = BackgroundServer(app, port=_free_or_fail(port, "--backend-port"), threads=16)
    stack.enter_context(backend)
    say(f"ML backend on {backend.url}")
    return backend.url


def _setup_project(
    settings: Settings, url: str, login: Login, backend_url: str, source: ModelSource
) -> int:
    from redraft.backend.drafting import Drafter
    from redraft.labelstudio.importer import check_file, import_briefs
    from redraft.labelstudio.prefill import prefill
    from redraft.labelstudio.project import ProjectSpec, init_project
    from redraft.labelstudio.webhooks import sync_webhook, webhook_spec

    active = source.active()
    spec = ProjectSpec(DEMO_TITLE, read_label_config(), active.name, backend_url=backend_url)
    with session(url, login.token) as client:
        plan = init_project(client, spec)
        assert plan.project_id is not None
        hook = webhook_spec(settings, backend_url)
        for line in plan.describe(spec) + sync_webhook(client, plan.project_id, hook):
            say(line)
        briefs = sample_path("demo_briefs.jsonl")
        parsed = check_file(client, plan.project_id, briefs)
        if parsed.rows:
            summary = import_briefs(client, plan.project_id, parsed, path=briefs, skip_invalid=True)
            say(summary.line(plan.project_id))
        drafter = Drafter.from_settings(settings)
        try:
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
