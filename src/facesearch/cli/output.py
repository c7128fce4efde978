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
from pydantic import BaseModel

T = TypeVar("T")


def jsonable(value: Any) -> Any:
    """Plain JSON values of a result: models and dataclasses by field, dates in ISO 8601, paths as text."""
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
    for name, hint in typing.get_type_hints(cls, include_extras=True).items():
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
