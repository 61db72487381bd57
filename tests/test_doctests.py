"""Run the doctests of every redraft module (record and row builders show one input/output)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

# The top-level folders install as subpackages of `redraft` through package-dir mappings, so
# walking `redraft.__path__` alone would miss them: walk each folder's package explicitly.
PACKAGES = ("redraft", "redraft.backend", "redraft.exporters", "redraft.label_config")

# Modules that need the optional [train] extra are skipped when it is not installed.
OPTIONAL_IMPORTS = {"torch", "transformers", "trl", "peft", "datasets", "accelerate"}


def _module_names() -> list[str]:
    names = set(PACKAGES)
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            names.add(info.name)
    return sorted(names)


def _has_doctest(module_name: str) -> bool:
    """Whether the module's source holds an example (read as text: no import needed)."""
    spec = importlib.util.find_spec(module_name)
    origin = spec.origin if spec is not None else None
    return bool(origin and origin.endswith(".py") and ">>> " in Path(origin).read_text("utf-8"))


DOCTESTED = [name for name in _module_names() if _has_doctest(name)]


def test_the_doctest_walk_finds_the_modules_with_examples() -> None:
    # Without this, a broken walk (no modules found) would pass every time.
    assert len(DOCTESTED) > 40
    assert "redraft.prompting" in DOCTESTED and "redraft.exporters.records" in DOCTESTED


@pytest.mark.parametrize("module_name", DOCTESTED)
def test_module_doctests(module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in OPTIONAL_IMPORTS:
            pytest.skip(f"needs the [train] extra ({exc.name})")
        raise
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {module_name}"
    assert result.attempted > 0, f"{module_name} has `>>> ` but no doctest ran"
