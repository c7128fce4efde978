"""Ingest against a bare prototype of the same two models, same photos, same run: what the product costs.

    .venv/bin/python benchmarks/prototype.py --data /tmp/wild600 --images 600 --repeat 3 [--model yunet-reid]

The prototype is what one writes to try the models: for each file, read it, decode it (cv2.imdecode), detect
(the pack's YuNet, the same detection copy and buckets), align, and embed every 32 photos' faces in one call; no
hashing, no checks of the file, no quality, no thumbnails, no database, no index, no people, one thread of
Python. The ingest case is `facesearch bench ingest`'s (the ingest use case into a fresh home, end to end). Both
run in fresh subprocesses (`harness.run_case`), interleaved, with the peak memory of each process tree; the
table gives medians and every run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402  (benchmarks/harness.py)


def case_prototype(spec: dict[str, Any]) -> dict[str, Any]:
    import cv2
    import numpy as np

    from facesearch.config import Settings
    from facesearch.models import load_pack
    from facesearch.pipeline.analysis import filter_detections

    overrides = {k: v for k, v in spec.get("settings", {}).items() if v is not None}
    settings = Settings(home=Path(spec["home"]), **overrides)
    paths = [Path(p) for p in spec["paths"]]
    cpu0 = harness._cpu_now()
    t0 = time.monotonic()
    pack = load_pack(spec["model"], settings, spec.get("threads") or 2)
    faces = no_face = 0
    pending: list[np.ndarray] = []
    for i, path in enumerate(paths):
        image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            continue
        det = filter_detections(pack.detect(image), settings.min_face_px, settings.min_detection_score)
        no_face += not len(det)
        if len(det):
            pending.append(pack.align(image, det))
        if pending and ((i + 1) % 32 == 0 or i == len(paths) - 1):
            vectors = pack.embed(np.concatenate(pending))
            faces += len(vectors)
            pending = []
    seconds = time.monotonic() - t0
    out = {
        "name": "prototype",
        "kind": "prototype",
        "images": len(paths),
        "faces": faces,
        "no_face": no_face,
        "seconds": round(seconds, 3),
        "images_per_s": round(len(paths) / seconds, 2),
        **harness._rusage_mb(),
    }
    harness._cpu_fields(out, cpu0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", default="yunet-reid")
    ap.add_argument("--seed", type=int, default=harness.DEFAULT_SEED)
    ap.add_argument("--models-dir", type=Path, default=harness.default_models_dir())
    ap.add_argument("--workers", type=int, default=None, help="Ingest worker processes (default: the product's).")
    ap.add_argument("--out", type=Path, default=Path("bench-results"))
    args = ap.parse_args()
    paths = [str(p) for p in harness.pick_images(args.data, args.images, args.seed)]
    settings = {"models_dir": str(args.models_dir) if args.models_dir else None}
    env = harness.environment({**settings, "model": args.model, "workers": args.workers})
    tmp = Path(tempfile.mkdtemp(prefix="facesearch-prototype-"))
    runs: list[dict[str, Any]] = []
    try:
        for rep in range(args.repeat):
            cases = ["ingest", "prototype"] if rep % 2 == 0 else ["prototype", "ingest"]
            for case in cases:
                home = tmp / f"{case}-{rep}"
                spec = {"case": case, "model": args.model, "home": str(home), "paths": paths, "settings": settings}
                if case == "ingest":
                    spec["workers"] = args.workers
                result = harness.run_case(spec)
                result["repeat"], result["case"] = rep, case
                runs.append(result)
                shutil.rmtree(home, ignore_errors=True)
                print(
                    f"repeat {rep + 1}: {case:9s} {result['images_per_s']:7.1f} images/s, "
                    f"{result['cpu_ms_per_image']:6.2f} CPU ms/image, peak {result['peak_rss_mb']:.0f} MB, "
                    f"faces {result['faces']}, load {result['loadavg_before'][0]}",
                    file=sys.stderr,
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {}
    for case in ("ingest", "prototype"):
        rs = [r for r in runs if r["case"] == case]
        summary[case] = {
            "images_per_s": statistics.median(r["images_per_s"] for r in rs),
            "images_per_s_all": [r["images_per_s"] for r in rs],
            "cpu_ms_per_image": statistics.median(r["cpu_ms_per_image"] for r in rs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "faces": rs[0]["faces"],
        }
    ratios = [
        i["images_per_s"] / p["images_per_s"]
        for i, p in (
            (
                next(r for r in runs if r["repeat"] == k and r["case"] == "ingest"),
                next(r for r in runs if r["repeat"] == k and r["case"] == "prototype"),
            )
            for k in range(args.repeat)
        )
    ]
    summary["ingest_over_prototype_per_repeat"] = [round(x, 3) for x in ratios]
    report = {
        "benchmark": "prototype",
        **env,
        "data": str(args.data),
        "images": len(paths),
        "summary": summary,
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-prototype.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
