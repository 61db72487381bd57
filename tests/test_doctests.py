"""Run the doctests of every redraft module (record and row builders show one input/output)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

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


@pytest.mark.parametrize("module_name", _module_names())
def test_module_doctests(module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in OPTIONAL_IMPORTS:
            pytest.skip(f"needs the [train] extra ({exc.name})")
        raise
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {module_name}"
