"""Video analysis speed: `facesearch bench video`, against face_recognition's way, in the same run.

What is measured, per clip: facesearch's whole video scan (`facesearch.pipeline.video.analyse_video`: decode,
sample at the default rate plus scene cuts, detect, align, embed, link into tracks, keep the best faces with
their thumbnails) from the open file to the finished `VideoAnalysis`, the pack loaded beforehand. Reported:
frames analysed per second (sampled frames / wall seconds) and the video-time speed (seconds of video per
wall second, "x real time"), with CPU seconds beside them. The machine is shared: beside the wall-clock
figures, a CPU-bound projection (seconds of video per CPU second, times the usable cores for facesearch, times
one for the single-threaded baseline) says what each would reach with the cores to itself. It is labelled as a
projection, not a measurement.

The baseline is face_recognition's own example for a video file (`examples/facerec_from_video_file.py`):
OpenCV's `VideoCapture` reads every frame, and `face_recognition.face_locations` (dlib's HOG detector, one
upsampling) and `face_encodings` run on a frame. Here they run on the same frames facesearch samples (the first
frame at or after each 1/fps of a second), not on every frame as the example does: the same sampling, as the
issue asks. Its models load before the clock starts. At 1080p it takes seconds per frame, so by default it
runs on the first `baseline_seconds` of each clip; its speed is a rate and compares as one.

The clips are made here from LFW photos (the repository has no video and cannot ship any), encoded with libx264
at the bit rates YouTube recommends uploading at 30 fps (360p 1 Mbit/s, 720p 5, 1080p 8), 30 frames per
second: a background of LFW photos cut into blocks and shuffled (texture, no faces) panning slowly, sensor-like
noise, and people (LFW photos with exactly one face) walking across, fading in and out, up to three at a time,
faces from 6% to 17% of the frame height, on screen from 0.8 to 4 s. Two encodings: `b` (x264's defaults:
B-frames, as broadcast and web video) and `p` (P-frames only, as phones and CCTV record). A JSON file beside
each clip lists who is on screen when; each case also reports how many of the people on screen for 2 s or
more were found (rank 1 among the clip's tracks, above the pack's 1:1 threshold, probed with another photo of
them). The clips are cached in `<out>/video-clips/` by their settings.

Every case runs in a fresh Python process (`python benchmarks/video.py facesearch|face_recognition`, a JSON
spec on stdin), its memory sampled by the harness's sampler. Loaded by `facesearch.cli.bench` from the source
checkout, like `benchmarks/harness.py`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SIZES = {360: (640, 360), 720: (1280, 720), 1080: (1920, 1080)}
BITRATES = {360: 1_000_000, 720: 5_000_000, 1080: 8_000_000}  # YouTube's recommended uploads at 30 fps
FRAME_RATE = 30
GOALS = {"x_real_time_1080p": 4.0, "x_face_recognition_1080p": 10.0}
MIN_FOUND_SECONDS = 2.0
EXTRA_PACKAGES = ("av",)


@dataclass
class VideoBenchOptions:
    data: Path
    sizes: list[int] = field(default_factory=lambda: [360, 720, 1080])
    encodings: list[str] = field(default_factory=lambda: ["b", "p"])  # p: only at the largest size
    seconds: float = 20.0
    fps: float | None = None  # sampling; None: facesearch's default
    baseline: str | None = "face_recognition"
    baseline_seconds: float = 6.0
    repeat: int = 1
    threads: int | None = None  # the pack's threads (None: FACESEARCH_THREADS_PER_WORKER)
    seed: int = 1234
    out: Path = Path("bench-results")
    log: Callable[[str], None] = field(default=lambda _m: None)


# Clips --------------------------------------------------------------------------------------------
@dataclass
class Walker:
    photo: str
    probe: str
    person: str
    start: float
    end: float
    y: float  # top, fraction of the frame height
    size: float  # photo side, fraction of the frame height (the face is about 40% of it)
    direction: int  # +1 left to right, -1 right to left


def _people(data: Path, rng: random.Random, count: int) -> list[tuple[str, Path, Path]]:
    """(name, photo shown, probe photo) for `count` people with at least two photos."""
    folders = sorted(p for p in data.iterdir() if p.is_dir())
    rng.shuffle(folders)
    out = []
    for folder in folders:
        photos = sorted(folder.glob("*.jpg"))
        if len(photos) >= 2:
            out.append((folder.name, photos[0], photos[1]))
        if len(out) >= count * 3:
            break
    return out


def _one_face(paths: list[tuple[str, Path, Path]], count: int) -> list[tuple[str, Path, Path]]:
    """Keep people whose shown and probe photos each hold exactly one face (LFW photos often show a second
    person, who would be a track nobody is looking for)."""
    import cv2

    from facesearch.config import Settings
    from facesearch.models import load_pack
    from facesearch.pipeline.analysis import analyze

    pack = load_pack("yunet-reid", Settings(), 1)
    kept = []
    for name, shown, probe in paths:
        found = analyze(pack, [cv2.imread(str(shown)), cv2.imread(str(probe))])
        if all(len(f) == 1 for f in found):
            kept.append((name, shown, probe))
        if len(kept) == count:
            break
    return kept


def plan(data: Path, seconds: float, seed: int) -> list[Walker]:
    """Who walks across when: staggered, at most three at a time, 0.8 to 4 s each."""
    rng = random.Random(seed)
    durations = [0.8, 1.2, 2.0, 2.5, 3.0, 4.0]
    count = max(3, int(seconds * 0.6))
    people = _one_face(_people(data, rng, count), count)
    walkers, t, lane = [], 0.3, 0
    for i, (name, shown, probe) in enumerate(people):
        duration = durations[i % len(durations)]
        if t + duration > seconds - 0.3:
            break
        walkers.append(
            Walker(
                str(shown),
                str(probe),
                name,
                round(t, 2),
                round(t + duration, 2),
                0.08 + 0.27 * lane,
                rng.uniform(0.15, 0.42),
                1 if i % 2 == 0 else -1,
            )  # fmt: skip
        )
        lane = (lane + 1) % 3
        t += rng.uniform(0.6, 1.6)
    return walkers


def _block_texture(data: Path, width: int, height: int, seed: int) -> np.ndarray:
    """LFW photos cut into 16x16 blocks and shuffled: photographic texture and colour, no face."""
    import cv2

    rng = np.random.default_rng(seed)
    photos = sorted(data.rglob("*.jpg"))
    chosen = [photos[i] for i in rng.choice(len(photos), 24, replace=False)]
    blocks = []
    for p in chosen:
        img = cv2.imread(str(p))
        blocks += [img[y : y + 16, x : x + 16] for y in range(0, 240, 16) for x in range(0, 240, 16)]
    order = rng.permutation(len(blocks))
    cols, rows = -(-width // 16), -(-height // 16)
    tiles = [blocks[order[i % len(order)]] for i in range(rows * cols)]
    grid = np.vstack([np.hstack(tiles[r * cols : (r + 1) * cols]) for r in range(rows)])
    return cv2.GaussianBlur(grid[:height, :width], (0, 0), 1.2)


def make_clip(data: Path, size: int, encoding: str, seconds: float, seed: int, folder: Path) -> Path:
    """The clip for these settings, written once (the JSON beside it lists the walkers)."""
    import av
    import cv2

    width, height = SIZES[size]
    path = folder / f"lfw-{size}p-{encoding}-{seconds:g}s-seed{seed}.mp4"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    walkers = plan(data, seconds, seed)
    bg = _block_texture(data, width * 2, height + height // 4, seed)
    rng = np.random.default_rng(seed)
    noise = [rng.integers(-5, 6, (height, width, 3), dtype=np.int16) for _ in range(7)]
    photos = {w.photo: cv2.imread(w.photo) for w in walkers}
    tmp = path.with_suffix(".part.mp4")
    out = av.open(str(tmp), "w")
    stream = out.add_stream("libx264", rate=FRAME_RATE)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.bit_rate = BITRATES[size]
    stream.options = {"preset": "veryfast", **({"bf": "0"} if encoding == "p" else {})}
    n = round(seconds * FRAME_RATE)
    for i in range(n):
        t = i / FRAME_RATE
        ox = int(t * 0.015 * width) % width  # a slow pan, 1.5% of the width per second
        oy = int((1 + np.sin(t / 3)) * height // 8)
        frame = bg[oy : oy + height, ox : ox + width].copy()
        for w in walkers:
            alpha = _opacity(w, t)
            if alpha <= 0:
                continue
            x, y, side = walker_rect(w, t, width, height)
            photo = cv2.resize(photos[w.photo], (side, side), interpolation=cv2.INTER_AREA)
            x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + side), min(height, y + side)
            patch = photo[y0 - y : y1 - y, x0 - x : x1 - x]
            if alpha < 1:
                patch = (alpha * patch + (1 - alpha) * frame[y0:y1, x0:x1]).astype(np.uint8)
            frame[y0:y1, x0:x1] = patch
        frame = np.clip(frame.astype(np.int16) + noise[i % len(noise)], 0, 255).astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    tmp.replace(path)
    meta.write_text(json.dumps({"walkers": [asdict(w) for w in walkers], "frame_rate": FRAME_RATE}, indent=1))
    return path


def walker_rect(w: Walker, t: float, width: int, height: int) -> tuple[int, int, int]:
    """Left, top and side of the walker's photo at time t: across 60% of the frame width, at an even pace."""
    side = int(w.size * height)
    travel = (t - w.start + 0.3) / (w.end - w.start + 0.6)
    x = int((0.05 + 0.6 * travel) * width) if w.direction > 0 else int((0.95 - 0.6 * travel) * width) - side
    return x, int(w.y * height), side


def _opacity(w: Walker, t: float, fade: float = 0.3) -> float:
    if w.start <= t < w.end:
        return 1.0
    if w.start - fade < t < w.start:
        return (t - w.start + fade) / fade
    if w.end <= t < w.end + fade:
        return 1.0 - (t - w.end) / fade
    return 0.0


# Cases (each in its own process) ---------------------------------------------------------------------
def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def _case_facesearch(spec: dict[str, Any]) -> dict[str, Any]:
    from facesearch.calibration.tables import load_table
    from facesearch.config import Settings
    from facesearch.models import load_pack
    from facesearch.pipeline.analysis import analyze
    from facesearch.pipeline.video import ScanOptions, analyse_video
    from facesearch.pipeline.video.reader import Sampling

    settings = Settings()
    threads = spec.get("threads") or settings.threads_per_worker
    pack = load_pack("yunet-reid", settings, threads)
    sampling = Sampling(fps=spec["fps"]) if spec.get("fps") else Sampling()
    options = ScanOptions.from_settings(settings, sampling=sampling)
    path = Path(spec["clip"])
    cpu0, t0 = _cpu(), time.monotonic()
    analysis = analyse_video(path, pack, options)
    wall = time.monotonic() - t0
    cpu = _cpu() - cpu0
    # Who was found: each walker on screen >= 2 s, probed with another photo of them.
    import cv2

    walkers = json.loads(path.with_suffix(".json").read_text())["walkers"]
    threshold = load_table(pack.info.name).threshold_for_fmr(settings.verify_fmr)
    found = long = found_short = short = 0
    for w in walkers:
        is_long = w["end"] - w["start"] >= MIN_FOUND_SECONDS
        long += is_long
        short += not is_long
        faces = analyze(pack, [cv2.imread(w["probe"])])[0]
        if not len(faces) or not analysis.tracks:
            continue
        probe = faces.embeddings[faces.largest()]
        scored = [(max(float(f.embedding @ probe) for f in t.faces), t) for t in analysis.tracks]
        score, best = max(scored, key=lambda s: s[0])
        hit = score >= threshold and _follows(best, w, analysis.info.width, analysis.info.height)
        found += hit and is_long
        found_short += hit and not is_long
    duration = analysis.info.duration or analysis.report.seconds
    r = analysis.report
    return {
        "case": "facesearch",
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "video_s": round(duration, 3),
        "frames_decoded": r.frames_decoded,
        "frames_analysed": r.frames_sampled,
        "faces": r.faces,
        "tracks": len(analysis.tracks),
        "cuts": r.cuts,
        "frames_analysed_per_s": round(r.frames_sampled / wall, 2),
        "x_real_time": round(duration / wall, 2),
        "cpu_bound_x_real_time": round(duration * len(os.sched_getaffinity(0)) / cpu, 2) if cpu else None,
        "found": found,
        "on_screen_2s": long,
        "found_short": found_short,
        "on_screen_short": short,
        "issues": [i.reason for i in r.issues],
        "threads": threads,
        "fps": sampling.fps,
        "self_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _follows(track: Any, walker: dict[str, Any], width: int, height: int) -> bool:
    """Whether the track's best face is where this walker's photo was at that time."""
    face = track.best
    x, y, side = walker_rect(Walker(**walker), face.time, width, height)
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    return _opacity(Walker(**walker), face.time) > 0 and x <= cx <= x + side and y <= cy <= y + side


def _case_face_recognition(spec: dict[str, Any]) -> dict[str, Any]:
    """facerec_from_video_file.py's loop: VideoCapture reads every frame; on the sampled ones, HOG face
    locations (one upsampling, its default) and encodings of the RGB frame."""
    import cv2
    import face_recognition

    fps = float(spec["fps"])
    limit = float(spec["seconds"])
    capture = cv2.VideoCapture(spec["clip"])
    rate = capture.get(cv2.CAP_PROP_FPS) or FRAME_RATE
    face_recognition.face_locations(np.zeros((64, 64, 3), np.uint8))  # models loaded before the clock
    cpu0, t0 = _cpu(), time.monotonic()
    index = analysed = faces = 0
    next_due = 0.0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        t = index / rate
        if t >= limit:
            break
        index += 1
        if t < next_due - 1e-6:
            continue
        next_due = (int(t * fps + 1e-6) + 1) / fps
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        locations = face_recognition.face_locations(rgb)
        faces += len(face_recognition.face_encodings(rgb, locations))
        analysed += 1
    wall = time.monotonic() - t0
    cpu = _cpu() - cpu0
    capture.release()
    video_s = index / rate
    return {
        "case": "face_recognition",
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "video_s": round(video_s, 3),
        "frames_decoded": index,
        "frames_analysed": analysed,
        "faces": faces,
        "frames_analysed_per_s": round(analysed / wall, 3),
        "x_real_time": round(video_s / wall, 3),
        "cpu_bound_x_real_time": round(video_s / cpu, 3) if cpu else None,  # one thread: one core
        "fps": fps,
        "self_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


CASES = {"facesearch": _case_facesearch, "face_recognition": _case_face_recognition}


def run_case(spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    harness = _harness()
    load_before = os.getloadavg()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), spec["case"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with harness.RssSampler(proc.pid) as sampler:
        out, errs = proc.communicate(json.dumps(spec), timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"video bench case {spec['case']} failed (exit {proc.returncode}):\n{errs[-4000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    result: dict[str, Any] = json.loads(lines[-1])
    result["peak_rss_mb"] = round(max(sampler.peak_mb, result.get("self_max_rss_mb", 0.0)), 1)
    result["loadavg_before"] = [round(x, 2) for x in load_before]
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


# The benchmark ----------------------------------------------------------------------------------------
def bench_video(opts: VideoBenchOptions) -> dict[str, Any]:
    from facesearch.pipeline.video import DEFAULT_FPS

    fps = opts.fps or DEFAULT_FPS
    clips_dir = opts.out / "video-clips"
    largest = max(opts.sizes)
    cases = [(s, e) for s in sorted(opts.sizes) for e in opts.encodings if e == "b" or s == largest]
    clips = {}
    for size, encoding in cases:
        opts.log(f"clip {size}p ({encoding}), {opts.seconds:g} s: writing once, then cached in {clips_dir}")
        clips[(size, encoding)] = make_clip(opts.data, size, encoding, opts.seconds, opts.seed, clips_dir)
    runs: list[dict[str, Any]] = []
    for rep in range(opts.repeat):
        for size, encoding in cases if rep % 2 == 0 else list(reversed(cases)):
            clip = clips[(size, encoding)]
            base = {"clip": str(clip), "fps": fps, "size": size, "encoding": encoding, "repeat": rep}
            opts.log(f"[{rep + 1}/{opts.repeat}] facesearch {size}p ({encoding})")
            run = run_case({**base, "case": "facesearch", "threads": opts.threads})
            runs.append({**base, **run, "bitrate_mbps": _mbps(clip, run["video_s"])})
            if opts.baseline:
                opts.log(
                    f"[{rep + 1}/{opts.repeat}] face_recognition {size}p ({encoding}), {opts.baseline_seconds:g} s"
                )
                run = run_case({**base, "case": "face_recognition", "seconds": opts.baseline_seconds})
                runs.append({**base, **run})
    rows = summarise(runs)
    settings = {
        "sizes": opts.sizes,
        "encodings": opts.encodings,
        "seconds": opts.seconds,
        "sampling_fps": fps,
        "baseline": opts.baseline,
        "baseline_seconds": opts.baseline_seconds,
        "repeat": opts.repeat,
        "threads": opts.threads,
        "seed": opts.seed,
        "frame_rate": FRAME_RATE,
        "bitrates": {f"{k}p": v for k, v in BITRATES.items()},
        "x264": "preset veryfast; b: 3 B-frames (x264 default); p: no B-frames",
    }
    report = {"benchmark": "video", **_harness().environment(settings), "rows": rows, "runs": runs}
    report["packages"].update({name: _version(name) for name in EXTRA_PACKAGES})
    report["goals"] = goals(rows)
    return report


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _mbps(clip: Path, seconds: float) -> float:
    return round(clip.stat().st_size * 8 / max(seconds, 1e-9) / 1e6, 2)


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per clip: facesearch's medians and the baseline's, and the speed-up of video-time speeds."""
    rows = []
    keys = sorted({(r["size"], r["encoding"]) for r in runs})
    for size, encoding in keys:
        ours = [r for r in runs if (r["size"], r["encoding"], r["case"]) == (size, encoding, "facesearch")]
        theirs = [r for r in runs if (r["size"], r["encoding"], r["case"]) == (size, encoding, "face_recognition")]
        med = _medians(ours, ["wall_s", "cpu_s", "frames_analysed_per_s", "x_real_time", "cpu_bound_x_real_time"])
        row: dict[str, Any] = {
            "case": f"{size}p {encoding}",
            "size": size,
            "encoding": encoding,
            "bitrate_mbps": ours[0]["bitrate_mbps"],
            "video_s": ours[0]["video_s"],
            "frames_analysed": ours[0]["frames_analysed"],
            "faces": ours[0]["faces"],
            "tracks": ours[0]["tracks"],
            "found": f"{ours[0]['found']}/{ours[0]['on_screen_2s']}",
            "found_short": f"{ours[0]['found_short']}/{ours[0]['on_screen_short']}",
            "peak_mb": max(r["peak_rss_mb"] for r in ours),
            **med,
            "x_real_time_runs": [r["x_real_time"] for r in ours],
        }
        if theirs:
            b = _medians(theirs, ["frames_analysed_per_s", "x_real_time", "cpu_bound_x_real_time"])
            row["baseline_frames_analysed_per_s"] = b["frames_analysed_per_s"]
            row["baseline_x_real_time"] = b["x_real_time"]
            row["baseline_cpu_bound_x_real_time"] = b["cpu_bound_x_real_time"]
            row["baseline_video_s"] = theirs[0]["video_s"]
            row["speedup"] = round(med["x_real_time"] / b["x_real_time"], 1) if b["x_real_time"] else None
            ours_cpu, theirs_cpu = med["cpu_bound_x_real_time"], b["cpu_bound_x_real_time"]
            row["cpu_bound_speedup"] = round(ours_cpu / theirs_cpu, 1) if ours_cpu and theirs_cpu else None
        rows.append(row)
    return rows


def _medians(runs: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    out = {}
    for k in keys:
        values = [r[k] for r in runs if r.get(k) is not None]
        out[k] = round(statistics.median(values), 3) if values else None
    return out


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        if row["size"] != 1080:
            continue
        out.append(
            {
                "goal": f"1080p ({row['encoding']}) at the default sampling >= "
                f"{GOALS['x_real_time_1080p']:g}x real time",
                "measured": row["x_real_time"],
                "met": row["x_real_time"] >= GOALS["x_real_time_1080p"],
            }
        )
        if row.get("speedup") is not None:
            out.append(
                {
                    "goal": f"1080p ({row['encoding']}) >= {GOALS['x_face_recognition_1080p']:g}x "
                    "face_recognition's way",
                    "measured": row["speedup"],
                    "met": row["speedup"] >= GOALS["x_face_recognition_1080p"],
                }
            )
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) < 100 else f"{v:.1f}"
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = [
        "case",
        "Mbit/s",
        "video s",
        "frames analysed",
        "faces",
        "tracks",
        "found >=2 s",
        "found <2 s",
        "wall s",
        "CPU s",
        "frames analysed/s",
        "x real time",
        "runs",
        "peak MB",
        "face_recognition frames/s",
        "face_recognition x real time",
        "speed-up",
        "CPU-bound x real time",
        "face_recognition CPU-bound",
        "CPU-bound speed-up",
    ]
    rows = []
    for r in report["rows"]:
        rows.append(
            [
                r["case"],
                _fmt(r["bitrate_mbps"]),
                _fmt(r["video_s"]),
                str(r["frames_analysed"]),
                str(r["faces"]),
                str(r["tracks"]),
                r["found"],
                r["found_short"],
                _fmt(r["wall_s"]),
                _fmt(r["cpu_s"]),
                _fmt(r["frames_analysed_per_s"]),
                _fmt(r["x_real_time"]),
                _fmt(r["x_real_time_runs"]),
                _fmt(r["peak_mb"]),
                _fmt(r.get("baseline_frames_analysed_per_s")),
                _fmt(r.get("baseline_x_real_time")),
                _fmt(r.get("speedup")),
                _fmt(r.get("cpu_bound_x_real_time")),
                _fmt(r.get("baseline_cpu_bound_x_real_time")),
                _fmt(r.get("cpu_bound_speedup")),
            ]
        )
    return head, rows


def context_line(report: dict[str, Any]) -> str:
    return str(_harness().context_line(report))


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    head, rows = table_rows(report)
    lines = [
        "# facesearch bench video",
        "",
        context_line(report),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if report.get("goals"):
        lines += ["", "| goal | measured | met |", "|---|---|---|"]
        lines += [f"| {g['goal']} | {_fmt(g['measured'])} | {'yes' if g['met'] else 'no'} |" for g in report["goals"]]
    lines += [
        "",
        "settings: `" + json.dumps(report["settings"]) + "`",
        "packages: `" + json.dumps(report["packages"]) + "`",
        "",
    ]
    return _harness().save_report(report, out_dir, "video", "\n".join(lines) + "\n")


# Plumbing ----------------------------------------------------------------------------------------
def _harness() -> Any:
    """benchmarks/harness.py (machine, commit and package records, the memory sampler), loaded by path."""
    name = "facesearch_benchmarks_harness"
    path = Path(__file__).resolve().with_name("harness.py")
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def case_main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in CASES:
        print(f"usage: python benchmarks/video.py {{{'|'.join(CASES)}}} < spec.json", file=sys.stderr)
        return 2
    spec = json.loads(sys.stdin.read())
    print(json.dumps(CASES[argv[0]](spec), default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(case_main(sys.argv[1:]))
