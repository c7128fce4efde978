"""The command line starts fast: `facesearch --help` (and every command's own --help) imports none of the heavy
libraries. Each command imports what it needs when it runs; a module-level import of the application layer in
a CLI module would bring SQLAlchemy, NumPy and the rest back into every start."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support.paths import ROOT

HEAVY = ("numpy", "faiss", "openvino", "sqlalchemy", "alembic", "cv2", "PIL", "pydantic", "fastapi")

PROBE = """
import contextlib, io, json, sys
from facesearch.cli import app
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        app(sys.argv[1:], prog_name="facesearch")
    except SystemExit as exc:
        code = exc.code
heavy = sorted(m for m in json.loads(HEAVY) if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy, "help": out.getvalue()}))
"""


def _run(*args: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "100"}
    script = f"HEAVY = {json.dumps(json.dumps(HEAVY))}\n" + PROBE
    done = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_help_imports_no_heavy_library() -> None:
    result = _run("--help")
    assert result["code"] == 0
    assert "search" in str(result["help"]) and "ingest" in str(result["help"])
    assert result["heavy"] == []


def test_a_command_help_imports_no_heavy_library() -> None:
    """Typer builds a command's parameters with Pydantic, so a command's own help imports it; nothing else."""
    for args in (("search", "--help"), ("people", "--help"), ("collections", "list", "--help")):
        result = _run(*args)
        assert result["code"] == 0, args
        assert result["heavy"] in ([], ["pydantic"]), args
