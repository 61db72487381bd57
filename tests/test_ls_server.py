"""The generated Label Studio login: random per data dir, stored 0600, never in a repr."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from redraft.errors import LabelStudioError
from redraft.labelstudio.login import (
    ADMIN_EMAIL,
    LOGIN_FILE,
    Login,
    load_login,
    save_login,
    write_private,
)


def test_generated_logins_differ_and_fit_label_studio() -> None:
    first, second = Login.generate(), Login.generate()
    assert first.username == second.username == ADMIN_EMAIL
    assert first.password != second.password and first.token != second.token
    assert len(first.token) == 40  # Label Studio's legacy token column holds 40 characters
    assert repr(first) == f"Login(username={ADMIN_EMAIL!r})"


def test_login_is_stored_owner_only_and_read_back(tmp_path: Path) -> None:
    login = Login("a@b.c", "pw", "tok")
    path = save_login(tmp_path, login)
    assert path == tmp_path / LOGIN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"username": "a@b.c", "password": "pw", "token": "tok"}
    assert load_login(tmp_path) == login


def test_an_existing_file_is_narrowed_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "demo.env"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "new")
    assert (path.read_text(), stat.S_IMODE(path.stat().st_mode)) == ("new", 0o600)


def test_a_data_dir_without_a_login_says_how_to_recover(tmp_path: Path) -> None:
    with pytest.raises(LabelStudioError) as missing:
        load_login(tmp_path)
    assert str(missing.value) == (
        f"{tmp_path / LOGIN_FILE} is missing or unreadable, so the Label Studio login of "
        f"{tmp_path} is unknown — start from a new data dir (redraft demo --fresh)"
    )
