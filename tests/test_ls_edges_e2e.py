"""Edges of init/import/prefill against the real Label Studio: failures, dry runs, rollback,
basic auth set up by `redraft init`, and what opening a task does after a promotion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from label_studio_sdk import LabelStudio

from redraft.errors import LabelStudioError
from redraft.labelstudio.briefs import BriefRow, validate_records
from redraft.labelstudio.importer import (
    ImportProgress,
    check_file,
    import_briefs,
    project_task_count,
)
from redraft.settings import Settings
from redraft.standin.server import FaultRule, StandinServer
from redraft.training.source import RegistryModelSource
from tests.fixtures.labelstudio import (
    LabelStudioInstance,
    briefs,
    retrieve,
    run_cli,
    task_predictions,
    write_jsonl,
)

pytestmark = pytest.mark.e2e

VERSION = "writer-edges"


@pytest.fixture
def edge_settings(ls_settings: Settings, standin: StandinServer) -> Settings:
    return ls_settings.with_overrides(
        openai_base_url=standin.base_url, model="gpt-4o-mini", model_version=VERSION
    )


def new_project(title: str, settings: Settings, *more: str) -> int:
    made = run_cli(["init", "--title", title, *more], settings)
    assert made.exit_code == 0, made.output
    return int(made.stdout.strip())


def task_count(client: LabelStudio, project_id: int) -> int:
    return len(list(client.tasks.list(project=project_id, fields="task_only")))


def test_prefill_lists_a_failed_task_exits_1_and_a_rerun_drafts_only_it(
    ls_client: LabelStudio, edge_settings: Settings, standin: StandinServer, tmp_path: Path
) -> None:
    project_id = new_project("edges prefill fail", edge_settings, "--no-backend")
    rows = briefs(4, "F")
    rows[2]["brief"] += " POISON"
    source = write_jsonl(tmp_path / "briefs.jsonl", rows)
    assert (
        run_cli(["import", str(source), "--project", str(project_id)], edge_settings).exit_code == 0
    )
    ids = {t.data["external_id"]: t.id for t in ls_client.tasks.list(project=project_id)}
    no_retries = {"REDRAFT_MAX_RETRIES": "0"}

    standin.add_fault(FaultRule("500", "POISON"))
    failed = run_cli(["prefill", "--project", str(project_id)], edge_settings, no_retries)
    assert failed.exit_code == 1
    assert failed.stderr.splitlines()[-2:] == [
        f"task {ids['F-3']}: model server error (HTTP 500)",
        f"prefilled 3 of 4 tasks with {VERSION!r} (0 from cache); 0 already had a draft; "
        "1 failed (re-run to retry them)",
    ]
    expected = {f"F-{i}": [VERSION] for i in (1, 2, 4)} | {"F-3": []}
    assert task_predictions(ls_client, project_id) == expected
    assert standin.request_count() == 4

    standin.clear_faults()
    again = run_cli(["prefill", "--project", str(project_id)], edge_settings, no_retries)
    assert again.exit_code == 0, again.output
    assert again.stderr.splitlines()[-1] == (
        f"prefilled 1 of 4 tasks with {VERSION!r} (0 from cache); 3 already had a draft"
    )
    assert task_predictions(ls_client, project_id) == {f"F-{i}": [VERSION] for i in range(1, 5)}
    assert standin.request_count() == 5


def test_import_dry_run_skip_invalid_and_prefill_dry_run(
    ls_client: LabelStudio, edge_settings: Settings, standin: StandinServer, tmp_path: Path
) -> None:
    project_id = new_project("edges import", edge_settings, "--no-backend")
    source = tmp_path / "briefs.csv"
    source.write_text(
        "Ref,Notes\nS-1,Offer a demo\nS-2,\nS-1,Ask for a call\nS-4,Invite to the webinar\n"
    )
    columns = ["--map", "Ref=external_id", "--map", "Notes=brief"]
    problems = (
        "  row 2: the brief is empty — every task needs a non-empty brief\n"
        "  row 3: external_id 'S-1' repeats row 1\n"
    )

    dry = run_cli(
        ["import", str(source), *columns, "--project", str(project_id), "--dry-run"], edge_settings
    )
    assert dry.exit_code == 1
    assert dry.stderr == (
        f"{source}: 2 invalid rows; nothing was imported:\n{problems}"
        "fix them, or pass --skip-invalid to import only the valid rows\n"
        "dry run: 2 valid rows, 2 invalid; nothing imported\n"
    )
    assert task_count(ls_client, project_id) == 0

    skipped = run_cli(
        ["import", str(source), *columns, "--project", str(project_id), "--skip-invalid"],
        edge_settings,
    )
    assert skipped.exit_code == 0, skipped.output
    assert skipped.stderr == (
        "skipped row 2: the brief is empty — every task needs a non-empty brief\n"
        "skipped row 3: external_id 'S-1' repeats row 1\n"
        f"imported 2 tasks into project {project_id}; skipped 2 invalid rows\n"
    )
    stored = sorted(
        (t.data["external_id"], t.data["brief"])
        for t in ls_client.tasks.list(project=project_id, fields="task_only")
    )
    assert stored == [("S-1", "Offer a demo"), ("S-4", "Invite to the webinar")]

    dry_prefill = run_cli(["prefill", "--project", str(project_id), "--dry-run"], edge_settings)
    assert dry_prefill.exit_code == 0, dry_prefill.output
    assert dry_prefill.stderr == f"dry run: 2 of 2 tasks lack a {VERSION!r} draft\n"
    assert task_predictions(ls_client, project_id) == {"S-1": [], "S-4": []}
    assert standin.request_count() == 0


def test_a_refused_later_batch_rolls_back_the_earlier_ones(
    ls_client: LabelStudio, edge_settings: Settings
) -> None:
    project_id = new_project("edges rollback", edge_settings, "--no-backend")
    # Valid for redraft (a non-empty brief), refused by Label Studio: it moves a `$undefined$`
    # field into the config's first object (`brief`), and a dict is no text.
    records: list[dict[str, Any]] = [{"brief": f"Offer a demo to clinic {i}."} for i in (1, 2, 3)]
    records.append({"brief": "Ask for a call.", "$undefined$": {"not": "text"}})
    parsed = validate_records(records)
    assert parsed.errors == []

    with pytest.raises(LabelStudioError) as refused:
        import_briefs(ls_client, project_id, parsed, path=Path("b.jsonl"), batch_size=2)
    message = str(refused.value)
    assert message.startswith("Label Studio refused rows 3-4 (HTTP 400: ")
    assert message.endswith("; rolled back the 2 tasks of earlier batches; nothing was imported")
    assert task_count(ls_client, project_id) == 0


def test_a_row_that_fails_late_for_any_reason_rolls_back_every_batch(
    ls_client: LabelStudio, edge_settings: Settings, tmp_path: Path
) -> None:
    """Not only a refusal: whatever fails mid-upload (here a value the HTTP client cannot
    encode, handed past the checks), the batches already in go again, and no record is left."""
    project_id = new_project("edges late failure", edge_settings, "--no-backend")
    parsed = validate_records([{"brief": f"Offer a demo to clinic {i}."} for i in range(1, 7)])
    late = BriefRow(7, {"brief": "Ask for a call.", "tags": ["crm", "\ud83d"]})
    parsed.rows.append(late)
    progress = ImportProgress(tmp_path / "imports" / "record.json")

    with pytest.raises(LabelStudioError) as failed:
        import_briefs(
            ls_client, project_id, parsed, path=Path("b.jsonl"), batch_size=2, progress=progress
        )
    assert str(failed.value) == (
        "importing rows 7 failed (UnicodeEncodeError: 'utf-8' codec can't encode character "
        "'\\ud83d' in position 51: surrogates not allowed); rolled back the 6 tasks of earlier "
        "batches; nothing was imported"
    )
    assert task_count(ls_client, project_id) == 0
    assert not progress.path.exists()


def test_the_reported_nested_surrogate_is_refused_before_anything_is_sent(
    ls_client: LabelStudio, edge_settings: Settings, tmp_path: Path
) -> None:
    """The report: 600 rows, a lone surrogate in a list inside a field of row 550."""
    project_id = new_project("edges nested", edge_settings, "--no-backend")
    rows: list[dict[str, Any]] = [{"brief": f"Offer a demo to clinic {i}."} for i in range(600)]
    rows[549]["tags"] = ["crm", "\ud83d"]
    source = tmp_path / "briefs.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))  # `\ud83d` as JSON spells it
    refused = run_cli(["import", str(source), "--project", str(project_id)], edge_settings)
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"error: {source}: 1 invalid row; nothing was imported:\n"
        "  row 550: `tags[1]` holds a lone surrogate (\\ud83d), not valid Unicode text\n"
        "fix them, or pass --skip-invalid to import only the valid rows\n"
    )
    assert task_count(ls_client, project_id) == 0


def test_init_sets_up_basic_auth_that_label_studio_uses_on_retrieve(
    ls_client: LabelStudio,
    edge_settings: Settings,
    standin: StandinServer,
    backend_server: Any,
    tmp_path: Path,
) -> None:
    auth = {"REDRAFT_BASIC_AUTH_USER": "ls", "REDRAFT_BASIC_AUTH_PASSWORD": "pw-edges"}
    backend = backend_server(
        edge_settings.with_overrides(basic_auth_user="ls", basic_auth_password="pw-edges")
    )
    assert requests.get(f"{backend.url}/setup", timeout=5).status_code == 401
    made = run_cli(
        ["init", "--title", "edges auth", "--backend-url", backend.url], edge_settings, auth
    )
    assert made.exit_code == 0, made.output
    project_id = int(made.stdout.strip())
    [ml] = ls_client.ml.list(project=project_id)
    assert (ml.auth_method, ml.basic_auth_user, ml.model_version) == ("BASIC_AUTH", "ls", VERSION)

    source = write_jsonl(tmp_path / "briefs.jsonl", briefs(3, "A"))
    assert (
        run_cli(["import", str(source), "--project", str(project_id)], edge_settings).exit_code == 0
    )
    retrieve(ls_client, project_id, [t.id for t in ls_client.tasks.list(project=project_id)])
    assert task_predictions(ls_client, project_id) == {f"A-{i}": [VERSION] for i in (1, 2, 3)}
    assert standin.request_count() == 3


def test_after_a_promotion_opening_a_task_with_an_older_draft(
    ls_client: LabelStudio,
    label_studio: LabelStudioInstance,
    edge_settings: Settings,
    standin: StandinServer,
    backend_server: Any,
    tmp_path: Path,
) -> None:
    """Which ways of opening a task draft it anew after promote."""
    backend = backend_server(edge_settings, model_source=RegistryModelSource(edge_settings))
    project_id = new_project("edges promote", edge_settings, "--backend-url", backend.url)
    source = write_jsonl(tmp_path / "briefs.jsonl", briefs(2, "O"))
    assert (
        run_cli(["import", str(source), "--project", str(project_id)], edge_settings).exit_code == 0
    )
    ids = {t.data["external_id"]: t.id for t in ls_client.tasks.list(project=project_id)}
    retrieve(ls_client, project_id, list(ids.values()))
    assert task_predictions(ls_client, project_id) == {"O-1": [VERSION], "O-2": [VERSION]}

    added = run_cli(["models", "add", "writer-b", "--model-id", "gpt-4.1-mini"], edge_settings)
    assert added.exit_code == 0, added.output
    promoted = run_cli(["models", "promote", "writer-b", "--force"], edge_settings)  # no export
    assert promoted.exit_code == 0, promoted.output
    assert standin.request_count() == 2

    # Data Manager / API: GET /api/tasks/<id> asks the backend only for a task with no
    # prediction at all, so the old draft stays and nothing is drafted.
    opened = ls_client.tasks.get(str(ids["O-2"])).model_dump()
    seen = sorted(p["model_version"] for p in opened["predictions"])
    assert (seen, standin.request_count()) == ([VERSION], 2)
    assert task_predictions(ls_client, project_id) == {"O-1": [VERSION], "O-2": [VERSION]}

    # The labeling stream (Label All Tasks → /next) asks the backend for the current version.
    answer = requests.get(
        f"{label_studio.url}/api/projects/{project_id}/next",
        headers={"Authorization": f"Token {label_studio.login.token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    shown = sorted(p["model_version"] for p in answer.json()["predictions"])
    assert (shown, standin.request_count()) == (["writer-b"], 3)


class DroppingProxy:
    """A loopback HTTP proxy to Label Studio that drops the connection on the Nth import
    request and then stops answering: Label Studio going away mid-import, for real."""

    def __init__(self, upstream: str, drop_on_import: int, *, deliver: bool = False) -> None:
        """`deliver`: Label Studio gets the dropped import and stores it; only its answer is
        lost (a timeout after the server did the work)."""
        import http.server
        import threading

        proxy = self
        self.imports = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "POST" and "/import" in self.path:
                    proxy.imports += 1
                    if proxy.imports >= drop_on_import:
                        if deliver and proxy.imports == drop_on_import:
                            sent = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                            requests.post(upstream + self.path, headers=sent, data=body, timeout=60)
                        self.close_connection = True
                        self.connection.close()  # no answer at all
                        return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.request(
                    self.command, upstream + self.path, headers=headers, data=body, timeout=60
                )
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("transfer-encoding", "connection", "content-encoding",
                                           "content-length"):  # fmt: skip
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_import_cut_off_by_label_studio_resumes_exactly(
    ls_client: LabelStudio, edge_settings: Settings, tmp_path: Path
) -> None:
    """No duplicates, nothing missing, whether or not the rows carry external ids."""
    project_id = new_project("edges resume", edge_settings, "--no-backend")
    rows = [{"brief": f"Offer a demo to clinic {i}."} for i in range(1, 1101)]  # no ids
    source = write_jsonl(tmp_path / "briefs.jsonl", rows)
    proxy = DroppingProxy(edge_settings.label_studio_url, drop_on_import=2)
    try:
        cut = run_cli(
            ["import", str(source), "--project", str(project_id)],
            edge_settings.with_overrides(label_studio_url=proxy.url),
        )
    finally:
        proxy.close()
    assert cut.exit_code == 1
    assert cut.stderr.splitlines()[-1] == (
        "error: Label Studio stopped answering after 500 of 1,100 rows (RemoteProtocolError); "
        "the imported rows are recorded — run the same command again to import the other 600, "
        "without duplicates"
    )
    assert task_count(ls_client, project_id) == 500

    resumed = run_cli(["import", str(source), "--project", str(project_id)], edge_settings)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stderr.splitlines() == [
        f"resuming an interrupted import: 500 rows of {source} are already in project {project_id}",
        f"imported 600 tasks into project {project_id}",
    ]
    briefs_stored = sorted(
        t.data["brief"] for t in ls_client.tasks.list(project=project_id, fields="task_only")
    )
    assert briefs_stored == sorted(r["brief"] for r in rows)
    again = run_cli(["import", str(source), "--project", str(project_id)], edge_settings)
    assert again.exit_code == 0  # a finished import leaves no record: this imports anew
    assert task_count(ls_client, project_id) == 2200


def test_project_left_out_among_several_names_them_and_asks_for_it(
    ls_client: LabelStudio, edge_settings: Settings
) -> None:
    new_project("edges which one A", edge_settings, "--no-backend")
    new_project("edges which one B", edge_settings, "--no-backend")
    projects = list(ls_client.projects.list())
    done = run_cli(["prefill", "--dry-run"], edge_settings)
    assert done.exit_code == 1
    assert done.stderr.startswith(f"error: Label Studio has {len(projects)} projects (")
    assert done.stderr.endswith(" — pass --project ID or TITLE\n")
    named = run_cli(["prefill", "--dry-run", "--project", "edges which one A"], edge_settings)
    assert named.exit_code == 0, named.output


def test_a_batch_that_landed_but_went_unanswered_is_not_imported_twice(
    ls_client: LabelStudio, edge_settings: Settings, tmp_path: Path
) -> None:
    """Label Studio stores the second batch, then the answer is lost: the re-run counts the
    project's tasks, knows the batch landed, and imports nothing twice."""
    project_id = new_project("edges landed", edge_settings, "--no-backend")
    rows = [{"brief": f"Offer a demo to clinic {i}."} for i in range(1, 601)]  # no ids
    source = write_jsonl(tmp_path / "briefs.jsonl", rows)
    proxy = DroppingProxy(edge_settings.label_studio_url, drop_on_import=2, deliver=True)
    try:
        cut = run_cli(
            ["import", str(source), "--project", str(project_id)],
            edge_settings.with_overrides(label_studio_url=proxy.url),
        )
    finally:
        proxy.close()
    assert cut.exit_code == 1
    assert cut.stderr.splitlines()[-1] == (
        "error: Label Studio stopped answering after 500 of 600 rows (RemoteProtocolError); "
        "the imported rows are recorded — run the same command again to import the other 100, "
        "without duplicates"
    )
    assert project_task_count(ls_client, project_id) == task_count(ls_client, project_id) == 600

    resumed = run_cli(["import", str(source), "--project", str(project_id)], edge_settings)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stderr.splitlines() == [
        f"resuming an interrupted import: 600 rows of {source} are already in project {project_id}",
        f"imported 0 tasks into project {project_id}",
    ]
    briefs_stored = sorted(
        t.data["brief"] for t in ls_client.tasks.list(project=project_id, fields="task_only")
    )
    assert briefs_stored == sorted(r["brief"] for r in rows)


def test_an_interrupted_import_is_finished_by_the_same_command(
    ls_client: LabelStudio, edge_settings: Settings, tmp_path: Path
) -> None:
    """Ctrl-C between two batches: the record the CLI reads says which rows went in."""
    project_id = new_project("edges interrupted", edge_settings, "--no-backend")
    rows = [{"brief": f"Offer a demo to clinic {i}."} for i in range(1, 6)]
    source = write_jsonl(tmp_path / "briefs.jsonl", rows)
    progress = ImportProgress.for_file(edge_settings.home / "imports", project_id, source, {})

    def press_ctrl_c(done: int) -> None:
        raise KeyboardInterrupt

    parsed = check_file(ls_client, project_id, source)
    with pytest.raises(KeyboardInterrupt):
        import_briefs(
            ls_client, project_id, parsed, path=source, batch_size=2,
            on_batch=press_ctrl_c, progress=progress,
        )  # fmt: skip
    assert task_count(ls_client, project_id) == 2

    resumed = run_cli(["import", str(source), "--project", str(project_id)], edge_settings)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stderr.splitlines() == [
        f"resuming an interrupted import: 2 rows of {source} are already in project {project_id}",
        f"imported 3 tasks into project {project_id}",
    ]
    briefs_stored = sorted(
        t.data["brief"] for t in ls_client.tasks.list(project=project_id, fields="task_only")
    )
    assert briefs_stored == sorted(r["brief"] for r in rows)
    assert not progress.path.exists()
