"""The backend behind a real nginx, as deploy/ ships it: TLS with a self-signed certificate,
the basic auth Label Studio sends, REDRAFT_MAX_BODY_MB as the body limit; Label Studio, trusting
the certificate through REQUESTS_CA_BUNDLE, connects and retrieves drafts through it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import pytest
import requests

from redraft.label_config import read_label_config
from redraft.labelstudio.client import session
from redraft.labelstudio.login import load_login
from redraft.labelstudio.server import (
    LabelStudioServer,
    ensure_template,
    free_port,
    prepare_data_dir,
)
from redraft.settings import Settings
from tests.fixtures.labelstudio import CACHE, ls_binary, retrieve, task_predictions

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "redraft.conf.template"
USER, PASSWORD = "ls", "pw-proxy"
MAX_BODY_MB = 1


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )


def openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def render(values: dict[str, str]) -> str:
    """The shipped template with this host's values, as `envsubst` renders it."""
    text = Template(TEMPLATE.read_text()).safe_substitute(values)
    assert "${" not in text, "a template variable was left unset"
    return text


@dataclass(frozen=True)
class Proxy:
    url: str
    cert: Path


def wait_for_port(port: int, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, f"nginx exited: {log.read_text()[-2000:]}"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nginx did not listen: {log.read_text()[-2000:]}")


@pytest.fixture
def proxy_for(tmp_path: Path) -> Iterator[Any]:
    """Factory: nginx, from deploy/'s template, in front of a backend URL; stopped afterwards."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed: `apt-get install -y nginx` (./dev test does, as root)")
    started: list[subprocess.Popen[str]] = []

    def start(backend_url: str) -> Proxy:
        prefix = tmp_path / "nginx"
        prefix.mkdir()
        cert, key = prefix / "redraft.crt", prefix / "redraft.key"
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", str(key), "-out", str(cert))  # fmt: skip
        hashed = openssl("passwd", "-apr1", PASSWORD).strip()
        (prefix / "htpasswd").write_text(f"{USER}:{hashed}\n")
        port = free_port()
        site = render(
            {
                "LISTEN": f"127.0.0.1:{port}",
                "SERVER_NAME": "127.0.0.1",
                "TLS_CERT": str(cert),
                "TLS_KEY": str(key),
                "HTPASSWD": str(prefix / "htpasswd"),
                "BACKEND": backend_url.removeprefix("http://"),
                "MAX_BODY_MB": str(MAX_BODY_MB),
            }
        )
        (prefix / "redraft.conf").write_text(site)
        temp = "".join(
            f"{kind}_temp_path {prefix / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\n"
            f"error_log {prefix / 'error.log'};\nevents {{}}\n"
            f"http {{\naccess_log {prefix / 'access.log'};\n{temp}"
            f"include {prefix / 'redraft.conf'};\n}}\n"
        )
        with (prefix / "stderr.log").open("w") as errors:
            process = subprocess.Popen(
                [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=errors,
                text=True,
            )
        started.append(process)
        wait_for_port(port, process, prefix / "stderr.log")
        return Proxy(f"https://127.0.0.1:{port}", cert)

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def test_label_studio_drafts_through_nginx_with_tls_and_basic_auth(
    settings: Settings, standin: Any, backend_server: Any, proxy_for: Any, tmp_path: Path
) -> None:
    settings = settings.with_overrides(
        openai_base_url=standin.base_url, model_version="proxied-v1", max_body_mb=MAX_BODY_MB
    )
    backend = backend_server(settings)  # loopback only: nginx checks TLS and basic auth
    proxy = proxy_for(backend.url)

    # The proxy as any client sees it: TLS with its certificate, basic auth, the body limit.
    assert requests.get(f"{proxy.url}/health", verify=str(proxy.cert), timeout=10).status_code == (
        401
    )
    health = requests.get(
        f"{proxy.url}/health", verify=str(proxy.cert), auth=(USER, PASSWORD), timeout=10
    )
    assert (health.status_code, health.json()["status"]) == (200, "UP")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{proxy.url}/health", auth=(USER, PASSWORD), timeout=10)
    large = b"x" * (MAX_BODY_MB * 1024 * 1024 + 1)
    refused = requests.post(
        f"{proxy.url}/predict", data=large, verify=str(proxy.cert), auth=(USER, PASSWORD),
        headers={"Content-Type": "application/json"}, timeout=30,
    )  # fmt: skip
    assert refused.status_code == 413

    # Label Studio trusts the self-signed certificate through REQUESTS_CA_BUNDLE.
    binary = ls_binary()
    data_dir = prepare_data_dir(ensure_template(binary, CACHE), tmp_path / "ls-data")
    login = load_login(data_dir)
    trust = {"REQUESTS_CA_BUNDLE": str(proxy.cert)}
    with LabelStudioServer(binary, data_dir, env=trust).start() as label_studio:
        with session(label_studio.url, login.token) as client:
            project = client.projects.create(title="proxied", label_config=read_label_config())
            client.ml.create(
                project=project.id,
                url=proxy.url,
                title="redraft behind nginx",
                auth_method="BASIC_AUTH",
                basic_auth_user=USER,
                basic_auth_pass=PASSWORD,
            )
            briefs = [{"external_id": f"P-{i}", "brief": f"Invite clinic {i}."} for i in (1, 2, 3)]
            client.projects.import_tasks(project.id, request=briefs)
            ids = [t.id for t in client.tasks.list(project=project.id)]
            retrieve(client, project.id, ids)
            drafted = task_predictions(client, project.id)
            assert drafted == {"P-1": ["proxied-v1"], "P-2": ["proxied-v1"], "P-3": ["proxied-v1"]}
    log = (tmp_path / "nginx" / "access.log").read_text()
    assert '"POST /predict HTTP/1.1" 200' in log
