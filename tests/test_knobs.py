"""Options declared once: a dataclass knob becomes a click option with its name, type, default,
bounds, choices and help; the parsed values build the dataclass back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from redraft.cli.knobs import knob_options, knob_values
from redraft.exporters.pipeline import ExportOptions
from redraft.exporters.rows import RowPolicy
from redraft.knobs import knob


@dataclass(frozen=True)
class Params:
    rate: float = knob(0.1, "A share.", bounds=(0, 0.9))
    steps: int = knob(8, "Steps.")
    mode: str = knob("auto", "The mode.", choices=("auto", "off"))
    keep: bool = knob(True, "Keep them.", negative="drop")
    quiet: bool = knob(False, "Say less.")
    alpha: int | None = knob(None, "Alpha.", kind=int)
    start: Path | None = knob(None, "A folder.", kind="folder")
    extra: tuple[Path, ...] = knob((), "Files; repeatable.", kind="files")
    hidden: str | None = knob(None, "Recorded, not an option.", cli=False)
    not_a_knob: str = "x"


@click.command()
@knob_options(Params)
def command(**values: object) -> None:
    click.echo(repr(Params(**knob_values(Params, values))))


def test_every_kind_of_knob_parses_into_the_dataclass(tmp_path: Path) -> None:
    extra = tmp_path / "a.jsonl"
    extra.write_text("{}\n")
    args = ["--rate", "0.5", "--steps", "3", "--mode", "off", "--drop", "--quiet",
            "--alpha", "4", "--start", str(tmp_path), "--extra", str(extra)]  # fmt: skip
    done = CliRunner().invoke(command, args)
    assert done.exit_code == 0, done.output
    assert done.output.strip() == repr(
        Params(0.5, 3, "off", False, True, 4, tmp_path, (extra,), None)
    )
    assert CliRunner().invoke(command, []).output.strip() == repr(Params())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0.95"], "0.95 is not in the range 0<=x<=0.9"),
        (["--mode", "on"], "'on' is not one of 'auto', 'off'"),
        (["--hidden", "x"], "No such option '--hidden'"),
    ],
)
def test_bounds_choices_and_hidden_knobs_are_enforced(args: list[str], message: str) -> None:
    done = CliRunner().invoke(command, args)
    assert done.exit_code == 2 and message in done.output, done.output


def test_export_help_is_the_dataclass_help() -> None:
    @click.command()
    @knob_options(RowPolicy)
    @knob_options(ExportOptions)
    def export(**values: object) -> None:
        options = ExportOptions(
            policy=RowPolicy(**knob_values(RowPolicy, values)), **knob_values(ExportOptions, values)
        )
        click.echo(repr(options))

    text = " ".join(CliRunner().invoke(export, ["--help"]).output.split())
    assert "--min-edit-chars INTEGER Characters changed from draft to final" in text
    assert "--include-accepted / --exclude-accepted Whether drafts sent unchanged" in text
    assert "--cost-model TEXT Model whose training price the cost estimate uses" in text
    parsed = CliRunner().invoke(export, ["--min-edit-chars", "3", "--annotators", "latest"])
    assert parsed.output.strip() == repr(
        ExportOptions(policy=RowPolicy(min_edit_chars=3), annotators="latest")
    )
