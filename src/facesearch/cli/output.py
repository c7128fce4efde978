"""One way to print a command's result: JSON with `--json`, else the command's own table or lines.

Use cases return typed results (dataclasses or Pydantic models); `jsonable` turns them, and lists and dicts
of them, into the JSON the API answers with, so `--json` and the API carry the same keys."""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import typer

T = TypeVar("T")


def jsonable(value: Any) -> Any:
    """Plain JSON values of a result: models and dataclasses by field, dates in ISO 8601, paths as text."""
    from pydantic import BaseModel  # here, not at the top: `facesearch --help` imports no Pydantic

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        absent = _absent_when(type(value))
        return {
            f.name: jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.name in absent and absent[f.name](getattr(value, f.name)))
        }
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


@functools.cache
def _absent_when(cls: type) -> dict[str, Callable[[Any], bool]]:
    """A dataclass's fields declared `Annotated[..., Field(exclude_if=...)]`: left out of the JSON when the test
    says so, as the API leaves them out (one declaration for both)."""
    out: dict[str, Callable[[Any], bool]] = {}
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except NameError:
        # A command's own output dataclass may name result types that its module imports only inside the
        # command (so that the CLI starts without the application layer). Only a field declared Annotated[...]
        # carries a rule: with one of those the names must resolve; without, there is nothing to find.
        if any("Annotated" in str(f.type) for f in dataclasses.fields(cls)):
            raise
        return out
    for name, hint in hints.items():
        for meta in getattr(hint, "__metadata__", ()):
            test = getattr(meta, "exclude_if", None)
            if callable(test):
                out[name] = test
    return out


def echo_json(value: Any, indent: int | None = 1) -> None:
    typer.echo(json.dumps(jsonable(value), indent=indent, ensure_ascii=False, default=str))


def emit(result: T, as_json: bool, render: Callable[[T], None], indent: int | None = 1) -> None:
    """Print `result` as JSON when asked (`indent=None`: on one line), else with the command's `render`."""
    if as_json:
        echo_json(result, indent)
    else:
        render(result)


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 face', '3 faces' ('1 person', '2 people' with `words`): a count as a sentence says it."""
    return f"{n} {word if n == 1 else words or word + 's'}"
