"""Click options built from `redraft.knobs` fields: name, type, default and help come from the
dataclass, so a knob is declared once and the command line, the code and the help agree."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def option_name(name: str) -> str:
    """`min_edit_chars` → `--min-edit-chars`."""
    return "--" + name.replace("_", "-")


def knob_options(cls: type, names: Iterable[str] | None = None) -> Callable[[F], F]:
    """A decorator adding one option per knob of `cls` (those in `names`, in that order)."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("help") is not None}
    chosen = [fields[n] for n in names] if names is not None else list(fields.values())

    def apply(command: F) -> F:
        for knob in reversed(chosen):
            if knob.metadata.get("cli", True):
                command = _option(knob)(command)
        return command

    return apply


def knob_values(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """The parsed values that are knobs of `cls`, ready for `cls(**...)`."""
    names = {f.name for f in dataclasses.fields(cls) if f.metadata.get("help") is not None}
    return {name: value for name, value in values.items() if name in names}


def _option(knob: dataclasses.Field[Any]) -> Callable[[F], F]:
    meta = knob.metadata
    default = knob.default
    name = option_name(knob.name)
    if isinstance(default, bool):
        if meta.get("negative"):
            declared = f"{name}/--{meta['negative']}"
            return click.option(
                declared, knob.name, default=default, show_default=True, help=meta["help"]
            )
        return click.option(name, knob.name, is_flag=True, default=default, help=meta["help"])
    if meta.get("kind") == "files":
        return click.option(
            name,
            knob.name,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            multiple=True,
            help=meta["help"],
        )
    kind: Any
    if meta.get("choices"):
        kind = click.Choice(meta["choices"])
    elif meta.get("bounds") is not None:
        low, high = meta["bounds"]
        kind = (click.IntRange if isinstance(default, int) else click.FloatRange)(low, high)
    elif meta.get("kind") == "folder":
        kind = click.Path(exists=True, file_okay=False, path_type=Path)
    elif meta.get("kind") is not None:
        kind = meta["kind"]
    elif default is None:
        kind = str
    else:
        kind = type(default)
    return click.option(
        name,
        knob.name,
        type=kind,
        default=default,
        show_default=default is not None,
        help=meta["help"],
    )
