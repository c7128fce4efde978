"""Per-stage cost of the ingest pipeline in one process, one thread: where does an image's time go?

    .venv/bin/python benchmarks/stages.py [--images 200] [--model yunet-reid] [--data DIR]

Times decode (the product's PIL path and cv2.imdecode for comparison), detection, alignment, quality,
embedding (batched as ingest does, and one face at a time), thumbnails, hashing, and the database commit,
and prints milliseconds per image / per face. Not a substitute for `facesearch bench ingest` (which is end
to end, with workers); this says which stage to work on.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from harness import default_data_dir, default_models_dir, pick_images  # benchmarks/harness.py, beside this

from facesearch.config import Settings
from facesearch.models import load_pack
from facesearch.models import quality as quality_mod
from facesearch.pipeline import imaging
from facesearch.pipeline.analysis import filter_detections, thumbnail_jpeg

CPU: dict[str, float] = {}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of fn(); its CPU seconds (all threads of this process) go to CPU["last"]."""
    c = time.process_time()
    t = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t
    CPU["last"] = time.process_time() - c
    return wall, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--model", default="yunet-reid")
    ap.add_argument("--data", type=Path, default=default_data_dir())
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument(
        "--large",
        type=float,
        default=None,
        help="Run on photos of this many megapixels (2x2 mosaics of upscaled photos, as `bench large`).",
    )
    args = ap.parse_args()
    cv2.setNumThreads(1)
    home = Path(tempfile.mkdtemp())
    settings = Settings(home=home, models_dir=default_models_dir())
    pack = load_pack(args.model, settings, 1)
    paths = pick_images(args.data, args.images)
    if args.large:
        from harness import make_large_photos

        paths = make_large_photos(pick_images(args.data, 200), args.large, args.images, home / "large")
    blobs = [p.read_bytes() for p in paths]
    acc: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def add(key: str, seconds: float) -> None:
        acc[key] = acc.get(key, 0.0) + seconds
        cpu[key] = cpu.get(key, 0.0) + CPU["last"]

    faces = 0
    for start in range(0, len(blobs), args.batch):
        chunk = blobs[start : start + args.batch]
        images = []
        for data in chunk:
            s, _ = timed(lambda d=data: hashlib.sha256(d).hexdigest())
            add("sha256", s)
            s, img = timed(lambda d=data: imaging.decode_image(d, settings.max_pixels))
            add("decode (product)", s)
            s, _ = timed(lambda d=data: cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR))
            add("decode (cv2.imdecode, for comparison)", s)
            images.append(img)
        dets, crops = [], []
        for img in images:
            s, det = timed(
                lambda i=img: filter_detections(pack.detect(i), settings.min_face_px, settings.min_detection_score)
            )
            add("detect", s)
            s, crop = timed(lambda i=img, d=det: pack.align(i, d))
            add("align", s)
            s, _ = timed(lambda d=det, c=crop: quality_mod.assess(d.landmarks, d.scores, c))
            add("quality", s)
            dets.append(det)
            crops.append(crop)
        all_crops = np.concatenate(crops)
        faces += len(all_crops)
        s, _ = timed(lambda a=all_crops: pack.embed(a))
        add("embed (batched, as ingest)", s)
        for c in all_crops[:8]:
            s, _ = timed(lambda c=c: pack.embed(c[None]))
            add("embed (one face, first 8 per batch)", s)
        for img, det in zip(images, dets):
            for box in det.boxes:
                s, _ = timed(lambda i=img, b=box: thumbnail_jpeg(i, b))
                add("thumbnail", s)
    n = len(blobs)
    per_face = {"embed (batched, as ingest)", "thumbnail"}
    print(
        f"{args.model}: {n} images, {faces} faces, 1 thread; wall ms (CPU ms) - CPU time is what the stage "
        "costs when the machine is shared"
    )
    for key, total in acc.items():
        c = cpu[key]
        if key.startswith("embed (one"):
            count = min(8, args.batch) * ((n + args.batch - 1) // args.batch)
            print(f"  {key:40s} {1000 * total / count:7.2f} ({1000 * c / count:6.2f}) ms/face")
        elif key in per_face:
            f = max(faces, 1)
            print(
                f"  {key:40s} {1000 * total / f:7.2f} ({1000 * c / f:6.2f}) ms/face "
                f"{1000 * total / n:7.2f} ({1000 * c / n:6.2f}) ms/image"
            )
        else:
            print(f"  {key:40s} {1000 * total / n:7.2f} ({1000 * c / n:6.2f}) ms/image")
    keys = [k for k in acc if "comparison" not in k and not k.startswith("embed (one")]
    core = sum(acc[k] for k in keys)
    core_cpu = sum(cpu[k] for k in keys)
    print(
        f"  {'sum of product stages':40s} {1000 * core / n:7.2f} ({1000 * core_cpu / n:6.2f}) ms/image -> "
        f"{n / core:.1f} images/s per core wall, {n / core_cpu:.1f} by CPU time"
    )


if __name__ == "__main__":
    main()
