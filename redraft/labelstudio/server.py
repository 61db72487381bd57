"""Run a real Label Studio server on loopback: find it, initialise a data dir once, start, stop.

Used by `redraft demo`, the end-to-end tests and the benchmarks. A fresh data directory needs
~30-45 s of migrations, so `ensure_template` initialises one per Label Studio version and every
later start copies it (`prepare_data_dir`) and is up in seconds.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from redraft.errors import LabelStudioError
from redraft.labelstudio.login import Login, save_login

logger = logging.getLogger(__name__)

BIN_ENV = "REDRAFT_LABEL_STUDIO_BIN"
TEMPLATE_MARKER = "redraft-template.ok"
# Bumped when what a template holds changes (2: a generated login stored in LOGIN_FILE).
TEMPLATE_LAYOUT = 2

# Environment Label Studio needs so that it accepts a local ML backend and legacy tokens.
SERVER_ENV = {
    "ML_BLOCK_LOCAL_IP": "false",
    "SSRF_PROTECTION_ENABLED": "false",
    "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
}
# Label Studio reads these (also without a LABEL_STUDIO_ prefix); a stray one in the caller's
# environment would change which user, port or database it uses, so they are never passed on.
_LS_READS = {
    "USERNAME",
    "PASSWORD",
    "USER_TOKEN",
    "HOST",
    "PORT",
    "DATABASE_NAME",
    "BASE_DATA_DIR",
    "DJANGO_DB",
    "DEBUG",
    "LOG_LEVEL",
    "DISABLE_SIGNUP_WITHOUT_LINK",
}


def find_binary(named: Path | None = None, default: Path | None = None) -> Path:
    """The `label-studio` executable: `named` (REDRAFT_LABEL_STUDIO_BIN), else `default`, PATH."""
    if named is not None:
        path = named.expanduser()
        if not path.is_file():
            raise LabelStudioError(
                f"{BIN_ENV}={named} does not exist — run ./dev setup, or point it at a "
                "label-studio executable"
            )
        return path
    if default is not None and default.is_file():
        return default
    found = shutil.which("label-studio")
    if found:
        return Path(found)
    raise LabelStudioError(
        "label-studio is not installed — run ./dev setup (it installs Label Studio into "
        f".cache/ls-venv), or pip install label-studio and set {BIN_ENV}"
    )


def binary_version(binary: Path) -> str:
    """The installed Label Studio version, read from its virtualenv without starting Django."""
    venv = binary.resolve().parent.parent
    for dist in sorted(venv.glob("lib/python*/site-packages/label_studio-*.dist-info")):
        return dist.name.removeprefix("label_studio-").removesuffix(".dist-info")
    return "unknown"


def server_env(
    data_dir: Path,
    base: Mapping[str, str] | None = None,
    database: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment a Label Studio process runs with: caller's env, cleaned, plus ours, plus
    the database to use (`postgres_env`; default: SQLite in data_dir)."""
    base = os.environ if base is None else base
    env = {
        key: value
        for key, value in base.items()
        if not key.startswith(("LABEL_STUDIO_", "HEARTEX_", "POSTGRE_")) and key not in _LS_READS
    }
    env.update(SERVER_ENV)
    env["LABEL_STUDIO_BASE_DATA_DIR"] = str(data_dir)
    env.update(database or {})
    return env


def postgres_env(host: str, port: int, name: str, user: str, password: str = "") -> dict[str, str]:
    """What makes Label Studio keep its data in a PostgreSQL database instead of SQLite.

    >>> postgres_env("127.0.0.1", 5432, "labelstudio", "ls")["DJANGO_DB"]
    'default'
    """
    return {
        "DJANGO_DB": "default",  # Label Studio's name for its PostgreSQL settings
        "POSTGRE_HOST": host,
        "POSTGRE_PORT": str(port),
        "POSTGRE_NAME": name,
        "POSTGRE_USER": user,
        "POSTGRE_PASSWORD": password,
    }


def init_data_dir(
    binary: Path,
    data_dir: Path,
    login: Login,
    timeout: float = 600,
    database: Mapping[str, str] | None = None,
) -> None:
    """Create and migrate a Label Studio data dir with the admin user and legacy token.

    The password and token go to `label-studio init` through its environment, not its argv
    (which `ps` shows to every user), and are stored in data_dir/LOGIN_FILE (mode 0600).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    save_login(data_dir, login)
    command = [str(binary), "init", "--quiet", "--no-browser", "--enable-legacy-api-token"]
    env = server_env(data_dir, database=database) | {
        "LABEL_STUDIO_USERNAME": login.username,
        "LABEL_STUDIO_PASSWORD": login.password,
        "LABEL_STUDIO_USER_TOKEN": login.token,
    }
    logger.debug("initialising Label Studio data in %s (one-time, about a minute)", data_dir)
    log_path = data_dir / "init.log"
    with log_path.open("w") as log:
        try:
            done = subprocess.run(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise LabelStudioError(
                f"label-studio init did not finish within {timeout:g}s — see {log_path}"
            ) from None
    if done.returncode != 0:
        raise LabelStudioError(
            f"label-studio init failed (exit {done.returncode}): {_tail(log_path)} — see {log_path}"
        )
    (data_dir / TEMPLATE_MARKER).write_text(login.username + "\n")


def ensure_template(binary: Path, cache_dir: Path) -> Path:
    """An initialised data dir for this Label Studio version under cache_dir, made once.

    Its login (generated when it is made) is in LOGIN_FILE: read it with `load_login`.
    """
    login = Login.generate()
    target = cache_dir / f"ls-template-{binary_version(binary)}-{TEMPLATE_LAYOUT}"
    if (target / TEMPLATE_MARKER).is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".ls-template-", dir=cache_dir))
    try:
        init_data_dir(binary, staging / "data", login)
        try:
            (staging / "data").rename(target)
        except OSError:
            # Another session finished first; its template is as good as ours.
            if not (target / TEMPLATE_MARKER).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def prepare_data_dir(template: Path, data_dir: Path) -> Path:
    """Copy an initialised template to data_dir (which must not exist yet)."""
    shutil.copytree(template, data_dir)
    return data_dir


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on host that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((host, port)) == 0


class LabelStudioServer:
    """One `label-studio start` process on loopback, in its own process group."""

    def __init__(
        self,
        binary: Path,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: Path | None = None,
        database: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.database = dict(database or {})
        # More environment, e.g. REQUESTS_CA_BUNDLE: the CA that signed an ML backend's TLS proxy.
        self.env = dict(env or {})
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path or data_dir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 180) -> LabelStudioServer:
        """Start the server and wait until /health answers; raise with the log's tail if not."""
        command = [
            str(self.binary),
            "start",
            "--no-browser",
            "--internal-host",
            self.host,
            "--port",
            str(self.port),
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                env=server_env(self.data_dir, database=self.database) | self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        logger.info("starting Label Studio at %s (data: %s)", self.url, self.data_dir)
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise LabelStudioError(
                    f"label-studio exited with code {self._process.returncode} while starting: "
                    f"{_tail(self.log_path)} — see {self.log_path}"
                )
            try:
                response = requests.get(f"{self.url}/health", timeout=2)
                if response.ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise LabelStudioError(
            f"Label Studio did not answer {self.url}/health within {timeout:g}s — "
            f"see {self.log_path}"
        )

    def stop(self, grace: float = 10) -> None:
        """Stop the server's whole process group: SIGTERM, then SIGKILL after `grace` seconds."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=grace)
        except ProcessLookupError:
            pass

    def __enter__(self) -> LabelStudioServer:
        return self.start() if self._process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
