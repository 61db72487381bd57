"""Options declared once: a dataclass field carries its default, its help and its choices, and
the command line is built from the field (as TRL's dataclasses do for its scripts).

Only the declaration lives here (no click): `redraft.cli.knobs` turns fields into options.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any


def knob(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    bounds: tuple[float | None, float | None] | None = None,
    negative: str | None = None,
    kind: type | str | None = None,
    cli: bool = True,
) -> Any:
    """A dataclass field that is also a command-line option `--field-name`.

    `choices`: the allowed values; `bounds`: (min, max) for a number; `negative`: the name of
    a boolean's off switch (`--exclude-accepted`); `kind`: the value's type when the default is
    None (`int`, `str`, "folder"), or "files" (a repeatable option); `cli=False`: recorded
    but not an option.

    >>> from dataclasses import dataclass, fields
    >>> @dataclass
    ... class P:
    ...     rate: float = knob(0.1, "A rate.", bounds=(0, 1))
    >>> fields(P)[0].metadata["help"], P().rate
    ('A rate.', 0.1)
    """
    metadata = {
        "help": help,
        "choices": choices,
        "bounds": bounds,
        "negative": negative,
        "kind": kind,
        "cli": cli,
    }
    if isinstance(default, (list, dict, set)):
        raise TypeError("a knob's default must be immutable (use a tuple)")
    return field(default=default, metadata=metadata)
