"""Where the test data is: ../shared (real models and photos) and the checkout, with marks that skip a test,
naming what it needs, when the data is absent. Each mark carries `real=True`: conftest.py marks such tests
`slow`, so `make fast` (plumbing on the synthetic pack) leaves them out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("FACESEARCH_SHARED", ROOT.parent / "shared"))
MODELS = SHARED / "models"
LFW = SHARED / "datasets" / "lfw"
FR_IMAGES = SHARED / "datasets" / "peers" / "face_recognition" / "tests" / "test_images"
ATT = SHARED / "datasets" / "att_orl"

needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(),
    reason=f"../shared not present at {SHARED}: real models and photos are needed (present in CI)",
    real=True,
)
needs_lfw = pytest.mark.skipif(not (LFW / "deepfunneled").is_dir(), reason=f"LFW not present at {LFW}", real=True)
# yunet-reid's weights ship with the package; this mark only guards against a broken install.
SHIPPED = ROOT / "src" / "facesearch" / "models" / "weights"
needs_yunet = pytest.mark.skipif(
    not (SHIPPED / "yunet_2023mar").is_dir() and not (MODELS / "yunet_2023mar").is_dir(),
    reason=f"yunet-reid weights neither shipped in {SHIPPED} nor in {MODELS}",
    real=True,
)


def lfw_person(name: str) -> list[Path]:
    return sorted((LFW / "deepfunneled" / name).glob("*.jpg"))
