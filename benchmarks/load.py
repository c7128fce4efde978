"""Load check of the web service: N concurrent clients searching on loopback for a bounded time.

Builds a temporary gallery from LFW (../shared), starts `uvicorn facesearch.server:create_app` in its own
process on a free loopback port, then runs N client threads that each POST /api/v1/search in a loop with
held-out LFW photos until the time is up. Reports requests/s and p50/p95/p99 latency (JSON with --json).

    .venv/bin/python benchmarks/load.py --clients 4 --seconds 20
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:8000 --token fs_... --probes DIR   # a running server

Every search is a real, audited search (case reference "LOAD-TEST"), so the numbers include the audit write.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACESEARCH_SHARED", ROOT.parent / "shared"))
PURPOSE = "LOAD: load test"  # an allowed purpose code; a server given by --url needs it too
LFW = SHARED / "datasets" / "lfw" / "deepfunneled"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_gallery(home: Path, people: int, per_person: int, model: str, data: Path = LFW) -> tuple[str, list[Path]]:
    """Ingest `people` identities of `data` (LFW layout: one folder per person; per_person photos each);
    returns (token, held-out probe photos)."""
    from facesearch.app import accounts, limits, purposes
    from facesearch.app.collection import create_collection
    from facesearch.app.context import Actor, Context
    from facesearch.app.ingest import Item, ingest
    from facesearch.config import Settings

    settings = Settings(home=home, model=model, workers=1)
    ctx = Context.open(settings)
    admin, operator = Actor("benchmark", "admin", via="cli"), Actor("benchmark", "operator", via="cli")
    accounts.add_user(ctx, admin, "load", "examiner", "Quartz-Meadow-Lantern-93")
    token = accounts.create_token(ctx, admin, "load", "benchmark").token
    names = sorted(d.name for d in data.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) > per_person)
    items, probes = [], []
    for name in names[:people]:
        photos = sorted((data / name).glob("*.jpg"))
        items += [Item(p) for p in photos[:per_person]]
        probes.append(photos[per_person])
    # A documented collection and an allowed purpose are needed before ingest and search.
    create_collection(
        ctx,
        operator,
        "load",
        source="LFW sample for the load check",
        legal_basis="legitimate_interests",
        owner="benchmark",
        retention_days=1,
        keep=False,
        model=model,
    )
    purposes.add_purpose(ctx, admin, "LOAD", "load check")
    # The check measures throughput; per-user limits (kept in the home) would turn most requests into 429s.
    limits.set_limits(ctx, admin, 0, 0)
    t = time.perf_counter()
    res = ingest(ctx, operator, items, "load", workers=1, source="load check")
    print(f"gallery: {res.ingested} images, {res.faces} faces in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    ctx.store.close()
    return token, probes


def start_server(home: Path, port: int, model: str) -> subprocess.Popen:
    env = dict(os.environ, FACESEARCH_HOME=str(home), FACESEARCH_MODEL=model)
    env.setdefault("FACESEARCH_MODELS_DIR", str(SHARED / "models"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "facesearch.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the server did not start within 60 s")


def run_load(url: str, token: str, probes: list[Path], clients: int, seconds: float) -> dict:
    payloads = [(p.name, p.read_bytes()) for p in probes]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    # Warm-up: the first search loads the model pack and the index.
    httpx.post(
        f"{url}/api/v1/search",
        headers={"Authorization": f"Bearer {token}"},
        files={"probe": payloads[0]},
        data={"case_ref": "LOAD-WARMUP", "purpose": PURPOSE},
        timeout=120,
    )
    start = time.perf_counter()
    stop_at = start + seconds

    def client(i: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            n = i
            while time.perf_counter() < stop_at:
                name, data = payloads[n % len(payloads)]
                n += clients
                t = time.perf_counter()
                try:
                    status = c.post(
                        "/api/v1/search",
                        files={"probe": (name, data, "image/jpeg")},
                        data={"case_ref": "LOAD-TEST", "purpose": PURPOSE, "top_k": "10"},
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "ok": statuses.get(200, 0),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "requests_per_second": round(len(latencies) / elapsed, 2),
        "latency_ms": {
            "p50": round(pct(0.50), 1),
            "p95": round(pct(0.95), 1),
            "p99": round(pct(0.99), 1),
            "mean": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
            "max": round(latencies[-1] * 1000, 1) if latencies else None,
        },
    }


# `facesearch bench serve`: searches while an ingest runs; a soak with the server's memory and files sampled --
def serve_setup(home: Path, data: Path, people: int, per_person: int, model: str) -> dict[str, Any]:
    """The gallery of `build_gallery`, an operator token for the ingest that runs during the load, and the
    photos of `data` outside the gallery (what that ingest uploads)."""
    from facesearch.app import accounts
    from facesearch.app.context import Actor, Context
    from facesearch.config import Settings

    token, probes = build_gallery(home, people, per_person, model, data)
    ctx = Context.open(Settings(home=home, model=model, workers=1))
    admin = Actor("benchmark", "admin", via="cli")
    accounts.add_user(ctx, admin, "load-ingest", "operator", "Quartz-Meadow-Lantern-93")
    operator = accounts.create_token(ctx, admin, "load-ingest", "benchmark").token
    ctx.store.close()
    names = sorted(d.name for d in data.iterdir() if d.is_dir())
    in_gallery = {p.parent.name for p in probes}
    extra = [p for n in names if n not in in_gallery for p in sorted((data / n).glob("*.jpg"))]
    return {"token": token, "operator_token": operator, "probes": probes, "extra": extra}


def process_sample(pid: int) -> dict[str, float]:
    """Resident memory (MB) of a process and its children, and its open file descriptors, from /proc."""
    page = os.sysconf("SC_PAGE_SIZE")
    rss, stack, seen = 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            rss += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page
            for task in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        fds = -1
    return {"rss_mb": round(rss / 2**20, 1), "open_files": fds}


def growth(samples: list[dict[str, float]], warmup: float = 0.2) -> dict[str, Any]:
    """First, last and largest RSS and open files after the first `warmup` share of the samples, and the
    least-squares slope per minute over the same samples (a leak shows as a steady positive slope)."""
    if not samples:
        return {}
    rest = samples[int(len(samples) * warmup) :] or samples
    out: dict[str, Any] = {"n_samples": len(samples), "after_warmup": len(rest)}
    for key in ("rss_mb", "open_files"):
        ys = [s[key] for s in rest]
        ts = [s["t"] / 60 for s in rest]
        slope = 0.0
        if len(rest) > 1 and max(ts) > min(ts):
            mt, my = statistics.fmean(ts), statistics.fmean(ys)
            slope = sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / sum((t - mt) ** 2 for t in ts)
        out[key] = {
            "first": ys[0],
            "last": ys[-1],
            "max": max(ys),
            "growth": round(ys[-1] - ys[0], 1),
            "slope_per_minute": round(slope, 3),
        }
    return out


def run_serve(
    url: str,
    pid: int | None,
    token: str,
    operator_token: str,
    probes: list[Path],
    extra: list[Path],
    clients: int,
    seconds: float,
    ingest_batch: int = 20,
    sample_seconds: float = 5.0,
    collection: str = "load",
) -> dict[str, Any]:
    """`run_load`'s searching clients while one operator ingests `extra` in uploaded batches (one job after
    another, cycling when all are in: repeats are skipped as duplicates), with the server's memory and open
    files sampled every `sample_seconds` (when its pid is known)."""
    stop = threading.Event()
    samples: list[dict[str, float]] = []
    ingest: dict[str, Any] = {"jobs": 0, "failed_jobs": 0, "images": 0, "duplicates": 0, "errors": 0}
    start = time.perf_counter()

    def sampler() -> None:
        while pid is not None and not stop.is_set():
            samples.append({"t": round(time.perf_counter() - start, 1), **process_sample(pid)})
            stop.wait(sample_seconds)

    def ingester() -> None:
        if not extra:
            return
        n = 0
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {operator_token}"}, timeout=120) as c:
            while not stop.is_set():
                batch = [extra[(n + i) % len(extra)] for i in range(min(ingest_batch, len(extra)))]
                n += len(batch)
                try:
                    r = c.post(
                        "/api/v1/ingest",
                        data={"collection": collection},
                        files=[("files", (p.name, p.read_bytes(), "image/jpeg")) for p in batch],
                    )
                    if r.status_code != 202:
                        ingest["errors"] += 1
                        stop.wait(1)
                        continue
                    job_id = r.json()["job_id"]
                    while not stop.is_set():
                        job = c.get(f"/api/v1/jobs/{job_id}").json()
                        if job.get("status") in ("done", "failed"):
                            break
                        stop.wait(0.5)
                    else:
                        break
                    ingest["jobs"] += 1
                    ingest["failed_jobs"] += job.get("status") == "failed"
                    res = job.get("counts") or {}
                    ingest["images"] += int(res.get("ingested") or 0)
                    ingest["duplicates"] += int(res.get("duplicates") or 0)
                except (httpx.HTTPError, ValueError):
                    ingest["errors"] += 1

    helpers = [threading.Thread(target=sampler, daemon=True), threading.Thread(target=ingester, daemon=True)]
    for t in helpers:
        t.start()
    try:
        result = run_load(url, token, probes, clients, seconds)
    finally:
        stop.set()
        for t in helpers:
            t.join(130)
    if pid is not None:
        samples.append({"t": round(time.perf_counter() - start, 1), **process_sample(pid)})
    errors = sum(v for k, v in result["statuses"].items() if k != "200")
    return {**result, "errors": errors, "ingest": ingest, "server": {"samples": samples, **growth(samples)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--people", type=int, default=100, help="LFW identities in the gallery")
    ap.add_argument("--per-person", type=int, default=3)
    ap.add_argument("--model", default="yunet-reid")
    ap.add_argument("--url", help="Load an already running server instead of starting one.")
    ap.add_argument("--token", help="API token of an examiner (with --url).")
    ap.add_argument("--probes", type=Path, help="Folder of probe photos (with --url).")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    if args.url:
        if not (args.token and args.probes):
            raise SystemExit("--url needs --token and --probes")
        probes = sorted(p for p in args.probes.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        result = run_load(args.url.rstrip("/"), args.token, probes, args.clients, args.seconds)
    else:
        if not LFW.is_dir():
            raise SystemExit(f"LFW not found at {LFW}; use --url/--token/--probes against your own server")
        with tempfile.TemporaryDirectory(prefix="facesearch-load-") as tmp:
            home = Path(tmp) / "home"
            token, probes = build_gallery(home, args.people, args.per_person, args.model)
            port = free_port()
            proc = start_server(home, port, args.model)
            try:
                result = run_load(f"http://127.0.0.1:{port}", token, probes, args.clients, args.seconds)
            finally:
                proc.terminate()
                proc.wait(10)
        result["gallery"] = {"people": args.people, "per_person": args.per_person, "model": args.model}
    result["cpus"] = os.cpu_count()
    if args.json:
        print(json.dumps(result))
    else:
        lat = result["latency_ms"]
        print(
            f"{result['clients']} clients, {result['seconds']} s: {result['requests']} searches "
            f"({result['ok']} ok), {result['requests_per_second']} req/s; latency p50 {lat['p50']} ms, "
            f"p95 {lat['p95']} ms, p99 {lat['p99']} ms, max {lat['max']} ms; statuses {result['statuses']}"
        )


if __name__ == "__main__":
    main()
