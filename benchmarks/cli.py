"""How fast the command line starts: `facesearch --help`, and a CLI search of a gallery, wall time, medians.

    .venv/bin/python benchmarks/cli.py --repeat 15                                   # --help only
    facesearch bench ingest --images 8200 --model yunet-reid --baseline none --keep-home /tmp/g10k
    .venv/bin/python benchmarks/cli.py --home /tmp/g10k --probe src/facesearch/demo/obama-east-room.jpg

Each run is a fresh `facesearch` process (the console script of this interpreter, this checkout's `src` first on
PYTHONPATH), timed from its start to its exit, as a user or a script calling it sees it (hyperfine's way:
warm-up runs first, then the median and the spread of the rest). The search runs as an examiner with a case
reference and the purpose BENCH (added to the home if missing), `--json`, the gallery's first collection; its
first run also fills the home's compile cache, as any first command does. `python -X importtime` breaks an
import down (`--importtime` writes the --help one beside the results). Writes
bench-results/<UTC time>-cli.json with the machine, commit, packages and load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402  (benchmarks/harness.py)

GOALS = {"help_s": 0.3, "search_s": 0.8}
PURPOSE = "BENCH"


def facesearch_command(src: Path | None = None) -> list[str]:
    """What the `facesearch` console script runs, for the checkout at `src` (its entry point: `cli.main` since
    0.4.0, `cli.app` before), so that a baseline checkout starts the way its own release did."""
    init = (src / "facesearch" / "cli" / "__init__.py") if src else None
    if init is not None and init.exists() and "def main(" not in init.read_text():
        return [sys.executable, "-c", "import sys; from facesearch.cli import app; sys.exit(app())"]
    script = shutil.which("facesearch", path=str(Path(sys.executable).parent))
    fallback = "import sys; from facesearch.cli import main; sys.exit(main())"
    return [script] if script else [sys.executable, "-c", fallback]


def timed(args: list[str], env: dict[str, str], repeat: int, warmup: int) -> dict[str, Any]:
    walls = []
    for i in range(warmup + repeat):
        t0 = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
        if i >= warmup:
            walls.append(wall)
    return {
        "median_s": round(statistics.median(walls), 4),
        "min_s": round(min(walls), 4),
        "max_s": round(max(walls), 4),
        "runs_s": [round(w, 4) for w in walls],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--home", type=Path, help="A home with a gallery (bench ingest --keep-home) for the search.")
    ap.add_argument("--probe", type=Path, default=harness.repo_root() / "src/facesearch/demo/obama-east-room.jpg")
    ap.add_argument("--importtime", action="store_true", help="Also write `-X importtime` of --help.")
    ap.add_argument("--old-src", type=Path, help="Also time another checkout's src (the baseline, same run).")
    ap.add_argument("--out", type=Path, default=Path("bench-results"))
    args = ap.parse_args()
    report = {"benchmark": "cli", **harness.environment({"command": facesearch_command()})}
    report["loadavg_before"] = os.getloadavg()
    variants = {"new": harness.repo_root() / "src"}
    if args.old_src:
        variants["old"] = args.old_src.resolve()
    for name, src in variants.items():
        report[name] = measure(args, src)
    report["loadavg_after"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = args.out / f"{stamp}-cli.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    if args.importtime:
        env = {**os.environ, "PYTHONPATH": str(variants["new"])}
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "facesearch.cli", "--help"],
            env=env,
            capture_output=True,
            text=True,
        )
        (args.out / f"{stamp}-cli-importtime.txt").write_text(done.stderr)
    print(
        json.dumps(
            {k: v for k, v in report.items() if k in ("new", "old", "loadavg_before", "loadavg_after")}, indent=1
        )
    )
    print(f"results: {path}", file=sys.stderr)
    return 0


def measure(args: argparse.Namespace, src: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    # As a user's shell runs it: Python keeps the bytecode it compiles (a build box's PYTHONDONTWRITEBYTECODE
    # would make every start compile facesearch's own modules again, about 0.1 s); the warm-up runs write it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = facesearch_command(src)
    report: dict[str, Any] = {"src": str(src), "command": cmd}
    report["help"] = timed([*cmd, "--help"], env, args.repeat, args.warmup)
    print(f"{src}: facesearch --help: median {report['help']['median_s']:.3f} s", file=sys.stderr)
    if args.home:
        env_home = {**env, "FACESEARCH_HOME": str(args.home)}
        models = harness.default_models_dir()
        if models and "FACESEARCH_MODELS_DIR" not in env_home:
            env_home["FACESEARCH_MODELS_DIR"] = str(models)
        admin = [*cmd, "--role", "admin"]
        listed = subprocess.run([*admin, "purposes", "list", "--json"], env=env_home, capture_output=True, text=True)
        if PURPOSE not in listed.stdout:
            subprocess.run(
                [*admin, "purposes", "add", PURPOSE, "--description", "benchmarks/cli.py"], env=env_home, check=True
            )
        search = [*cmd, "search", str(args.probe), "--case", "BENCH-1", "--purpose", PURPOSE, "--json"]
        report["search"] = timed(search, env_home, args.repeat, args.warmup)
        out = json.loads(subprocess.run(search, env=env_home, capture_output=True, text=True, check=True).stdout)
        report["search"]["gallery_faces"] = out.get("gallery_size")
        print(f"{src}: facesearch search: median {report['search']['median_s']:.3f} s", file=sys.stderr)
    report["goals"] = {
        name: {"goal_s": goal, "met": report[key]["median_s"] <= goal}
        for name, goal in GOALS.items()
        if (key := name.removesuffix("_s")) in report
    }
    return report


if __name__ == "__main__":
    raise SystemExit(main())
