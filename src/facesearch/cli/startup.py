"""A quicker start for the `facesearch` console script: no full garbage collections while it imports.

Imports allocate hundreds of thousands of long-lived objects, and CPython's collector walks all of them
again at every full collection: about 60 ms of a CLI search's start on 2 cores. The script raises the
thresholds while it imports; once the command reads its settings (`actor.load_settings`) or runs a use case
(`actor.run`), what was imported is moved out of the collector's reach (`gc.freeze`) and the usual thresholds
come back, so a long command (an ingest, `serve`) collects as usual.
Only the console script does this (`facesearch.cli.main`): a process that imports the CLI (the tests'
runner) keeps its collector as it is.
"""

from __future__ import annotations

import gc

_usual: tuple[int, int, int] | None = None


def quicken() -> None:
    global _usual
    if _usual is None:
        _usual = gc.get_threshold()
        gc.set_threshold(100_000, 50, 100)


def settle() -> None:
    """Called when a command reads its settings and before a use case runs; a no-op unless `quicken` was."""
    global _usual
    if _usual is not None:
        gc.freeze()
        gc.set_threshold(*_usual)
        _usual = None
