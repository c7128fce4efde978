"""The command line starts fast: `facesearch --help` (and every command's own --help) imports none of the heavy
libraries. Each command imports what it needs when it runs; a module-level import of the application layer in
a CLI module would bring SQLAlchemy, NumPy and the rest back into every start."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

from support.paths import ROOT

from facesearch.cli import startup

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


def _run(*args: str, env: dict[str, str] | None = None, watch: tuple[str, ...] = HEAVY) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "100", **(env or {})}
    script = f"HEAVY = {json.dumps(json.dumps(watch))}\n" + PROBE
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


def test_a_command_on_a_current_home_imports_no_alembic(tmp_path: Path) -> None:
    """Alembic (a tenth of a command's start) is imported only when a home needs its schema made or upgraded."""
    env = {"FACESEARCH_HOME": str(tmp_path / "home")}
    first = _run("collections", "list", "--json", env=env, watch=("alembic",))
    assert first["code"] == 0 and first["heavy"] == ["alembic"]  # a new home: its schema made by the migrations
    again = _run("collections", "list", "--json", env=env, watch=("alembic",))
    assert again["code"] == 0 and again["heavy"] == []


def test_startup_thresholds_come_back_before_the_use_case() -> None:
    usual = gc.get_threshold()
    startup.quicken()
    assert gc.get_threshold() != usual
    startup.settle()
    assert gc.get_threshold() == usual
    startup.settle()  # a second call (a command running two use cases) changes nothing
    assert gc.get_threshold() == usual


def test_a_setting_that_does_not_parse_is_one_line_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "FACESEARCH_HOME": str(tmp_path / "home")}
    env.update(FACESEARCH_DETECT_PRECISION="fp16", FACESEARCH_MIN_FACE_PX="many")
    done = subprocess.run(
        [sys.executable, "-c", "from facesearch.cli import main; main()", "stats"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    line = done.stderr.strip()
    assert line.startswith("error: bad setting:") and "\n" not in line
    assert "FACESEARCH_DETECT_PRECISION='fp16'" in line and "FACESEARCH_MIN_FACE_PX='many'" in line
    assert not (tmp_path / "home").exists()  # nothing made before the settings were understood


def test_serve_runs_with_the_usual_collector(tmp_path: Path) -> None:
    """`serve` runs no use case from the command line: reading its settings gives the collector back, so the
    long-running server does not keep the start's raised thresholds."""
    script = (
        "import gc, json, sys\n"
        "import uvicorn\n"
        "usual = gc.get_threshold()\n"
        "uvicorn.run = lambda *a, **k: print(json.dumps({'usual': usual, 'now': gc.get_threshold(),"
        " 'frozen': gc.get_freeze_count()}))\n"
        "from facesearch.cli import main\n"
        "sys.argv = ['facesearch', 'serve']\n"
        "main()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "FACESEARCH_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["now"] == seen["usual"] and seen["frozen"] > 0
