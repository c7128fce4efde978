"""A second test pack, `synthetic-b`: the synthetic detector with its embeddings turned by a fixed rotation
(as tests/test_search.py registers it). Within the pack, scores and calibration are the synthetic pack's;
across the two packs they are meaningless, so collections on the two packs are searched separately.

    from support.second_pack import SECOND_PACK, register_second_pack
    register_second_pack(monkeypatch, settings.home)   # needs FACESEARCH_TEST_PACKS=1
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from facesearch.calibration.tables import table_path
from facesearch.models import registry
from facesearch.models.synthetic import INFO as SYNTHETIC_INFO
from facesearch.models.synthetic import SyntheticPack

SECOND_PACK = "synthetic-b"
ROTATION = np.linalg.qr(np.random.default_rng(4242).standard_normal((SYNTHETIC_INFO.dim, SYNTHETIC_INFO.dim)))[
    0
].astype(np.float32)
ROTATED_INFO = replace(SYNTHETIC_INFO, name=SECOND_PACK, version="synthetic-b-rotated-v1")


class RotatedPack(SyntheticPack):
    info = ROTATED_INFO

    def embed(self, crops: np.ndarray) -> np.ndarray:
        return super().embed(crops) @ ROTATION


def register_second_pack(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Make `synthetic-b` known to the registry (for this process) and give it the synthetic calibration."""
    entry = registry.PackEntry(ROTATED_INFO, {}, lambda s, threads: RotatedPack(s.detect_max_side))
    mp.setitem(registry._TEST_PACKS, ROTATED_INFO.name, entry)
    table = json.loads(table_path(SYNTHETIC_INFO.name).read_text())
    table.update(pack=ROTATED_INFO.name, model_version=ROTATED_INFO.version)
    (home / "calibration").mkdir(parents=True, exist_ok=True)
    (home / "calibration" / f"{ROTATED_INFO.name}.json").write_text(json.dumps(table))
