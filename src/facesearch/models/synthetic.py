"""The `synthetic` pack: NOT a face model. A deterministic stand-in for plumbing tests, no weights needed.

It "detects" the bright square markers that the test generator (tests/synthetic.py) draws on a dark
background: a bright frame `FRAME_FRACTION` of the side wide around an 8x8 grid of bright and dark cells,
the cells being the marker's "identity". Its "embedding" is the grid read back from the pixels: the frame's
interior resized to 16x16 grey, mean removed, unit norm, projected by a fixed seeded random matrix to 64-d.
The same grid therefore embeds alike after JPEG re-encoding, rescaling or a brightness change, and two
random grids are nearly orthogonal. It proves nothing about accuracy on faces.

The pack is hidden unless FACESEARCH_TEST_PACKS=1 (see registry.py).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .align import ARCFACE_112
from .base import Detections, PackInfo, downscale, l2_normalise

INFO = PackInfo(
    name="synthetic",
    version="synthetic-markers-v1",
    dim=64,
    description="NOT a face model. For tests: detections and embeddings derived from the pixels of generated "
    "square markers; never use it to claim accuracy",
    licence="same as facesearch (test code, no weights)",
)

# Marker geometry shared with the generator in tests/synthetic.py.
FRAME_FRACTION = 0.125  # width of the bright frame, as a fraction of the marker's side
GRID = 8  # cells per side of the identity pattern inside the frame

CROP_SIZE = 64  # aligned crop: the frame's interior, resized
EMBED_GRID = 16  # the crop is read at 16x16 before projection
PROJECTION_SEED = 20_240_611

BRIGHT = 128  # grey level separating marker (frame, bright cells) from background
MIN_SIDE_PX = 16  # smallest marker looked for, in pixels of the detection copy
MIN_SQUARENESS = 0.85  # short side / long side
MIN_FRAME_FILL = 0.9  # share of bright pixels along the frame
MIN_OUTSIDE_DARK = 0.9  # share of dark pixels in a thin ring just outside the box
DARK_SHARE = (0.3, 0.7)  # the interior holds as many dark cells as bright ones (half, give or take blur)
MIN_CONTRAST = 100  # grey levels between the frame and the interior's dark cells
# Share of the 8x8 grid's cells that are plainly dark or plainly bright (within CLEAR_LEVEL of either), by
# marker side in pixels: a small marker's cells are smeared by rescaling and JPEG, a large one's are not.
CLEAR_LEVEL = 0.35
MIN_CLEAR_CELLS = ((12.0, 30.0, 60.0), (0.5, 0.6, 0.85))


@functools.cache
def projection() -> np.ndarray:
    """A fixed (64, 256) matrix: 2x2 block averages of the 16x16 crop (one per cell of the 8x8 grid),
    mixed by a seeded random rotation.

    A plain Gaussian matrix would distort cosines badly here: a marker's 16x16 crop is nearly constant on
    2x2 blocks, so its vectors span only 64 dimensions, and a random 64x64 map is ill-conditioned. A
    rotation after block averaging keeps the cosine between two grids.
    """
    rng = np.random.default_rng(PROJECTION_SEED)
    q, r = np.linalg.qr(rng.standard_normal((INFO.dim, INFO.dim)))
    q *= np.sign(np.diag(r))  # a uniformly random rotation, fixed by the seed
    block = np.zeros((INFO.dim, EMBED_GRID * EMBED_GRID))
    k = EMBED_GRID // GRID
    for cy in range(GRID):
        for cx in range(GRID):
            for dy in range(k):
                for dx in range(k):
                    block[cy * GRID + cx, (cy * k + dy) * EMBED_GRID + cx * k + dx] = 1.0 / k
    return (q @ block).astype(np.float32)  # made at first use: every command imports this module


def _landmarks(boxes: np.ndarray) -> np.ndarray:
    """Five points at the ArcFace template's relative positions in each box (frontal, level, centred)."""
    rel = ARCFACE_112 / np.float32(112.0)  # (5, 2) in [0, 1]
    x1, y1 = boxes[:, 0:1], boxes[:, 1:2]
    w, h = boxes[:, 2:3] - x1, boxes[:, 3:4] - y1
    xs = x1 + rel[None, :, 0] * w
    ys = y1 + rel[None, :, 1] * h
    return np.stack([xs, ys], axis=2).astype(np.float32)


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def find_markers(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (n, 4) x1, y1, x2, y2 and scores (n,) of the markers in a grey uint8 image."""
    h, w = grey.shape
    bright = grey >= BRIGHT
    count, _, stats, _ = cv2.connectedComponentsWithStats(bright.astype(np.uint8), connectivity=8)
    boxes, scores = [], []
    for i in range(1, count):
        x, y, bw, bh, _ = (int(v) for v in stats[i])
        if min(bw, bh) < MIN_SIDE_PX or x == 0 or y == 0 or x + bw >= w or y + bh >= h:
            continue  # too small, or cut by the image's edge (a bright sky, a uniform image)
        squareness = min(bw, bh) / max(bw, bh)
        if squareness < MIN_SQUARENESS:
            continue
        side = (bw + bh) / 2
        # The frame's middle: its outermost pixel row is half background after a rescale, and its inner
        # edge runs into the bright cells.
        t = max(1, int(side * FRAME_FRACTION * 0.5))
        box = bright[y : y + bh, x : x + bw]
        ring = np.zeros_like(box)
        ring[1 : bh - 1, 1 : bw - 1] = True
        ring[1 + t : bh - 1 - t, 1 + t : bw - 1 - t] = False
        frame_fill = _share(box[ring])
        if frame_fill < MIN_FRAME_FILL:
            continue
        o = max(1, t // 2)
        x0, y0 = max(0, x - o), max(0, y - o)
        around = bright[y0 : y + bh + o, x0 : x + bw + o]
        outside = np.ones(around.shape, bool)  # a thin ring just outside the box
        outside[y - y0 : y - y0 + bh, x - x0 : x - x0 + bw] = False
        if 1.0 - _share(around[outside]) < MIN_OUTSIDE_DARK:
            continue
        m = int(round(side * FRAME_FRACTION))
        inner = box[m : bh - m, m : bw - m]
        dark = 1.0 - _share(inner)
        if not DARK_SHARE[0] <= dark <= DARK_SHARE[1]:
            continue  # a solid bright square or an empty frame: not one of ours
        grey_box = grey[y : y + bh, x : x + bw]
        grey_inner = grey_box[m : bh - m, m : bw - m]
        light, dark_level = float(np.median(grey_box[ring])), float(np.median(grey_inner[~inner]))
        if light - dark_level < MIN_CONTRAST:
            continue  # dark cells are near-black on a near-white frame
        cells = cv2.resize(grey_inner, (GRID, GRID), interpolation=cv2.INTER_AREA).astype(np.float32)
        level = (cells - dark_level) / (light - dark_level)
        clear = _share(np.minimum(np.abs(level), np.abs(1 - level)) < CLEAR_LEVEL)
        if clear < np.interp(side, *MIN_CLEAR_CELLS):
            continue  # not a grid of uniform cells
        boxes.append((x, y, x + bw, y + bh))
        scores.append(squareness * frame_fill)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    return np.asarray(boxes, np.float32), np.clip(np.asarray(scores, np.float32), 0, 1)


class SyntheticPack:
    """Marker detector and pixel-pattern embedder with the ModelPack protocol. Not a face model."""

    info = INFO

    def __init__(self, detect_max_side: int = 640) -> None:
        self._detect_max_side = detect_max_side

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        small, scale = downscale(image, self._detect_max_side)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        boxes, scores = find_markers(grey)
        if len(boxes) == 0:
            return Detections.empty()
        boxes /= np.float32(scale)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        return Detections(boxes, _landmarks(boxes), scores)

    def align(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """The interior of each marker's frame, resized to CROP_SIZE (BGR)."""
        out = np.empty((len(detections), CROP_SIZE, CROP_SIZE, 3), np.uint8)
        h, w = image.shape[:2]
        for i, (x1, y1, x2, y2) in enumerate(detections.boxes.astype(np.float64)):
            mx, my = (x2 - x1) * FRAME_FRACTION, (y2 - y1) * FRAME_FRACTION
            left, top = int(round(x1 + mx)), int(round(y1 + my))
            right, bottom = int(round(x2 - mx)), int(round(y2 - my))
            left, top = min(max(left, 0), w - 1), min(max(top, 0), h - 1)
            right, bottom = max(min(right, w), left + 1), max(min(bottom, h), top + 1)
            crop = image[top:bottom, left:right]
            if crop.ndim == 2:
                crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
            out[i] = cv2.resize(crop, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
        return out

    def embed(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, INFO.dim), np.float32)
        vectors = np.empty((len(crops), EMBED_GRID * EMBED_GRID), np.float32)
        for i, crop in enumerate(crops):
            grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
            small = cv2.resize(grey, (EMBED_GRID, EMBED_GRID), interpolation=cv2.INTER_AREA).astype(np.float32)
            v = small.ravel() - small.mean()
            vectors[i] = v / max(float(np.linalg.norm(v)), 1e-6)
        return l2_normalise(vectors @ projection().T)
