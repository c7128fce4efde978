"""Faces into people: arrays in, arrays out, no database.

A k-nearest-neighbour graph over the embeddings (`index.knn_graph`: exact inner product through FAISS while
the gallery is small, an inverted file on every core above that) keeps the links whose similarity reaches
the link threshold; links join faces strongest first (union-find), and a join is refused
when it would put two faces of one image in one person, or break a cannot-link constraint. Must-link groups
are joined first. A join between two groups of faces also needs density: enough of the links between them
must be strong, so one lucky look-alike pair cannot chain two people together.

The link threshold comes from the pack's calibration table: each face is in effect searched against the
whole gallery, so a link needs a false-match rate of about FPIR / N (`link_fmr`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..calibration.tables import CalibrationTable

# Neighbours per face in the graph; a person with more faces still connects through chains of neighbours.
DEFAULT_K = 20
# Share of the strong cross links two groups of faces need (of the smaller group's faces) to join: on LFW
# (yunet-reid) it keeps pairwise precision above 0.999 where single links (0) give 0.996 at the same recall.
DEFAULT_DENSITY = 0.7
# Expected false links per face: each face is in effect searched against the gallery, so a link needs a
# false-match rate of LINK_FPIR / N, and never a looser one than a 1:1 verification's.
LINK_FPIR = 0.1


@dataclass
class Constraints:
    """What corrections say, as row indices into the embedding array.

    must_link: groups of rows that are one person. cannot_link: pairs of row groups that are never one
    person (every row of the first against every row of the second). exclusive: a label per row (-1: none);
    rows with different labels are never one person (faces named differently by a person)."""

    must_link: list[np.ndarray] = field(default_factory=list)
    cannot_link: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    exclusive: np.ndarray | None = None


def link_fmr(gallery_size: int, fpir: float = LINK_FPIR, verify_fmr: float = 1e-3) -> float:
    """The false-match rate a link needs in a gallery of this many faces (as `calibration.search_point`)."""
    return min(verify_fmr, fpir / max(int(gallery_size), 1))


def link_threshold(
    table: CalibrationTable, gallery_size: int, fpir: float = LINK_FPIR, verify_fmr: float = 1e-3
) -> tuple[float, str]:
    """The link threshold from the pack's calibration table, and why."""
    target = link_fmr(gallery_size, fpir, verify_fmr)
    t = table.threshold_for_fmr(target)
    return t, (
        f"link FMR {target:.2g} = {fpir:g} false links per face / {max(int(gallery_size), 1)} faces "
        f"(at most the verify FMR {verify_fmr:g}) on {table.dataset}"
    )


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    out: np.ndarray = x / np.maximum(n, 1e-12)
    return out


def knn(emb: np.ndarray, k: int = DEFAULT_K, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, neighbour rows), each (n, k), self excluded; -1 rows where fewer neighbours exist.

    Exact below `knn_graph.APPROX_FROM` faces, approximate above, where the exact graph's n^2 cost would take
    hours: links well above chance are found all the same (LFW clustered through the approximate graph has
    the exact graph's BCubed F1, docs/scaling.md)."""
    from ..index.knn_graph import knn_graph  # FAISS is loaded only when faces are clustered

    return knn_graph(emb, k, threads=threads)


def edges(sims: np.ndarray, idx: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected links (a < b) at or above the threshold, strongest first: (a, b, similarity)."""
    n, k = idx.shape
    a = np.repeat(np.arange(n, dtype=np.int64), k)
    b = idx.ravel()
    s = sims.ravel()
    ok = (b >= 0) & (s >= threshold)
    a, b, s = a[ok], b[ok], s[ok]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * max(n, 1) + hi
    _, first = np.unique(key, return_index=True)
    lo, hi, s = lo[first], hi[first], s[first]
    order = np.lexsort((hi, lo, -s))  # deterministic: similarity, then rows
    return lo[order], hi[order], s[order]


class _Groups:
    """Union-find whose roots carry the images and cannot-link sides of their faces.

    Plain lists, and sets only for groups that need them (a root of two faces or more; a row with a cannot-link
    side): a million faces make a million Python objects fewer, and scalar reads of lists cost a fraction of
    reads of NumPy arrays in the loop over links."""

    def __init__(self, images: np.ndarray, tags: dict[int, set[int]], exclusive: np.ndarray | None = None) -> None:
        n = len(images)
        self.label: list[int] = [-1] * n if exclusive is None else np.asarray(exclusive, np.int64).tolist()
        self.parent: list[int] = list(range(n))
        self.size: list[int] = [1] * n
        self.image: list[int] = np.asarray(images, np.int64).tolist()
        self.images: dict[int, set[int]] = {}  # the images of a group of two faces or more, by root
        self.tags = tags  # the cannot-link sides of a group that has any, by root

    def find(self, x: int) -> int:
        p = self.parent
        root = x
        while p[root] != root:
            root = p[root]
        while p[x] != root:
            p[x], x = root, p[x]
        return root

    def allowed(self, ra: int, rb: int) -> bool:
        la, lb = self.label[ra], self.label[rb]
        if la >= 0 and lb >= 0 and la != lb:
            return False
        ia, ib = self.images.get(ra), self.images.get(rb)  # None: a single face, of image self.image[root]
        if ia is None:
            if (self.image[ra] == self.image[rb]) if ib is None else (self.image[ra] in ib):
                return False
        elif (self.image[rb] in ia) if ib is None else not ia.isdisjoint(ib):
            return False
        ta, tb = self.tags.get(ra), self.tags.get(rb)
        if ta and tb:
            small_t, big_t = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
            # Tag 2c and 2c + 1 are the two sides of cannot-link constraint c.
            if any((t ^ 1) in big_t for t in small_t):
                return False
        return True

    def union(self, ra: int, rb: int) -> int:
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.label[ra] = max(self.label[ra], self.label[rb])
        self.size[ra] += self.size[rb]
        ia = self.images.pop(ra, None) or {self.image[ra]}
        ib = self.images.pop(rb, None) or {self.image[rb]}
        if len(ia) < len(ib):
            ia, ib = ib, ia
        ia |= ib
        self.images[ra] = ia
        tb = self.tags.pop(rb, None)
        if tb:
            self.tags.setdefault(ra, set()).update(tb)
        return ra

    def roots(self) -> np.ndarray:
        """The root of every row (pointer jumping over the whole parent array at once)."""
        parent = np.asarray(self.parent, np.int64)
        while True:
            up = parent[parent]
            if np.array_equal(up, parent):
                return parent
            parent = up


def cluster(
    emb: np.ndarray,
    images: np.ndarray,
    threshold: float,
    *,
    k: int = DEFAULT_K,
    constraints: Constraints | None = None,
    density: float = DEFAULT_DENSITY,
    graph: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Person label (0..p-1, in order of first row) of each row.

    `images`: the image of each row; two rows of one image never share a label. `density`: a join of two
    groups of sizes a, b needs at least ceil(density * min(a, b)) links between them at or above the
    threshold (0: one link is enough). `graph`: a precomputed `knn` result."""
    emb = normalise(emb)
    n = len(emb)
    images = np.asarray(images, np.int64)
    if n == 0:
        return np.zeros(0, np.int64)
    cons = constraints or Constraints()
    tags: dict[int, set[int]] = {}
    for c, (left, right) in enumerate(cons.cannot_link):
        for r in np.asarray(left, np.int64).tolist():
            tags.setdefault(r, set()).add(2 * c)
        for r in np.asarray(right, np.int64).tolist():
            tags.setdefault(r, set()).add(2 * c + 1)
    g = _Groups(images, tags, cons.exclusive)
    for group in cons.must_link:
        rows = [int(r) for r in np.asarray(group, np.int64)]
        for r in rows[1:]:
            ra, rb = g.find(rows[0]), g.find(r)
            if ra != rb and g.allowed(ra, rb):
                g.union(ra, rb)
    sims, idx = graph if graph is not None else knn(emb, k)
    a, b, _ = edges(sims, idx, threshold)
    if density > 0:
        _join_dense(g, a, b, density)
    else:
        for x, y in zip(a.tolist(), b.tolist()):
            ra, rb = g.find(x), g.find(y)
            if ra != rb and g.allowed(ra, rb):
                g.union(ra, rb)
    _, first, labels = np.unique(g.roots(), return_index=True, return_inverse=True)
    # Renumber in order of each person's first row, so labels are stable for the same input.
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[labels]


def _join_dense(g: _Groups, a: np.ndarray, b: np.ndarray, density: float) -> None:
    """Joins strongest link first; two groups join once the links seen between them reach the density."""
    pending: dict[tuple[int, int], int] = {}
    find, size = g.find, g.size
    for x, y in zip(a.tolist(), b.tolist()):
        ra, rb = find(x), find(y)
        if ra == rb:
            continue
        key = (ra, rb) if ra < rb else (rb, ra)
        count = pending.get(key, 0) + 1
        need = math.ceil(density * min(size[ra], size[rb]))
        if count >= max(need, 1) and g.allowed(ra, rb):
            pending.pop(key, None)
            g.union(ra, rb)
        else:
            pending[key] = count


def templates(
    emb: np.ndarray, labels: np.ndarray, quality: np.ndarray | None = None, n_people: int | None = None
) -> np.ndarray:
    """One unit-length template per label: the quality-weighted mean of its faces' embeddings.

    Weights are the quality scores (floored, so a person whose faces are all poor still gets a template)."""
    emb = normalise(emb)
    labels = np.asarray(labels, np.int64)
    p = int(n_people if n_people is not None else (labels.max() + 1 if len(labels) else 0))
    w = np.ones(len(emb), np.float32) if quality is None else np.maximum(np.asarray(quality, np.float32), 0.05)
    out = np.zeros((p, emb.shape[1] if emb.ndim == 2 else 0), np.float32)
    np.add.at(out, labels, emb * w[:, None])
    return normalise(out)


def same_image_merges(labels: np.ndarray, images: np.ndarray) -> int:
    """Pairs of faces of one image that share a label (the hard rule says: none)."""
    labels = np.asarray(labels, np.int64)
    images = np.asarray(images, np.int64)
    order = np.lexsort((labels, images))
    li, ii = labels[order], images[order]
    same = (li[1:] == li[:-1]) & (ii[1:] == ii[:-1])
    # Runs of r equal (image, label) rows hold r * (r - 1) / 2 pairs.
    if not same.any():
        return 0
    _, counts = np.unique(np.stack([ii, li], 1), axis=0, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def assign(
    emb: np.ndarray,
    images: np.ndarray,
    templates_: np.ndarray,
    template_images: Sequence[set[int]],
    threshold: float,
    banned: Sequence[set[int]] | None = None,
) -> np.ndarray:
    """Incremental step: each new face joins the person whose template it matches best at or above the
    threshold (person index), unless that person already has a face of its image or is banned for it (-1:
    it starts a person of its own). New faces of one image never join the same person."""
    emb = normalise(emb)
    out = np.full(len(emb), -1, np.int64)
    if len(emb) == 0 or len(templates_) == 0:
        return out
    sims = emb @ np.asarray(templates_, np.float32).T
    taken: dict[int, set[int]] = {}
    for r in np.argsort(-sims.max(1), kind="stable"):
        img = int(images[r])
        above = np.flatnonzero(sims[r] >= threshold)  # only these can be joined: no sort over every person
        for p in above[np.argsort(-sims[r, above], kind="stable")]:
            p = int(p)
            if img in template_images[p] or p in taken.get(img, set()):
                continue
            if banned is not None and p in banned[r]:
                continue
            out[r] = p
            taken.setdefault(img, set()).add(p)
            break
    return out
