"""Same-run A/B of ingest variants, interleaved, each run in a fresh subprocess (benchmarks/harness.py).

    git archive HEAD src | tar -x -C /tmp/head        # the code to compare with (any commit)
    .venv/bin/python benchmarks/compare.py --old-src /tmp/head/src --data DIR --images 300 --repeat 3

Variants: `old` (the package imported from --old-src, through PYTHONPATH), `new` (this checkout) and
`new-no-decode-ahead` (this checkout, decoding in the pipeline's thread instead of the reader thread).
Prints each run, then the median images/s, CPU ms per image and peak memory of each variant.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import default_data_dir, default_models_dir, pick_images, repo_root, run_case  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-src", type=Path, default=None, help="A src/ folder of the code to compare with.")
    ap.add_argument("--data", type=Path, default=default_data_dir())
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", default="yunet-reid")
    ap.add_argument("--no-decode-ahead", action="store_true", help="Also run new-no-decode-ahead.")
    args = ap.parse_args()
    paths = [str(p) for p in pick_images(args.data, args.images)]
    models = default_models_dir()
    variants: dict[str, dict[str, Any]] = {}
    if args.old_src:
        variants["old"] = {"pythonpath": str(args.old_src.resolve())}
    # This checkout's package, whichever one the interpreter has installed (a worktree beside the main checkout).
    here = {"pythonpath": str(repo_root() / "src")}
    variants["new"] = dict(here)
    if args.no_decode_ahead:
        variants["new-no-decode-ahead"] = {**here, "decode_ahead": False}
    tmp = Path(tempfile.mkdtemp(prefix="facesearch-compare-"))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    saved = os.environ.get("PYTHONPATH")
    try:
        for rep in range(args.repeat):
            order = list(variants) if rep % 2 == 0 else list(reversed(variants))
            for name in order:
                v = variants[name]
                home = tmp / f"{name}-{rep}"
                spec: dict[str, Any] = {
                    "case": "ingest",
                    "model": args.model,
                    "home": str(home),
                    "paths": paths,
                    "settings": {"models_dir": str(models) if models else None},
                }
                if "decode_ahead" in v:
                    spec["decode_ahead"] = v["decode_ahead"]
                if "pythonpath" in v:
                    os.environ["PYTHONPATH"] = v["pythonpath"]
                else:
                    os.environ.pop("PYTHONPATH", None)
                try:
                    r = run_case(spec)
                finally:
                    if saved is None:
                        os.environ.pop("PYTHONPATH", None)
                    else:
                        os.environ["PYTHONPATH"] = saved
                shutil.rmtree(home, ignore_errors=True)
                runs[name].append(r)
                print(
                    json.dumps(
                        {
                            "variant": name,
                            "repeat": rep,
                            "images_per_s": r["images_per_s"],
                            "faces": r["faces"],
                            "cpu_ms_per_image": r["cpu_ms_per_image"],
                            "peak_rss_mb": r["peak_rss_mb"],
                            "first_progress_s": r.get("first_progress_s"),
                            "load": r["loadavg_before"][0],
                        }
                    ),
                    flush=True,
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name, rs in runs.items():
        print(
            f"{name}: median {statistics.median(r['images_per_s'] for r in rs):.1f} images/s "
            f"({', '.join(str(r['images_per_s']) for r in rs)}), "
            f"{statistics.median(r['cpu_ms_per_image'] for r in rs):.1f} CPU ms/image, "
            f"peak {max(r['peak_rss_mb'] for r in rs):.0f} MB, faces {rs[0]['faces']}"
        )


if __name__ == "__main__":
    main()
