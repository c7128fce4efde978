"""The probe quality gate reason by reason, and the ingest quality floor, measured on photos like those users
search with, not only on LFW's centred, mostly frontal faces (`facesearch eval gate`).

Every probe of every set is searched *forced* (as `search --force` does) against a gallery of other photos of
the same people plus distractors, and its quality score and reason codes are kept beside the outcome. For each
reason the report gives the share of probes it would refuse and how often those probes' mates come first when
they are searched anyway, beside the probes the gate accepts. A reason earns a refusal only where its refused
probes do clearly worse than the accepted ones (`decide`); elsewhere the product searches and warns.

The sets:

- `lfw`: every LFW deep-funneled photo in the open-set protocol of `protocols.open_set_split` (news photos taken
  in the wild, but picked by a frontal face detector, so strong poses are rare);
- `lfw-degraded`: a seeded subset of LFW's mated probes degraded as in the robustness report (blur, downscale,
  JPEG, light, rotation, flip, occlusion): where BLURRY and SMALL_FACE come from;
- `mixed`: photos of mixed sizes made by `benchmarks/mixed_sizes.py` (LFW photos pasted at 6-45% of the short
  side into phone and web geometries, JPEG quality 55-95, EXIF rotation), decoded and analysed as ingest does;
  every pasted face of a person enrolled in the LFW gallery (never the enrolled photo itself) is a probe;
- `att`: AT&T/ORL, 40 people x 10 studio photos with head turns (pose), a quarter of the people held out;
- `wild`: the real photos of ../shared/datasets/peers (the `face_recognition` project's examples and tests)
  and the demo portraits bundled with facesearch, labelled by hand in `WILD`: 7 people; each face is searched
  against the LFW gallery plus the other photos of these people, never against a copy of its own photo (faces
  of one person scoring 0.9 or more are taken as copies of one photo: resized or cropped versions).

The ingest floor: for each candidate floor, the share of labelled faces (the probes above) and of unusable
detections that fall below it, and the rank-1 of the labelled faces below it. Unusable: in `mixed`, detections
outside every pasted photo, i.e. in the backdrop (an LFW photo enlarged ~64 times and blurred: sometimes a face,
never one anybody could be found by); in `wild`, the detections in `WILD_JUNK` (no face at all). There is no
larger set of non-faces here: the figures for them are thin, and the floor is chosen on its cost in labelled
faces (`choose_floor`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from evaluation import protocols
from evaluation.datasets import LabelledSet, folder_dataset, lfw_all
from evaluation.embed import REASON_CODES, Embedded, embed_full
from evaluation.metrics import wilson
from evaluation.robustness import standard
from facesearch.config import Settings
from facesearch.models import load_pack
from facesearch.models.base import ModelPack
from facesearch.pipeline import imaging
from facesearch.pipeline.analysis import FaceSet, analyze

Progress = Callable[[str, int, int], None]

# A reason refuses only when its refused probes' rank-1 (forced) is at least this far below the accepted
# probes' rank-1 in a set where it refuses enough probes to say so, and the two 95% intervals do not overlap.
CLEAR_MARGIN = 0.15
MIN_REFUSED = 20
NATURAL = ("lfw", "mixed", "att", "wild")  # sets of photos as they were taken (not degraded on purpose)
FLOORS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
FLOOR_COST = 0.005  # share of the labelled faces of natural photos an ingest floor may drop
COPY_SCORE = 0.9  # two faces of one person scoring this high are one photo (resized, cropped or re-encoded)

# The hand-labelled real photos: (path under the peers folder or "demo/", identity, which face): the face is
# the only or the largest one unless "left" / "right" names the one whose box centre is furthest that way.
WILD: tuple[tuple[str, str, str], ...] = (
    ("examples/obama.jpg", "barack_obama", "largest"),
    ("examples/obama2.jpg", "barack_obama", "largest"),
    ("examples/obama-240p.jpg", "barack_obama", "largest"),
    ("examples/obama-480p.jpg", "barack_obama", "largest"),
    ("examples/obama-720p.jpg", "barack_obama", "largest"),
    ("examples/obama-1080p.jpg", "barack_obama", "largest"),
    ("examples/obama_small.jpg", "barack_obama", "largest"),
    ("examples/knn_examples/test/obama1.jpg", "barack_obama", "largest"),
    ("examples/knn_examples/test/obama_and_biden.jpg", "barack_obama", "right-of-two"),
    ("examples/knn_examples/test/obama_and_biden.jpg", "joe_biden", "left-of-two"),
    ("examples/two_people.jpg", "barack_obama", "left"),
    ("examples/two_people.jpg", "joe_biden", "right"),
    ("tests/test_images/obama3.jpg", "barack_obama", "largest"),
    ("tests/test_images/obama_partial_face.jpg", "barack_obama", "largest"),
    ("tests/test_images/obama_partial_face2.jpg", "barack_obama", "largest"),
    ("examples/biden.jpg", "joe_biden", "largest"),
    ("examples/knn_examples/train/biden/biden2.jpg", "joe_biden", "largest"),
    ("examples/knn_examples/train/kit_harington/john1.jpeg", "kit_harington", "largest"),
    ("examples/knn_examples/train/kit_harington/john2.jpeg", "kit_harington", "largest"),
    ("examples/knn_examples/test/johnsnow_test1.jpg", "kit_harington", "largest"),
    ("examples/knn_examples/test/kit_with_rose.jpg", "kit_harington", "right"),
    ("examples/knn_examples/test/kit_with_rose.jpg", "rose_leslie", "left"),
    ("examples/knn_examples/train/rose_leslie/img1.jpg", "rose_leslie", "largest"),
    ("examples/knn_examples/train/rose_leslie/img2.jpg", "rose_leslie", "largest"),
    ("examples/alex-lacamoire.png", "alex_lacamoire", "largest"),
    ("examples/knn_examples/train/alex_lacamoire/img1.jpg", "alex_lacamoire", "largest"),
    ("examples/knn_examples/test/alex_lacamoire1.jpg", "alex_lacamoire", "largest"),
    ("examples/lin-manuel-miranda.png", "lin_manuel_miranda", "largest"),
    ("demo/obama-official-portrait.jpg", "barack_obama", "largest"),
    ("demo/obama-east-room.jpg", "barack_obama", "largest"),
    ("demo/biden-official-portrait.jpg", "joe_biden", "largest"),
    ("demo/eileen-collins-nasa.jpg", "eileen_collins", "largest"),
)
# Photos whose other detections are no face (a landscape painting behind the sitter).
WILD_JUNK: tuple[str, ...] = ("examples/knn_examples/train/biden/biden2.jpg",)


@dataclass
class Probes:
    """Labelled probe faces of one set: searched forced, with what the gate would say about each."""

    name: str
    hit: np.ndarray  # (n,) bool: the mate is first
    found: np.ndarray  # (n,) bool: a face was found
    quality: np.ndarray  # (n,) float32
    reasons: np.ndarray  # (n,) uint8 bitmask over REASON_CODES
    tag: list[str] = field(default_factory=list)  # e.g. the degradation of each probe
    unusable_quality: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # detections of no face

    @staticmethod
    def concat(name: str, parts: list[Probes]) -> Probes:
        return Probes(
            name,
            np.concatenate([p.hit for p in parts]),
            np.concatenate([p.found for p in parts]),
            np.concatenate([p.quality for p in parts]),
            np.concatenate([p.reasons for p in parts]),
            [t for p in parts for t in p.tag],
            np.concatenate([p.unusable_quality for p in parts]),
        )


@dataclass
class Lfw:
    """LFW embedded once, its open-set split and its gallery: the other sets search against it."""

    ds: LabelledSet
    e: Embedded
    split: protocols.Split
    codes: np.ndarray
    gallery: np.ndarray  # image indices enrolled (a face found)

    @property
    def enrolled(self) -> dict[str, int]:
        """Identity -> its enrolled image index (people with 2+ photos only)."""
        multi = {self.ds.labels[i] for i in self.split.mated}
        return {self.ds.labels[i]: int(i) for i in self.gallery if self.ds.labels[i] in multi}

    def rank1(self, emb: np.ndarray, identity: np.ndarray) -> np.ndarray:
        """Whether each embedded face's best gallery entry is its own person (identity codes)."""
        if not len(emb):
            return np.zeros(0, bool)
        best = np.argmax(emb @ self.e.emb[self.gallery].T, axis=1)
        hit: np.ndarray = self.codes[self.gallery][best] == identity
        return hit


def load_lfw(root: Path, pack: str, settings: Settings, cache: Path | None, seed: int, progress: Progress) -> Lfw:
    ds = lfw_all(root)
    e = embed_full(ds, pack, settings, cache, progress=lambda d, n: progress("embedding LFW", d, n))
    split = protocols.open_set_split(ds.labels, e.ok, np.ones(len(ds), bool), seed)
    return Lfw(ds, e, split, protocols.identity_codes(ds.labels), split.gallery[e.ok[split.gallery]])


def _from_open_set(name: str, res: Any, q: np.ndarray, reasons: np.ndarray, tag: list[str]) -> Probes:
    return Probes(name, res.mated_rank == 1, res.mated_rank > 0, q.astype(np.float32), reasons.astype(np.uint8), tag)


def lfw_probes(lfw: Lfw) -> Probes:
    res = protocols.identification(lfw.e, lfw.ds.labels, lfw.split)
    m = lfw.split.mated
    return _from_open_set("lfw", res, lfw.e.quality[m], lfw.e.reasons[m], ["clean"] * len(m))


def degraded_probes(
    lfw: Lfw, pack: str, settings: Settings, cache: Path | None, n: int, seed: int, progress: Progress
) -> Probes:
    """A seeded subset of the mated probes under each degradation of the robustness report."""
    rng = np.random.default_rng(seed + 1)
    m = np.sort(rng.choice(lfw.split.mated, min(n, len(lfw.split.mated)), replace=False))
    sub = LabelledSet(f"lfw-gate{seed}", lfw.ds.root, [lfw.ds.images[i] for i in m], [lfw.ds.labels[i] for i in m])
    split = protocols.Split(lfw.split.gallery, m, np.zeros(0, np.int64), lfw.split.distractors, lfw.split.rule)
    boxes, lms = lfw.e.boxes[m], lfw.e.landmarks[m]
    parts = []
    degs = standard()
    for k, d in enumerate(degs):
        progress("degraded LFW probes", k, len(degs))

        def tf(img: np.ndarray, i: int, d: Any = d) -> np.ndarray:
            out: np.ndarray = d.fn(img, boxes[i], lms[i])
            return out

        de = embed_full(sub, pack, settings, cache, transform=tf, transform_key=f"degrade-{d.key}")
        res = protocols.identification(lfw.e, lfw.ds.labels, split, de.emb, de.ok)
        parts.append(_from_open_set("lfw-degraded", res, de.quality, de.reasons, [d.key] * len(m)))
    progress("degraded LFW probes", len(degs), len(degs))
    return Probes.concat("lfw-degraded", parts)


def att_probes(root: Path, pack: str, settings: Settings, cache: Path | None, seed: int) -> Probes:
    ds = folder_dataset(root, name="att")
    e = embed_full(ds, pack, settings, cache)
    split = protocols.open_set_split(ds.labels, e.ok, np.ones(len(ds), bool), seed)
    res = protocols.identification(e, ds.labels, split)
    m = split.mated
    return _from_open_set("att", res, e.quality[m], e.reasons[m], ["studio"] * len(m))


def _mixed_sizes_module() -> ModuleType:
    """benchmarks/mixed_sizes.py of this checkout (the benchmarks are scripts, not a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "mixed_sizes.py"
    spec = importlib.util.spec_from_file_location("facesearch_benchmarks_mixed_sizes", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _face_in_tile(fs: FaceSet, tile: dict[str, Any]) -> int | None:
    """The detection of a pasted photo's own face: the one whose centre is nearest the tile's centre, within a
    quarter of the tile's side (LFW centres its person's face; other faces in the photo are bystanders)."""
    if not len(fs):
        return None
    side = float(tile["side"])
    centre = np.array([tile["x"] + side / 2, tile["y"] + side / 2])
    d = np.linalg.norm((fs.boxes[:, :2] + fs.boxes[:, 2:]) / 2 - centre, axis=1)
    i = int(np.argmin(d))
    return i if d[i] <= side / 4 else None


def _inside_any(box: np.ndarray, tiles: list[dict[str, Any]]) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(t["x"] <= cx <= t["x"] + t["side"] and t["y"] <= cy <= t["y"] + t["side"] for t in tiles)


def mixed_probes(lfw: Lfw, pack: ModelPack, settings: Settings, count: int, seed: int, progress: Progress) -> Probes:
    """The photos `mixed_sizes.py --count COUNT --seed SEED` writes (the same random draws, made in memory),
    decoded and analysed as ingest does; every pasted face of an enrolled person is a probe."""
    ms = _mixed_sizes_module()
    lfw_root = lfw.ds.root
    sources = ms.list_images(lfw_root)
    index = {p: i for i, p in enumerate(lfw.ds.images)}
    enrolled = lfw.enrolled
    code_of = {lab: int(c) for lab, c in zip(lfw.ds.labels, lfw.codes)}
    rng = random.Random(seed)
    emb, ident, q, reasons, found = [], [], [], [], []
    unusable: list[float] = []
    for n in range(count):
        progress("mixed-size photos", n, count)
        width, height = ms.pick_size(rng)
        tiles: list[dict[str, Any]] = []
        image, _ = ms.make_photo(sources, width, height, rng, tiles)
        jpeg_q = rng.randint(55, 95)
        orientation = rng.choice((3, 6, 8)) if rng.random() < ms.EXIF_ROTATED else 1
        decoded = imaging.decode_image(ms.encode(image, jpeg_q, orientation), settings.max_pixels)
        fs = analyze(pack, [decoded], settings.min_face_px, settings.min_detection_score)[0]
        unusable.extend(float(fs.quality[i]) for i in range(len(fs)) if not _inside_any(fs.boxes[i], tiles))
        for tile in tiles:
            src = Path(tile["source"])
            person = src.parent.name
            if person not in enrolled or enrolled[person] == index.get(src):
                continue  # not a mated probe: a person with one photo, or the gallery's own photo
            i = _face_in_tile(fs, tile)
            found.append(i is not None)
            ident.append(code_of[person])
            if i is None:
                emb.append(np.zeros(lfw.e.emb.shape[1], np.float32))
                q.append(0.0)
                reasons.append(0)
                continue
            emb.append(fs.embeddings[i])
            q.append(float(fs.quality[i]))
            reasons.append(sum(1 << b for b, code in enumerate(REASON_CODES) if code in fs.reasons[i]))
    progress("mixed-size photos", count, count)
    ok = np.array(found, bool)
    hit = lfw.rank1(np.array(emb, np.float32).reshape(len(emb), -1), np.array(ident)) & ok
    tags = ["mixed"] * len(ok)
    return Probes("mixed", hit, ok, np.array(q, np.float32), np.array(reasons, np.uint8), tags, np.array(unusable))


def _pick(fs: FaceSet, which: str) -> int | None:
    if not len(fs):
        return None
    cx = (fs.boxes[:, 0] + fs.boxes[:, 2]) / 2
    if which == "left":
        return int(np.argmin(cx))
    if which == "right":
        return int(np.argmax(cx))
    if which in ("left-of-two", "right-of-two"):  # of the two largest faces
        area = (fs.boxes[:, 2] - fs.boxes[:, 0]) * (fs.boxes[:, 3] - fs.boxes[:, 1])
        two = np.argsort(-area)[:2]
        pick = np.argmin(cx[two]) if which == "left-of-two" else np.argmax(cx[two])
        return int(two[pick])
    return fs.largest()


def wild_probes(lfw: Lfw, pack: ModelPack, settings: Settings, peers: Path, demo: Path) -> Probes:
    """The hand-labelled real photos, each face against the LFW gallery plus the other photos of its people
    (leave one photo out: copies of the same photo are left out with it)."""
    seen: set[tuple[str, str]] = set()
    rows: list[tuple[str, str, np.ndarray | None, float, int]] = []  # (file sha, identity, emb, quality, reasons)
    unusable: list[float] = []
    for rel, person, which in WILD:
        path = demo / rel.removeprefix("demo/") if rel.startswith("demo/") else peers / rel
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if (sha, person) in seen:
            continue
        seen.add((sha, person))
        fs = analyze(pack, [imaging.decode_image(data, settings.max_pixels)], settings.min_face_px)[0]
        i = _pick(fs, which)
        if i is None:
            rows.append((sha, person, None, 0.0, 0))
            continue
        bits = sum(1 << b for b, code in enumerate(REASON_CODES) if code in fs.reasons[i])
        rows.append((sha, person, fs.embeddings[i], float(fs.quality[i]), bits))
        if rel in WILD_JUNK:
            unusable.extend(float(fs.quality[k]) for k in range(len(fs)) if k != i)
    # Photos of one person whose faces score COPY_SCORE or more are one photo (union of near duplicates).
    group = list(range(len(rows)))

    def root(k: int) -> int:
        while group[k] != k:
            k = group[k]
        return k

    for a in range(len(rows)):
        for b in range(a + 1, len(rows)):
            ea, eb = rows[a][2], rows[b][2]
            if rows[a][1] == rows[b][1] and ea is not None and eb is not None and float(ea @ eb) >= COPY_SCORE:
                group[root(b)] = root(a)
    gal = lfw.e.emb[lfw.gallery]
    people = sorted({r[1] for r in rows})
    code = {p: -1 - k for k, p in enumerate(people)}  # never an LFW identity code
    hit, found, q, reasons = [], [], [], []
    for a, (_, person, e, quality, bits) in enumerate(rows):
        others = [b for b, r in enumerate(rows) if r[2] is not None and root(b) != root(a)]
        if not any(rows[b][1] == person for b in others):
            continue  # no other photo of this person: not a mated probe
        found.append(e is not None)
        q.append(quality)
        reasons.append(bits)
        if e is None:
            hit.append(False)
            continue
        scores = np.concatenate([gal @ e, np.array([float(rows[b][2] @ e) for b in others])])
        ids = np.concatenate([lfw.codes[lfw.gallery], np.array([code[rows[b][1]] for b in others])])
        hit.append(bool(ids[int(np.argmax(scores))] == code[person]))
    n = len(hit)
    return Probes(
        "wild",
        np.array(hit, bool),
        np.array(found, bool),
        np.array(q, np.float32),
        np.array(reasons, np.uint8),
        ["wild"] * n,
        np.array(unusable, np.float32),
    )


# Tables ------------------------------------------------------------------------------------------------
def _rate(k: int, n: int) -> dict[str, Any]:
    if n == 0:
        return {"value": None, "k": 0, "n": 0, "ci95": None}
    lo, hi = wilson(k, n)
    return {"value": k / n, "k": int(k), "n": int(n), "ci95": [float(lo), float(hi)]}


def reason_rows(p: Probes, gate: float) -> list[dict[str, Any]]:
    """Per reason: the probes the gate would refuse with it (any of their reasons) and alone, and their rank-1
    when searched anyway, beside the rank-1 of the probes the gate accepts."""
    accepted = p.found & (p.quality >= gate)
    below = p.found & (p.quality < gate)
    n = int(p.found.sum())
    rest = _rate(int(p.hit[accepted].sum()), int(accepted.sum()))
    rows = []
    for b, code in enumerate(REASON_CODES):
        has = below & ((p.reasons & (1 << b)) > 0)
        alone = below & (p.reasons == (1 << b))
        rows.append(
            {
                "reason": code,
                "refused": _rate(int(has.sum()), n),
                "rank1_refused_forced": _rate(int(p.hit[has].sum()), int(has.sum())),
                "refused_alone": int(alone.sum()),
                "rank1_alone_forced": _rate(int(p.hit[alone].sum()), int(alone.sum())),
                "rank1_accepted": rest,
            }
        )
    none = below & (p.reasons == 0)
    rows.append(
        {
            "reason": "(none: low score only)",
            "refused": _rate(int(none.sum()), n),
            "rank1_refused_forced": _rate(int(p.hit[none].sum()), int(none.sum())),
            "refused_alone": int(none.sum()),
            "rank1_alone_forced": _rate(int(p.hit[none].sum()), int(none.sum())),
            "rank1_accepted": rest,
        }
    )
    rows.append(
        {
            "reason": "(all refused)",
            "refused": _rate(int(below.sum()), n),
            "rank1_refused_forced": _rate(int(p.hit[below].sum()), int(below.sum())),
            "refused_alone": int(below.sum()),
            "rank1_alone_forced": _rate(int(p.hit[below].sum()), int(below.sum())),
            "rank1_accepted": rest,
        }
    )
    return rows


def decide(sets: list[Probes], gate: float) -> dict[str, dict[str, Any]]:
    """Refuse a reason only where the probes it alone would refuse, pooled over every set, are found at rank 1
    at least CLEAR_MARGIN less often than the probes the gate accepts (pooled the same way), with the two 95%
    intervals apart and at least MIN_REFUSED such probes; warn otherwise. Alone: a probe with two reasons says
    nothing about either one. Pooled: one set's quirk (40-degree in-plane rotation flags EXTREME_POSE on
    landmarks that are off) weighs by its share of the evidence, not as a veto."""
    hit = np.concatenate([p.hit for p in sets])
    found = np.concatenate([p.found for p in sets])
    q = np.concatenate([p.quality for p in sets])
    reasons = np.concatenate([p.reasons for p in sets])
    accepted = found & (q >= gate)
    rest = _rate(int(hit[accepted].sum()), int(accepted.sum()))
    out: dict[str, dict[str, Any]] = {}
    for b, code in enumerate(REASON_CODES):
        alone = found & (q < gate) & (reasons == (1 << b))
        forced = _rate(int(hit[alone].sum()), int(alone.sum()))
        clear = bool(
            forced["n"] >= MIN_REFUSED
            and rest["value"] - forced["value"] >= CLEAR_MARGIN
            and forced["ci95"][1] < rest["ci95"][0]
        )
        out[code] = {"refuse": clear, "rank1_alone_forced": forced, "rank1_accepted": rest}
    return out


def choose_floor(floors: dict[str, list[dict[str, Any]]], natural: tuple[str, ...]) -> float:
    """The highest floor that costs at most FLOOR_COST of the labelled faces in each set of natural photos
    (degraded probes are made poor on purpose, so they do not set the cost)."""
    best = 0.0
    for k, f in enumerate(FLOORS):
        if all(floors[name][k]["faces_below"]["value"] <= FLOOR_COST for name in natural if name in floors):
            best = f
    return best


def floor_rows(sets: list[Probes]) -> list[dict[str, Any]]:
    """Per candidate ingest floor: the labelled faces and the unusable detections below it, and how often the
    labelled faces below it are found at rank 1 (their worth in a gallery)."""
    hit = np.concatenate([p.hit[p.found] for p in sets])
    q = np.concatenate([p.quality[p.found] for p in sets])
    unusable = np.concatenate([p.unusable_quality for p in sets])
    rows = []
    for f in FLOORS:
        below = q < f
        rows.append(
            {
                "floor": f,
                "faces_below": _rate(int(below.sum()), len(q)),
                "rank1_below": _rate(int(hit[below].sum()), int(below.sum())),
                "rank1_above": _rate(int(hit[~below].sum()), int((~below).sum())),
                "unusable_below": _rate(int((unusable < f).sum()), len(unusable)),
            }
        )
    return rows


def run_gate(
    lfw_root: Path,
    att_root: Path | None,
    peers_root: Path | None,
    demo_root: Path,
    pack_name: str,
    settings: Settings,
    cache: Path | None,
    *,
    seed: int = 0,
    mixed_count: int = 600,
    mixed_seed: int = 1234,
    degraded: int = 600,
    progress: Progress | None = None,
) -> dict[str, Any]:
    prog = progress or (lambda _s, _d, _n: None)
    gate = settings.probe_min_quality
    lfw = load_lfw(lfw_root, pack_name, settings, cache, seed, prog)
    pack = load_pack(pack_name, settings, settings.workers)
    sets = [lfw_probes(lfw), degraded_probes(lfw, pack_name, settings, cache, degraded, seed, prog)]
    sets.append(mixed_probes(lfw, pack, settings, mixed_count, mixed_seed, prog))
    if att_root is not None and att_root.is_dir():
        sets.append(att_probes(att_root, pack_name, settings, cache, seed))
    if peers_root is not None and peers_root.is_dir():
        sets.append(wild_probes(lfw, pack, settings, peers_root, demo_root))
    tables = {p.name: reason_rows(p, gate) for p in sets}
    floors = {p.name: floor_rows([p]) for p in sets}
    per_degradation = {}
    deg = next(p for p in sets if p.name == "lfw-degraded")
    for tag in dict.fromkeys(deg.tag):
        sel = np.array([t == tag for t in deg.tag])
        sub = Probes(tag, deg.hit[sel], deg.found[sel], deg.quality[sel], deg.reasons[sel])
        per_degradation[tag] = {"probes": int(sel.sum()), "no_face": float(1 - sub.found.mean()), **_summary(sub, gate)}
    return {
        "pack": pack_name,
        "gate": gate,
        "seed": seed,
        "mixed": {"count": mixed_count, "seed": mixed_seed},
        "degraded_probes": degraded,
        "clear_margin": CLEAR_MARGIN,
        "min_refused": MIN_REFUSED,
        "sets": {p.name: {"probes": len(p.hit), "found": int(p.found.sum()), **_summary(p, gate)} for p in sets},
        "reasons": tables,
        "per_degradation": per_degradation,
        "decision": decide(sets, gate),
        "floor": floors,
        "floor_chosen": choose_floor(floors, NATURAL),
        "floor_cost": FLOOR_COST,
        "unusable_detections": {p.name: int(len(p.unusable_quality)) for p in sets},
    }


def _summary(p: Probes, gate: float) -> dict[str, Any]:
    acc = p.found & (p.quality >= gate)
    below = p.found & (p.quality < gate)
    return {
        "rank1_forced": _rate(int(p.hit[p.found].sum()), int(p.found.sum())),
        "refused": _rate(int(below.sum()), int(p.found.sum())),
        "rank1_accepted": _rate(int(p.hit[acc].sum()), int(acc.sum())),
        "rank1_refused_forced": _rate(int(p.hit[below].sum()), int(below.sum())),
    }


# Markdown -----------------------------------------------------------------------------------------------
def _pct(r: dict[str, Any]) -> str:
    if r["value"] is None:
        return "n/a"
    lo, hi = r["ci95"]
    return f"{100 * r['value']:.1f}% ({r['k']}/{r['n']}; {100 * lo:.0f}-{100 * hi:.0f}%)"


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"Pack `{r['pack']}`, gate {r['gate']:g}; rank-1 of a probe searched anyway (forced) against the "
        "gallery; 95% Wilson intervals.",
        "",
        "| set | probes (face found) | refused by the gate | rank-1 accepted | rank-1 refused, forced |",
        "|---|---|---|---|---|",
    ]
    for name, s in r["sets"].items():
        lines.append(
            f"| {name} | {s['found']} | {_pct(s['refused'])} | {_pct(s['rank1_accepted'])} | "
            f"{_pct(s['rank1_refused_forced'])} |"
        )
    lines += [
        "",
        "| set | reason | refused with it (share of probes) | rank-1 of those, forced | with it alone | "
        "rank-1 alone, forced | rank-1 accepted |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in r["reasons"].items():
        for row in rows:
            if row["refused"]["k"] == 0:
                continue
            lines.append(
                f"| {name} | {row['reason']} | {_pct(row['refused'])} | {_pct(row['rank1_refused_forced'])} | "
                f"{row['refused_alone']} | {_pct(row['rank1_alone_forced'])} | {_pct(row['rank1_accepted'])} |"
            )
    lines += ["", "| reason | decision | rank-1 refused for it alone, forced (all sets) | rank-1 accepted (all sets) |"]
    lines.append("|---|---|---|---|")
    for code, d in r["decision"].items():
        verdict = "refuse" if d["refuse"] else "warn"
        lines.append(f"| {code} | {verdict} | {_pct(d['rank1_alone_forced'])} | {_pct(d['rank1_accepted'])} |")
    lines += [
        "",
        "| set | ingest floor | labelled faces below it | their rank-1 | rank-1 above it | unusable below it |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in r["floor"].items():
        for f in rows:
            if f["floor"] == 0:
                continue
            lines.append(
                f"| {name} | {f['floor']:g} | {_pct(f['faces_below'])} | {_pct(f['rank1_below'])} | "
                f"{_pct(f['rank1_above'])} | {_pct(f['unusable_below'])} |"
            )
    lines += [
        "",
        f"Chosen ingest floor: {r['floor_chosen']:g} (the highest that drops at most "
        f"{100 * r['floor_cost']:g}% of the labelled faces of each set of natural photos).",
    ]
    return "\n".join(lines) + "\n"


SETS_TEXT = """- **lfw**: every LFW deep-funneled photo in the open-set protocol (Protocols; gallery: one photo of each
  person with 2+ photos and half the single-photo people; the other photos are mated probes). News photos
  taken in the wild, but picked by a frontal face detector: strong poses are rare.
- **lfw-degraded**: {degraded} of LFW's mated probes (seed {seed1}), each degraded in the 12 ways of the
  robustness report (downscale, blur, JPEG, light, contrast, rotation, flip, occlusion): where BLURRY and
  SMALL_FACE come from. Made poor on purpose.
- **mixed**: the {mixed} photos of `benchmarks/mixed_sizes.py --count {mixed} --seed {mixed_seed}` (LFW photos
  pasted at 6-45% of the short side into phone and web geometries from 320x240 to 4032x3024, JPEG 55-95, one in
  eight EXIF-rotated), decoded and analysed as ingest does; every pasted face of a person enrolled in the LFW
  gallery is a probe (never the enrolled photo itself), searched against the LFW gallery.
- **att**: AT&T/ORL, 40 people x 10 studio photos with head turns; a quarter of the people held out.
- **wild**: the only real in-the-wild photos here: the `face_recognition` project's examples and test images
  (`../shared/datasets/peers`) and the four demo portraits, labelled by hand (`evaluation/gate.py`, `WILD`): 7
  people, 30 mated probe faces once copies of the same photo are merged (faces of one person scoring 0.9 or more
  are one photo, resized or cropped). Each is searched against the LFW gallery plus the other photos of these
  people. Its limits: tiny, mostly frontal press portraits of famous people, and not one of its faces is below
  the gate, so it can say nothing about a reason; it shows only that the gate leaves such photos alone. The
  trial behind issue 20 (214 photos of 25 people nobody here has seen, 2 of 30 probes refused as EXTREME_POSE
  and both right when forced) is not in the repository."""


def docs_section(r: dict[str, Any], report: str = "accuracy/gate/report.json") -> str:
    """The gate and the ingest floor as docs/accuracy.md shows them (regenerated by `facesearch eval docs`
    when `facesearch eval gate` has written its report)."""
    refused = [c for c, d in r["decision"].items() if d["refuse"]]
    warned = [c for c in r["decision"] if c not in refused]
    intro = [
        "## Quality gate by reason (`facesearch eval gate`)",
        "",
        f"Which refusals of the probe quality gate predict errors, reason by reason. Every probe of every set below "
        f"is searched forced (as `search --force` does) and kept with its quality score and reason codes; a probe "
        f"is refused when its quality is under {r['gate']:g} (`FACESEARCH_PROBE_MIN_QUALITY`). A reason earns a "
        f"refusal only where the probes it alone would refuse, pooled over every set, are found at rank 1 at "
        f"least {100 * r['clear_margin']:.0f} points less often than the probes the gate accepts, with the 95% "
        f"intervals apart and at least {r['min_refused']} such probes; otherwise the face is searched and the "
        "answer carries a `quality_warning`. Alone: a probe with two reasons says nothing about either. A score "
        "under the bar with no reason at all stays refused (nothing measured excuses it). Report: "
        f"`{report}`.",
        "",
        SETS_TEXT.format(
            degraded=r["degraded_probes"], seed1=r["seed"] + 1, mixed=r["mixed"]["count"], mixed_seed=r["mixed"]["seed"]
        ),
        "",
    ]
    body = markdown(r).split("\n")
    outro = [
        "",
        f"**What ships, from these figures.** `FACESEARCH_PROBE_REFUSE_REASONS` is `{json.dumps(refused)}`: "
        f"{', '.join(refused) or 'no reason'} refuses (unless forced: `--force`, the API's `force`, the web "
        f"form's *Search anyway*, each logged as forced), and {', '.join(warned)} only warn. EXTREME_POSE "
        "refusals predicted nothing on LFW's own photos (rank-1 forced equal to the accepted probes'); the "
        "pooled gap comes from the degraded set, where in-plane rotation by 40 degrees puts the landmarks off and "
        "flags faces that the other 40-degree probes miss as often. SMALL_FACE and LOW_CONFIDENCE refuse too few "
        "probes alone to measure anything (faces under `FACESEARCH_MIN_FACE_PX` are never detected), so by the "
        "rule they warn. The ingest floor `FACESEARCH_INGEST_MIN_QUALITY` is "
        f"{r['floor_chosen']:g}: the highest that drops at most {100 * r['floor_cost']:g}% of the labelled faces "
        "of each set of natural photos (0.3% of LFW's and of the mixed set's, all of them strongly turned heads "
        "that could still be found); under it fall half the unusable detections (in `mixed`: backdrop faces "
        "enlarged ~64 times and blurred; in `wild`: a painting) and the degraded faces found at rank 1 only half "
        "the time. There is no larger set of non-faces here, so the unusable column is thin.",
    ]
    return "\n".join(intro + body + outro)
