"""Clustering quality on labelled photos: every face of every image embedded (cached), clustered, and scored
with pairwise and BCubed precision/recall, people found against the truth, and same-image merges."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.datasets import LabelledSet
from evaluation.embed import cache_file, centre_face
from facesearch.config import Settings
from facesearch.errors import ImageError
from facesearch.models import load_pack
from facesearch.pipeline import imaging
from facesearch.pipeline.analysis import analyze

CACHE_FORMAT = 1


@dataclass
class FaceTable:
    """Every face found in a labelled set; rows are faces."""

    emb: np.ndarray  # (n, dim) float32
    image: np.ndarray  # (n,) int32 index into the set's images
    quality: np.ndarray  # (n,) float32
    centre: np.ndarray  # (n,) bool: the face the image's label names (the one nearest the centre)

    def __len__(self) -> int:
        return int(self.image.shape[0])


def embed_all_faces(
    ds: LabelledSet,
    pack_name: str,
    settings: Settings,
    cache_dir: Path | None = None,
    batch: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> FaceTable:
    """All faces of every image through the ingest pipeline (`pipeline.analyze`), cached like `embed_full`.

    Only the centre face carries the image's label; the others are kept because a real gallery has them
    too (bystanders, and the faces the same-image rule is about)."""
    cache = cache_file(ds, pack_name, cache_dir, "allfaces") if cache_dir else None
    if cache and cache.is_file():
        z = np.load(cache)
        if int(z["format"]) >= CACHE_FORMAT:
            return FaceTable(z["emb"], z["image"], z["quality"], z["centre"])
    pack = load_pack(pack_name, settings, settings.workers)
    embs: list[np.ndarray] = []
    image: list[np.ndarray] = []
    quality: list[np.ndarray] = []
    centre: list[np.ndarray] = []
    n = len(ds.images)
    for start in range(0, n, batch):
        idx, imgs = [], []
        for i in range(start, min(n, start + batch)):
            try:
                img, _ = imaging.load_image(ds.images[i], settings.max_file_bytes, settings.max_pixels)
            except ImageError:
                continue
            idx.append(i)
            imgs.append(img)
        for i, fs in zip(idx, analyze(pack, imgs, settings.min_face_px, settings.min_detection_score)):
            if not len(fs):
                continue
            c = np.zeros(len(fs), bool)
            c[centre_face(fs.boxes, fs.image_size)] = True
            embs.append(fs.embeddings.astype(np.float32))
            image.append(np.full(len(fs), i, np.int32))
            quality.append(fs.quality.astype(np.float32))
            centre.append(c)
        if progress:
            progress(min(n, start + batch), n)
    dim = pack.info.dim
    out = FaceTable(
        np.concatenate(embs) if embs else np.zeros((0, dim), np.float32),
        np.concatenate(image) if image else np.zeros(0, np.int32),
        np.concatenate(quality) if quality else np.zeros(0, np.float32),
        np.concatenate(centre) if centre else np.zeros(0, bool),
    )
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, emb=out.emb, image=out.image, quality=out.quality, centre=out.centre, format=CACHE_FORMAT)
        tmp.replace(cache)  # atomic, as in embed_full
    return out


def at_least(ds: LabelledSet, k: int, name: str | None = None) -> LabelledSet:
    """The images of identities with at least k images."""
    labels = np.array(ds.labels)
    names, counts = np.unique(labels, return_counts=True)
    keep = set(names[counts >= k].tolist())
    pick = [i for i, lab in enumerate(ds.labels) if lab in keep]
    return LabelledSet(name or f"{ds.name}{k}", ds.root, [ds.images[i] for i in pick], [ds.labels[i] for i in pick])


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float | int]:
    """Pairwise precision/recall (over pairs put together) and BCubed precision/recall/F1 (per item)."""
    pred = np.unique(np.asarray(pred), return_inverse=True)[1]
    truth = np.unique(np.asarray(truth), return_inverse=True)[1]
    joint = pred.astype(np.int64) * (int(truth.max()) + 1 if len(truth) else 1) + truth
    _, j_inv, j_cnt = np.unique(joint, return_inverse=True, return_counts=True)
    p_cnt = np.bincount(pred)
    t_cnt = np.bincount(truth)

    def pairs(c: np.ndarray) -> float:
        return float((c.astype(np.float64) * (c - 1) / 2).sum())

    tp, pp, tt = pairs(j_cnt), pairs(p_cnt), pairs(t_cnt)
    both = j_cnt[j_inv].astype(np.float64)
    bp = float(np.mean(both / p_cnt[pred])) if len(pred) else 1.0
    br = float(np.mean(both / t_cnt[truth])) if len(pred) else 1.0
    return {
        "pairwise_precision": tp / pp if pp else 1.0,
        "pairwise_recall": tp / tt if tt else 1.0,
        "bcubed_precision": bp,
        "bcubed_recall": br,
        "bcubed_f1": 2 * bp * br / (bp + br) if bp + br else 0.0,
        "people_found": int(len(p_cnt)),
        "people_true": int(len(t_cnt)),
    }


# What the product's clustering is to this module (it lies on the same layer): labels from (embeddings, image
# of each face), and one template per label from (embeddings, labels, quality, count).
ClusterFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
FuseFn = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]


def _normalise(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    return out


def same_image_pairs(pred: np.ndarray, image: np.ndarray) -> int:
    """Pairs of faces of one image given one label (the hard rule says: none)."""
    _, counts = np.unique(
        np.stack([np.asarray(image, np.int64), np.asarray(pred, np.int64)], 1), axis=0, return_counts=True
    )
    return int((counts * (counts - 1) // 2).sum())


def evaluate_clusters(ft: FaceTable, labels: list[str], pred: np.ndarray, fuse: FuseFn) -> dict[str, object]:
    """Score a clustering of every face (`pred`) on the labelled faces; templates against single faces."""
    lab = np.asarray(labels)[ft.image[ft.centre]]
    return {
        **scores(pred[ft.centre], lab),
        "faces": len(ft),
        "labelled_faces": int(ft.centre.sum()),
        "same_image_merges": same_image_pairs(pred, ft.image),
        "templates": template_tpir(ft, labels, fuse),
    }


def template_tpir(
    ft: FaceTable, labels: list[str], fuse: FuseFn, seed: int = 0, fpirs: tuple[float, ...] = (1e-2, 1e-3)
) -> dict[str, object]:
    """Open-set 1:N with a person's faces as the gallery entry: single faces (max over the person's faces, as a
    face search ranks them) against one quality-weighted template per person. Identities with 3 or more
    labelled photos: a random one is the probe, the rest the gallery; a random half of those identities is held
    out entirely and their probes are the non-mated searches."""
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(ft.centre)
    lab = np.asarray(labels)[ft.image[idx]]
    names, inv, counts = np.unique(lab, return_inverse=True, return_counts=True)
    ok = np.flatnonzero(counts >= 3)
    rng.shuffle(ok)
    outside = set(ok[: len(ok) // 2].tolist())
    probes, mated, gal_rows, gal_person = [], [], [], []
    for ident in ok.tolist():
        rows = idx[inv == ident]
        p = int(rng.choice(rows))
        probes.append(p)
        mated.append(ident not in outside)
        if ident not in outside:
            for r in rows[rows != p]:
                gal_rows.append(int(r))
                gal_person.append(ident)
    gp = np.unique(np.asarray(gal_person), return_inverse=True)[1]
    gallery = _normalise(ft.emb[gal_rows])
    probe = _normalise(ft.emb[probes])
    mated_a = np.asarray(mated)
    truth_person = np.full(len(probes), -1)
    pid_of = {ident: j for j, ident in enumerate(sorted(set(gal_person)))}
    for k, (p, m) in enumerate(zip(probes, mated)):
        if m:
            truth_person[k] = pid_of[int(inv[np.flatnonzero(idx == p)[0]])]
    face_sims = probe @ gallery.T
    n_people = int(gp.max()) + 1
    per_person_max = np.full((len(probes), n_people), -np.inf, np.float32)
    np.maximum.at(per_person_max.T, gp, face_sims.T)
    tmpl = fuse(ft.emb[gal_rows], gp, ft.quality[gal_rows], n_people)
    tmpl_sims = probe @ tmpl.T
    out: dict[str, object] = {
        "identities": len(ok),
        "mated_probes": int(mated_a.sum()),
        "nonmated_probes": int((~mated_a).sum()),
        "gallery_faces": len(gal_rows),
        "people": n_people,
    }
    for label, sims in (("single_faces", per_person_max), ("templates", tmpl_sims)):
        top = sims.argmax(1)
        best = sims.max(1)
        res: dict[str, object] = {}
        non = np.sort(best[~mated_a])[::-1]
        for fpir in fpirs:
            k = int(np.floor(fpir * len(non)))
            t = float(np.nextafter(non[k], np.inf)) if k < len(non) else float(non[-1])
            hit = (top == truth_person) & (best >= t) & mated_a
            res[f"{fpir:g}"] = {"threshold": t, "tpir": float(hit.sum() / max(mated_a.sum(), 1))}
        res["rank1"] = float(((top == truth_person) & mated_a).sum() / max(mated_a.sum(), 1))
        out[label] = res
    return out
