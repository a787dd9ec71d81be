"""`core.cli_group.App`: the same command line Typer builds, sub-apps converted when first
used, and help listings that show each command's first paragraph whole."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.main import get_command
from typer.testing import CliRunner

from core.cli_group import App, Commands, first_paragraph
from edge.cli import app as edge_app

runner = CliRunner()
WIDE = {"COLUMNS": "100", "TERMINAL_WIDTH": "100"}


def _sample(make: Any) -> typer.Typer:
    """One command line built with `make` (typer.Typer or App): top-level commands, a sub-app
    of one command (Typer would make a lone command of it, were it not mounted), a sub-app with
    its own sub-app."""
    app = make(help="Sample tool.", no_args_is_help=True, add_completion=False)
    one = make(help="A sub-app of one command.", no_args_is_help=True)
    many = make(help="A sub-app of several.\n\nMore about it.", no_args_is_help=True)
    inner = make(help="Nested.", no_args_is_help=True)

    @app.command()
    def hello(name: Annotated[str, typer.Argument(help="Who.")],
              loud: Annotated[bool, typer.Option("--loud", help="Shout.")] = False) -> None:
        """Greet someone by name, a long first line that Click itself would cut short at the
        terminal's width.

        A second paragraph."""
        typer.echo(name.upper() if loud else name)

    @app.command("fail")
    def fail(code: int = 3) -> None:
        """Exit with CODE."""
        raise typer.Exit(code)

    @one.command("only")
    def only(count: Annotated[int, typer.Option(min=1, help="How many.")] = 1) -> None:
        """The only command."""
        typer.echo(f"only {count}")

    @many.command("a")
    def a() -> None:
        """First."""
        typer.echo("a")

    @many.command("b")
    def b(flag: bool = False) -> None:
        """Second."""
        typer.echo(f"b {flag}")

    @inner.command("deep")
    def deep(x: str = "x") -> None:
        """Deepest."""
        typer.echo(f"deep {x}")

    many.add_typer(inner, name="inner")
    app.add_typer(one, name="one")
    app.add_typer(many, name="many")
    return app


def _shape(cmd: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    found = {path: (cmd.help, [(p.name, tuple(p.opts), p.required, p.default, p.help)
                               for p in cmd.params], cmd.no_args_is_help
                    if hasattr(cmd, "no_args_is_help") else None)}
    for name in getattr(cmd, "commands", {}):
        found |= _shape(cmd.commands[name], (*path, name))
    return found


INVOCATIONS = [["hello", "ann"], ["hello", "--loud", "ann"], ["fail"], ["fail", "--code", "5"],
               ["one", "only", "--count", "2"], ["one", "only", "--count", "0"],
               ["many", "b", "--flag"], ["many", "inner", "deep", "--x", "y"], ["nope"],
               ["many", "c"], ["hello"], ["hello", "--bogus"]]


def test_the_command_line_is_the_one_typer_builds() -> None:
    plain, lazy = _sample(typer.Typer), _sample(App)
    assert _shape(get_command(lazy)) == _shape(get_command(plain))
    for args in INVOCATIONS:
        want, got = runner.invoke(plain, args), runner.invoke(lazy, args)
        assert (got.exit_code, got.stdout) == (want.exit_code, want.stdout), args
        assert " ".join(got.stderr.split()) == " ".join(want.stderr.split()), args  # errors


def test_a_sub_app_is_converted_when_it_is_first_read() -> None:
    group = get_command(_sample(App))
    commands = group.commands
    assert isinstance(commands, Commands)
    assert list(commands) == ["hello", "fail", "one", "many"]  # listing converts nothing
    assert not commands.converted("one") and not commands.converted("many")
    result = runner.invoke(_sample(App), ["--help"], env=WIDE)
    assert result.exit_code == 0 and "A sub-app of several." in result.stdout
    assert commands["many"] is commands["many"]  # converted once
    assert commands.converted("many") and not commands.converted("one")


@given(st.lists(st.sampled_from(["hello", "fail", "one", "many", "nope"]), max_size=8))
def test_reading_in_any_order_keeps_every_command_and_its_order(reads: list[str]) -> None:
    commands = get_command(_sample(App)).commands
    seen = {}
    for name in reads:
        cmd = commands.get(name)
        assert (cmd is None) == (name == "nope")
        if cmd is not None:
            assert cmd.name == name and seen.setdefault(name, cmd) is cmd
    assert list(commands) == ["hello", "fail", "one", "many"] and len(commands) == 4


def test_help_lists_each_command_with_its_first_paragraph_whole() -> None:
    result = runner.invoke(_sample(App), ["--help"], env=WIDE)
    shown = " ".join(result.stdout.split())
    assert "hello Greet someone by name, a long first line that Click itself would cut short " \
           "at the terminal's width." in shown
    assert "A second paragraph" not in shown and "More about it" not in shown
    assert "one A sub-app of one command." in shown and "many A sub-app of several." in shown


def test_no_command_prints_the_help_on_stdout_with_exit_code_2() -> None:
    result = runner.invoke(_sample(App), ["many"], env=WIDE)
    assert result.exit_code == 2
    assert "Usage: root many [OPTIONS] COMMAND [ARGS]..." in result.stdout
    assert "inner Nested." in " ".join(result.stdout.split()) and result.stderr == ""


def test_a_usage_error_names_the_problem_and_the_help() -> None:
    result = runner.invoke(_sample(App), ["helo"], env=WIDE)
    assert result.exit_code == 2 and result.stdout == ""
    err = " ".join(result.stderr.split())
    assert "No such command 'helo'. Did you mean 'hello'?" in err
    assert "Try 'root --help' for help." in err


def _groups(cmd: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    if not hasattr(cmd, "commands"):
        return []
    found = [(path, cmd)]
    for name in cmd.commands:
        found += _groups(cmd.commands[name], [*path, name])
    return found


def test_every_group_of_novapos_edge_lists_every_command_with_its_description() -> None:
    for path, group in _groups(get_command(edge_app), []):
        result = runner.invoke(edge_app, [*path, "--help"], env=WIDE)
        assert result.exit_code == 0, (path, result.output)
        shown = " ".join(result.stdout.split())
        for name in group.commands:
            sub = group.commands[name]
            line = first_paragraph(sub.short_help or sub.help)
            assert f"{name} {line}" in shown, (path, name)


def test_first_paragraph_joins_lines_and_stops_at_a_blank_line() -> None:
    assert first_paragraph("  One\n  two.\n\nThree.") == "One two."
    assert first_paragraph(None) == "" and first_paragraph("") == ""
