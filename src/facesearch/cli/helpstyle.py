"""How `--help` names values: `TEXT`, `INTEGER`, `PATH` and nothing for a flag, and `PROBE` for an argument,
rather than the installed Typer's `<str>`, `<bool>` and `{probe}`, which read as placeholders left in the text.

Applied to every command as the root group hands it out (`TidyGroup.get_command`), so that a command added
anywhere needs nothing of its own; a metavar a command sets itself is kept. Typer carries its own copy of
click's classes, so commands are walked by what they hold (`params`, `commands`), not by click's types."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption

# Typer's type labels, as click's own help words them.
WORDS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "int range": "INTEGER", "float range": "FLOAT"}


def _word(label: str) -> str:
    label = label.strip("<>").removeprefix("list[").removesuffix("]")
    return WORDS.get(label, label.upper())


class _Argument(TyperArgument):
    """An argument named as it is typed: `PROBE` in the usage line, never `{probe}`."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        return _word(self.display_type(ctx))


def tidy(command: Any, ctx: Any) -> Any:
    """Name every value of `command` (and of its subcommands) as click's help does."""
    if getattr(command, "_tidy", False):
        return command
    help_option = command.get_help_option(ctx) if ctx is not None else None
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if isinstance(param, TyperArgument):
            param.__class__ = _Argument
        if param.metavar is not None:
            continue
        if isinstance(param, TyperArgument):
            param.metavar = (param.name or "value").upper()
        elif isinstance(param, TyperOption):
            param.metavar = "" if param.is_flag else _word(param.display_type(ctx))
        else:  # the help option
            param.metavar = ""
    command._tidy = True
    for sub in (getattr(command, "commands", None) or {}).values():
        tidy(sub, ctx)
    return command


class TidyGroup(TyperGroup):
    """The root group: tidies itself and each command it hands out (help, usage errors)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        return tidy(command, ctx) if command is not None else None

    def format_help(self, ctx: Any, formatter: Any) -> None:
        tidy(self, ctx)
        super().format_help(ctx, formatter)
