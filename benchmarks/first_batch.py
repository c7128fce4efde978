"""A/B of growing batches: ingest throughput with the first batch at 1 image (growing to batch_images, the
product's default) against full batches from the start, interleaved, each run in a fresh subprocess.

    .venv/bin/python benchmarks/first_batch.py [--images 1000] [--repeat 3] [--data DIR]

Prints each run's images/s, when progress was first reported and how many reports there were, and the
medians. Growing batches should cost nothing at steady state: only the first 31 images go in small batches.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import default_data_dir, default_models_dir, pick_images, run_case  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", default="yunet-reid")
    ap.add_argument("--data", type=Path, default=default_data_dir())
    args = ap.parse_args()
    paths = [str(p) for p in pick_images(args.data, args.images)]
    models = default_models_dir()
    tmp = Path(tempfile.mkdtemp(prefix="facesearch-first-batch-"))
    runs: dict[int, list[dict]] = {1: [], 32: []}
    try:
        for rep in range(args.repeat):
            for first in (1, 32) if rep % 2 == 0 else (32, 1):
                home = tmp / f"{first}-{rep}"
                spec = {
                    "case": "ingest",
                    "model": args.model,
                    "home": str(home),
                    "paths": paths,
                    "first_batch": first,
                    "settings": {"models_dir": str(models) if models else None},
                }
                r = run_case(spec)
                shutil.rmtree(home, ignore_errors=True)
                runs[first].append(r)
                print(
                    json.dumps(
                        {
                            "first_batch": first,
                            "repeat": rep,
                            "images_per_s": r["images_per_s"],
                            "first_progress_s": r["first_progress_s"],
                            "progress_reports": r["progress_reports"],
                            "cpu_ms_per_image": r["cpu_ms_per_image"],
                            "load": r["loadavg_before"][0],
                        }
                    ),
                    flush=True,
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for first, rs in runs.items():
        print(
            f"first batch {first}: median {statistics.median(r['images_per_s'] for r in rs):.1f} images/s, "
            f"first progress after {statistics.median(r['first_progress_s'] for r in rs):.2f} s, "
            f"{statistics.median(r['progress_reports'] for r in rs):.0f} reports"
        )


if __name__ == "__main__":
    main()
