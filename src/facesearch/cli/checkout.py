"""Code that lives in the source checkout beside the package, not in it: the benchmark harness
(`benchmarks/`) and the accuracy evaluation (`evaluation/`). Both import facesearch freely; facesearch
reaches them only through this module, and only from the `bench` and `eval` commands."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS_DIR_ENV = "FACESEARCH_BENCHMARKS_DIR"
EVALUATION_DIR_ENV = "FACESEARCH_EVALUATION_DIR"
HARNESS_MODULE = "facesearch_benchmarks_harness"  # its name in sys.modules; not importable by name


class CheckoutNotFound(RuntimeError):
    """The code is not beside this package (an install from a wheel, not a source checkout)."""


def checkout_root() -> Path:
    """The folder holding `src/` when facesearch runs from a source checkout (`pip install -e .`)."""
    return Path(__file__).resolve().parents[3]


def harness_path() -> Path:
    """`$FACESEARCH_BENCHMARKS_DIR/harness.py` if set, else `benchmarks/harness.py` beside `src/`."""
    override = os.environ.get(BENCHMARKS_DIR_ENV)
    folder = Path(override).expanduser() if override else checkout_root() / "benchmarks"
    return folder / "harness.py"


def load_harness() -> ModuleType:
    """The harness module, loaded from its file once per process; `CheckoutNotFound` when it is not there."""
    path = harness_path().resolve()
    loaded = sys.modules.get(HARNESS_MODULE)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    if not path.is_file():
        raise CheckoutNotFound(
            f"the benchmark harness is not here ({path}): the benchmarks run from a source checkout of "
            f"facesearch installed with `pip install -e .` (or set {BENCHMARKS_DIR_ENV} to its benchmarks/ folder)"
        )
    spec = importlib.util.spec_from_file_location(HARNESS_MODULE, path)
    if spec is None or spec.loader is None:
        raise CheckoutNotFound(f"cannot load the benchmark harness from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[HARNESS_MODULE] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(HARNESS_MODULE, None)
        raise
    return module


def use_evaluation() -> None:
    """Make the checkout's `evaluation` package importable (its parent folder first on the import path)."""
    override = os.environ.get(EVALUATION_DIR_ENV)
    folder = (Path(override).expanduser() if override else checkout_root() / "evaluation").resolve()
    if not (folder / "__init__.py").is_file():
        raise CheckoutNotFound(
            f"the evaluation code is not here ({folder}): `facesearch eval` runs from a source checkout of "
            f"facesearch installed with `pip install -e .` (or set {EVALUATION_DIR_ENV} to its evaluation/ folder)"
        )
    parent = str(folder.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
