"""Install hints name the command that works for how redraft was installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from redraft.install import editable_checkout, install_hint

ROOT = Path(__file__).resolve().parent.parent


def test_from_a_checkout_the_hint_installs_the_extra_into_its_venv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # ./dev installs redraft editable from this checkout into its .venv.
    assert editable_checkout() == ROOT
    pip = Path(sys.executable).parent / "pip"
    monkeypatch.chdir(ROOT)
    assert install_hint("train") == f"{pip.relative_to(ROOT)} install -e '.[train]'"
    monkeypatch.chdir(tmp_path)
    assert install_hint("local") == f"{pip} install -e '{ROOT}[local]'"
