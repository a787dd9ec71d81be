"""Every command's --help shows its text as written: Rich markup must not eat a `[section]`
(config sections, `[sync]`, `[[devices.terminals]]`) out of a help string."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from cloud_relay.cli import app as relay_app
from edge.cli import app as edge_app

runner = CliRunner()
# A bracketed word as a reader would see it; a Rich escape (`\[`) stands for a literal `[`.
SECTION = re.compile(r"\\?(\[\[?[A-Za-z_][\w.-]*\]\]?)")


def _commands(app: typer.Typer) -> list[tuple[list[str], Any]]:
    found: list[tuple[list[str], Any]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        found.append((path, cmd))
        if hasattr(cmd, "commands"):  # a group (Typer vendors its own click)
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(get_command(app), [])
    return found


def _texts(cmd: Any) -> list[str]:
    texts = [cmd.help or "", cmd.short_help or ""]
    texts += [getattr(p, "help", None) or "" for p in cmd.params]
    return texts


CASES = [(name, app, path, cmd) for name, app in (("novapos-edge", edge_app),
                                                   ("novapos-relay", relay_app))
         for path, cmd in _commands(app)]


@pytest.mark.parametrize("name,app,path,cmd", CASES,
                         ids=[" ".join([c[0], *c[2]]) for c in CASES])
def test_no_bracketed_section_disappears_from_help(name, app, path, cmd):
    wanted = {m.group(1) for text in _texts(cmd) for m in SECTION.finditer(text)}
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    missing = sorted(s for s in wanted if s not in shown)
    assert not missing, f"`{name} {' '.join(path)} --help` lost {missing}:\n{result.output}"


def test_sync_enroll_help_names_the_sync_section():
    result = runner.invoke(edge_app, ["sync", "enroll", "--help"], env={"COLUMNS": "200"})
    assert "written to [sync] in config.toml" in " ".join(result.output.split())


@pytest.mark.parametrize("module", ["edge.cli", "edge.devices.cli", "cloud_relay.cli"])
def test_an_error_message_with_brackets_prints_whole(module: str, capsys) -> None:
    import importlib

    fail = importlib.import_module(module)._fail
    fail("[[devices.printers]] front: printer profile TM-U220 has no code page PC858", 2)
    printed = " ".join(capsys.readouterr().err.split())
    assert "error: [[devices.printers]] front: printer profile TM-U220" in printed, printed
