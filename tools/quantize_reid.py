"""Produce an INT8 face-reidentification-retail-0095 (NNCF post-training quantisation), to measure against FP16.

    python -m venv /tmp/nncf && /tmp/nncf/bin/pip install nncf==3.4.0 -e .
    /tmp/nncf/bin/python tools/quantize_reid.py --out /tmp/reid-int8

NNCF is needed only here, never at run time: the result is a plain OpenVINO IR (INT8 weights and activations where
it kept them, FP16 elsewhere). It does not ship: the result of this script (NNCF 3.4.0, OpenVINO 2026.4.1, the
defaults below) lost 0.15 point of LFW 10-fold accuracy (99.35% against 99.50%), where the product allows 0.1,
for about 0.4 CPU ms a face (docs/benchmarks.md, "INT8 embedder"). To measure a new result, give it a pack of its
own (as commit 855e439 did: `yunet-reid-int8` in models/yunet_reid.py and models/registry.py, its two files
pinned) and run `facesearch eval lfw --model` on both packs; it may replace the FP16 embedder only if 10-fold
accuracy drops by at most 0.1 point and TPIR@FPIR 1e-2 by at most 0.5 point, and ingest is measurably faster.

How: NNCF's post-training quantisation with accuracy control. Labels are not needed, nor an evaluation set: the
metric is the mean cosine between each calibration crop's INT8 and FP16 (run in f32) embeddings, and NNCF
returns to floating point, one by one, the operations whose quantisation costs that agreement most, until it
is within MAX_DROP of 1 (0.006: 12 of 122 operations stay in floating point; the plain quantisation, every
operation INT8, also lost 0.15 point: the agreement on calibration crops does not predict LFW to 0.1 point).

Calibration photos: none from an evaluation set. LFW (10-fold verification, 1:N, calibration tables) and AT&T
(docs/accuracy.md) are evaluation sets; the calibration uses the real photos of the `face_recognition` library's
tests and examples (../shared/datasets/peers/face_recognition, MIT) and the four demo photos shipped in the package
(facesearch/demo, public domain). Some show people who are also in LFW (Joe Biden), never the same photos. Every
face is found and aligned by the yunet-reid pack itself, so the crops are what the embedder sees at run time; the
few dozen faces are augmented (mirror, small shifts, scale and rotation of the landmarks, brightness, contrast,
grey) to SUBSET crops, which only have to span the activations' ranges.

The result is deterministic for the same photos, seed, NNCF and OpenVINO versions.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT.parent / "shared" / "datasets" / "peers" / "face_recognition"
DEMO = ROOT / "src" / "facesearch" / "demo"
FP16 = ROOT / "src" / "facesearch" / "models" / "weights" / "omz_face_reid_0095"
XML = "face-reidentification-retail-0095.xml"
BIN = "face-reidentification-retail-0095.bin"
SUBSET = 300
SEED = 1234
MAX_DROP = 0.006


def calibration_photos(peers: Path) -> list[Path]:
    suffixes = {".jpg", ".jpeg", ".png"}
    found = sorted(p for p in peers.rglob("*") if p.suffix.lower() in suffixes)
    return found + sorted(DEMO.glob("*.jpg"))


def calibration_crops(photos: list[Path], count: int, seed: int, photometric: bool = True) -> tuple[np.ndarray, int]:
    """(count, 128, 128, 3) uint8 BGR crops, and how many distinct faces they come from."""
    from facesearch.config import Settings
    from facesearch.models import load_pack
    from facesearch.models.align import align_faces
    from facesearch.models.yunet_reid import CROP_SIZE
    from facesearch.pipeline.imaging import load_image

    settings = Settings(home=Path("/tmp/facesearch-quantize"))
    pack = load_pack("yunet-reid", settings, 2)
    faces: list[tuple[np.ndarray, np.ndarray]] = []  # (image, landmarks of one face)
    for path in photos:
        try:
            image, _ = load_image(path, settings.max_file_bytes, settings.max_pixels)
        except Exception:  # noqa: BLE001 - odd files of the peers' tests (32-bit PNG and so on) may not decode
            continue
        det = pack.detect(image)
        for i in range(len(det)):
            box = det.boxes[i]
            if min(box[2] - box[0], box[3] - box[1]) >= 20 and det.scores[i] >= 0.6:
                faces.append((image, det.landmarks[i]))
    if not faces:
        raise SystemExit("no faces found in the calibration photos")
    rng = random.Random(seed)
    crops = np.empty((count, CROP_SIZE, CROP_SIZE, 3), np.uint8)
    for n in range(count):
        image, points = faces[n % len(faces)]
        if n >= len(faces):  # the faces as they are first, then augmented copies
            centre = points.mean(axis=0)
            angle = np.deg2rad(rng.uniform(-8, 8))
            scale = rng.uniform(0.93, 1.07)
            rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
            points = (points - centre) @ rot.T * scale + centre + np.float32(rng.uniform(-2, 2))
        crop = align_faces(image, points[None].astype(np.float32), CROP_SIZE)[0]
        if n >= len(faces) and rng.random() < 0.5:
            crop = crop[:, ::-1]
        if n >= len(faces) and photometric:
            alpha, beta = rng.uniform(0.7, 1.3), rng.uniform(-30, 30)
            crop = np.clip(crop.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)
            if rng.random() < 0.15:
                crop = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        crops[n] = crop
    return crops, len(faces)


def _embed(compiled: Any, crop: np.ndarray) -> np.ndarray:
    vector = next(iter(compiled(_blob(crop)).values())).reshape(-1)
    out: np.ndarray = vector / np.linalg.norm(vector)
    return out


def _blob(crop: np.ndarray) -> np.ndarray:
    return crop.transpose(2, 0, 1)[None].astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--peers", type=Path, default=PEERS)
    ap.add_argument("--subset", type=int, default=SUBSET)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--max-drop", type=float, default=MAX_DROP, help="Of the mean cosine to FP16; 0: no control.")
    args = ap.parse_args()
    import nncf
    import openvino as ov

    photos = calibration_photos(args.peers)
    crops, distinct = calibration_crops(photos, args.subset, args.seed)
    print(f"calibration: {len(photos)} photos, {distinct} faces, {len(crops)} crops", file=sys.stderr)
    core = ov.Core()

    def fp16() -> Any:
        model = core.read_model(str(FP16 / XML), str(FP16 / BIN))
        model.reshape([1, 3, 128, 128])
        return model

    dataset = nncf.Dataset(list(crops), _blob)
    preset = nncf.QuantizationPreset.PERFORMANCE
    if args.max_drop > 0:
        reference = core.compile_model(fp16(), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        pairs = [(crop, _embed(reference, crop)) for crop in crops]

        def agreement(compiled: Any, items: Any) -> tuple[float, list[float]]:
            each = [float(_embed(compiled, crop) @ ref) for crop, ref in items]
            return float(np.mean(each)), each

        quantized = nncf.quantize_with_accuracy_control(
            fp16(),
            dataset,
            nncf.Dataset(pairs),
            validation_fn=agreement,
            max_drop=args.max_drop,
            drop_type=nncf.DropType.ABSOLUTE,
            subset_size=len(crops),
            preset=preset,
        )
    else:
        quantized = nncf.quantize(fp16(), dataset, subset_size=len(crops), preset=preset)
    quantized.reshape([-1, 3, 128, 128])
    args.out.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(args.out / XML), compress_to_fp16=True)
    for name in (XML, BIN):
        print(f"{args.out / name}: {(args.out / name).stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
