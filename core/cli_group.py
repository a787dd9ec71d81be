"""The command lines' Typer app: plain help, and sub-apps made into commands when first used.

Why: turning a Typer function into a Click command reads its signature and evaluates every
annotation (about 1.5 ms a command); with every sub-app converted up front, each run of the CLI
paid for all of them (~0.06 s for `novapos-edge`'s 36) before doing anything. Here a sub-app
added with `App.add_typer` is converted when a command line names it, so `status` converts the
top-level commands alone and `--help` lists the sub-apps from their help text.

Help is Click's plain layout, not Rich's: Typer's Rich help imports Rich's console, Markdown and
syntax highlighting (~0.15 s, more than the rest of `--help`). The listing of a group shows each
command's first paragraph whole, as the Rich layout did (Click's own cuts it to the width).
Help text is therefore plain text: a `[section]` needs no escape. A usage error (unknown
command or option, bad value) is still shown in Typer's Rich panel, as before: Rich is imported
then, on a path that is not timed. Help asked for by giving a group no command goes to stdout
with exit code 2, as Typer's Rich help did (Click's plain help would go to stderr).

Invariants: `group.commands` lists every command and sub-app, in the order they were added
(iterating it converts nothing; reading an entry converts that one); a converted sub-app is the
group Typer itself would have built from the same `add_typer` call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup, _main
from typer.main import get_group_from_info, solve_typer_info_defaults
from typer.models import TyperInfo

Command = Any  # typer's vendored click.Command


class Commands(MutableMapping[str, Command]):
    """A group's commands by name; a mounted sub-app is converted when its entry is read."""

    def __init__(self, ready: MutableMapping[str, Command],
                 pending: dict[str, Callable[[], Command]]) -> None:
        self._ready = dict(ready)
        self._pending = {n: make for n, make in pending.items() if n not in self._ready}
        self._order = [*self._ready, *self._pending]

    def __getitem__(self, name: str) -> Command:
        if name not in self._ready:
            make = self._pending.pop(name)  # KeyError: no such command
            self._ready[name] = make()
        return self._ready[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._pending.pop(name, None)
        if name not in self._ready:
            self._order.append(name)
        self._ready[name] = command

    def __delitem__(self, name: str) -> None:
        if self._ready.pop(name, None) is None and self._pending.pop(name, None) is None:
            raise KeyError(name)
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def converted(self, name: str) -> bool:
        return name in self._ready


def first_paragraph(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n")[0].split())


class Group(TyperGroup):
    """A Typer group with the listing above; `mounted` (set per app by `App`) holds the
    sub-apps to convert on first use, by name."""

    mounted: ClassVar[dict[str, TyperInfo]] = {}
    pretty_exceptions_short: ClassVar[bool] = True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.commands = Commands(self.commands, {
            name: (lambda info=info: self._convert(info)) for name, info in self.mounted.items()})

    def _convert(self, info: TyperInfo) -> Command:
        return get_group_from_info(info, pretty_exceptions_short=self.pretty_exceptions_short,
                                   rich_markup_mode=self.rich_markup_mode,
                                   suggest_commands=self.suggest_commands)

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        return _main(self, args=args, prog_name=prog_name, complete_var=complete_var,
                     standalone_mode=standalone_mode, windows_expand_args=windows_expand_args,
                     rich_markup_mode="rich", **extra)  # for errors only: help is format_help's

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            typer.echo(ctx.get_help(), color=ctx.color)
            ctx.exit(2)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # names only: nothing is converted to list them

    def _summary(self, name: str) -> tuple[str, bool]:
        """(help line, hidden) of a command, without converting a mounted sub-app."""
        commands = self.commands
        if isinstance(commands, Commands) and not commands.converted(name):
            info = solve_typer_info_defaults(self.mounted[name])
            text, hidden, deprecated = info.short_help or info.help, info.hidden, info.deprecated
        else:
            cmd = commands[name]
            text, hidden, deprecated = cmd.short_help or cmd.help, cmd.hidden, cmd.deprecated
        line = first_paragraph(text)
        if deprecated:  # as Click words it
            line += f" (DEPRECATED: {deprecated})" if isinstance(deprecated, str) \
                else " (DEPRECATED)"
        return line.strip(), hidden

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, line) for name in self.list_commands(ctx)
                for line, hidden in [self._summary(name)] if not hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class App(typer.Typer):
    """`typer.Typer` with plain help and its sub-apps (`add_typer`, which must name them)
    converted when first used. Every `App` gets its own `Group` class holding its sub-apps."""

    def __init__(self, **options: Any) -> None:
        self._group = type("Group", (Group,), {"mounted": {}})
        options.setdefault("rich_markup_mode", None)
        super().__init__(cls=self._group, **options)
        self._group.pretty_exceptions_short = self.pretty_exceptions_short

    def add_typer(self, typer_instance: typer.Typer, **options: Any) -> None:
        super().add_typer(typer_instance, **options)
        info = self.registered_groups.pop()
        assert isinstance(info.name, str), "a lazily converted sub-app needs a name"
        self._group.mounted[info.name] = info
