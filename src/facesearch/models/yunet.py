"""YuNet face detector on OpenVINO: the network's raw outputs decoded as OpenCV's FaceDetectorYN does.

Why not cv2.FaceDetectorYN: the same network at the same precision (f32) runs in 2.3 ms instead of 3.8 ms
per LFW photo on OpenVINO here, with identical boxes and landmarks given the same padded input
(tests/test_yunet.py compares both).

Input shapes: a network compiled for one static shape runs 15 to 40% faster here than one compiled for
dynamic shapes, but each compilation costs 0.1 to 0.4 s (about half that from the compile cache, see
yunet_reid.py) and about 25 MB, and photos of mixed sizes bring hundreds of sizes. So the image is padded with
zeros, right and bottom, to a *bucket*: each side rounded up to the next of SIDES (beyond 640, to a multiple of
128). Detection copies are at most `detect_max_side` (640) on their longest side, so there are at most 64
buckets. The first EAGER buckets get their own static network at once (most collections are mostly one or two
sizes: LFW's 250 px photos are all one bucket); every other bucket runs on one network compiled for dynamic
shapes until it has been seen STATIC_AFTER times, which is about when its own network has paid for its
compilation (the saving is 0.15 ms a photo at 256x256, 1.7 ms at 640x480). At most SHAPE_CACHE static networks
are kept, never evicted (evicting made a mixed collection compile the same buckets again and again, and each
held memory): later buckets stay on the dynamic network, so memory is bounded however many sizes come.

Precision (FACESEARCH_DETECT_PRECISION): by default the runtime picks, which is bfloat16 on CPUs with AVX-512
BF16 or AMX: on such a CPU (2 cores) the network ran 30% faster at 640x480 and ingest 5 to 17% faster, with LFW
10-fold accuracy unchanged (99.50% both) and TPIR@FPIR 1e-2 84.7% (f32) against 85.8%; landmarks move by 0.6% of
the face's width (median). `f32` gives the same detections on every CPU (and OpenCV's, tests/models/test_yunet.py).

Measured on 600 real photos of 600 sizes (benchmarks/wild.py), the earlier policy (a static network after 8
sightings, 24 kept with eviction) compiled 30 networks, 31% of the run's time, and held 1 GB; this one compiles
a handful. A face's landmarks move by up to about 1.5% of its size (1.5 px on a 100 px face) with the padding,
as with any other padding (tests/models/test_yunet.py). Boxes and landmarks are in the unpadded image's
coordinates.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

STRIDES = (8, 16, 32)
PAD = 32  # the network's input sides must be multiples of its largest stride
# Bucket sides, multiples of PAD: 250 px LFW photos at 256; 640x480, 640x427 (3:2) at 480; 640x360 at 384.
SIDES = (128, 192, 256, 320, 384, 480, 512, 640)
LARGE_STEP = 128  # beyond the last of SIDES (detection copies above 640 px)
# Static networks kept, one per bucket, never evicted: about 25 MB each at 640x480, 10 MB at 256x256.
SHAPE_CACHE = 8
EAGER = 2  # the first buckets seen get their own network at once (most collections are mostly one or two)
STATIC_AFTER = 48  # later buckets get theirs when seen this often; the dynamic network serves them until then


def _side(n: int) -> int:
    for side in SIDES:
        if n <= side:
            return side
    return -(-n // LARGE_STEP) * LARGE_STEP


def bucket(height: int, width: int) -> tuple[int, int]:
    """The padded input shape (height, width) an image of this size is detected at."""
    return _side(height), _side(width)


class YunetDetector:
    def __init__(
        self,
        path: Path,
        core: Any,
        threads: int = 1,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        precision: str = "auto",
    ) -> None:
        self._core = core
        self._model = core.read_model(str(path))  # read once; reshaped and compiled per bucket
        self._config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads}
        if precision != "auto":  # auto: the runtime's default (module docstring)
            self._config["INFERENCE_PRECISION_HINT"] = precision
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self._requests: dict[tuple[int, int], Any] = {}
        self._blobs: dict[tuple[int, int], np.ndarray] = {}
        self._seen: Counter[tuple[int, int]] = Counter()
        self._dynamic: Any = None
        self.compiled = 0  # networks compiled, the dynamic one included (tests and benchmarks read it)

    def _request(self, height: int, width: int) -> tuple[Any, bool]:
        """The infer request for a bucket, and whether it is the bucket's own (static) one."""
        key = (height, width)
        request = self._requests.get(key)
        if request is not None:
            return request, True
        self._seen[key] += 1
        eager = len(self._seen) <= EAGER
        if len(self._requests) >= SHAPE_CACHE or not (eager or self._seen[key] >= STATIC_AFTER):
            if self._dynamic is None:
                self._model.reshape([1, 3, -1, -1])
                self._dynamic = self._compile()
            return self._dynamic, False
        self._model.reshape([1, 3, height, width])
        request = self._requests[key] = self._compile()
        return request, True

    def _compile(self) -> Any:
        self.compiled += 1
        compiled = self._core.compile_model(self._model, "CPU", self._config)
        keep_cache_private(self._core)
        return compiled.create_infer_request()

    def detect(self, image: np.ndarray) -> np.ndarray:
        """(n, 15) float32 rows: x, y, w, h, five landmark (x, y) pairs, score; like FaceDetectorYN.detect."""
        h, w = image.shape[:2]
        ph, pw = bucket(h, w)
        request, static = self._request(ph, pw)
        blob = self._blobs.get((ph, pw))
        if blob is None:
            blob = np.zeros((1, 3, ph, pw), np.float32)
            if static:  # kept with its network
                self._blobs[(ph, pw)] = blob
        else:  # only the part the previous image left non-zero
            blob[0, :, :h, w:] = 0
            blob[0, :, h:, :] = 0
        blob[0, :, :h, :w] = image.transpose(2, 0, 1)
        out = request.infer({0: blob})
        named = {name: value for port, value in out.items() for name in port.get_names()}
        boxes, points, scores = [], [], []
        for s in STRIDES:
            cols = pw // s
            cls = np.clip(named[f"cls_{s}"][0, :, 0], 0, 1)
            obj = np.clip(named[f"obj_{s}"][0, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            keep = np.flatnonzero(score >= self.score_threshold)
            if len(keep) == 0:
                continue
            col = (keep % cols).astype(np.float32)
            row = (keep // cols).astype(np.float32)
            bb = named[f"bbox_{s}"][0, keep]
            cx, cy = (col + bb[:, 0]) * s, (row + bb[:, 1]) * s
            bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, bw, bh], axis=1))
            kps = named[f"kps_{s}"][0, keep].reshape(-1, 5, 2)
            kps = (kps + np.stack([col, row], axis=1)[:, None, :]) * s
            points.append(kps.reshape(-1, 10))
            scores.append(score[keep])
        if not boxes:
            return np.zeros((0, 15), np.float32)
        all_boxes, all_points, all_scores = np.concatenate(boxes), np.concatenate(points), np.concatenate(scores)
        kept = cv2.dnn.NMSBoxes(
            all_boxes.tolist(), all_scores.tolist(), self.score_threshold, self.nms_threshold, top_k=self.top_k
        )
        idx = np.asarray(kept, np.int64).reshape(-1)
        return np.concatenate([all_boxes[idx], all_points[idx], all_scores[idx, None]], axis=1).astype(np.float32)


def keep_cache_private(core: Any) -> None:
    """Make the files OpenVINO just wrote to its compile cache (if it has one) readable by their owner only.

    The runtime writes each compiled network 0440, group-readable whatever the umask; the folder is 0700, so
    no one else could reach them, but the home keeps every file 0600 or tighter (`facesearch doctor` reports
    any other). Called after each compilation: a few files at most, a few microseconds.
    """
    folder = core.get_property("CACHE_DIR")
    if not folder:
        return
    try:
        for entry in os.scandir(folder):
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mode & 0o077:
                os.chmod(entry.path, 0o400)
    except OSError:
        pass  # a cache that cannot be listed or changed is the runtime's to skip; the pack still works
