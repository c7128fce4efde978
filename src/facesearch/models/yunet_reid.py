"""The `yunet-reid` pack: YuNet detector + ArcFace-template alignment + OMZ reid-0095, both on OpenVINO.

The embedder is Intel's FP16 reid-0095, run in bf16 or f32 as the CPU allows. An INT8 copy (NNCF post-training
quantisation, `tools/quantize_reid.py`) was measured and is not used: it lost 0.15 point of LFW 10-fold accuracy
where 0.1 is allowed, for about 0.4 CPU ms a face (docs/benchmarks.md).

Compiled networks are kept in OpenVINO's compile cache when the pack is given a folder for it (the home's
`cache/openvino`): a later process imports them in a third to a half of the time a compilation takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from .align import align_faces
from .base import Detections, PackInfo, downscale, l2_normalise
from .yunet import YunetDetector, keep_cache_private

YUNET = "yunet_2023mar/face_detection_yunet_2023mar.onnx"
REID_XML = "omz_face_reid_0095/face-reidentification-retail-0095.xml"
REID_BIN = "omz_face_reid_0095/face-reidentification-retail-0095.bin"

INFO = PackInfo(
    name="yunet-reid",
    version="yunet-2023mar+omz-face-reidentification-retail-0095-fp16",
    dim=256,
    description="YuNet detector + 5-point similarity alignment + Intel face-reidentification-retail-0095 256-d",
    licence="MIT (YuNet), Apache-2.0 (OMZ)",
    multithreaded=True,
    files={
        YUNET: "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        REID_XML: "ce53d2c9c08c0bd1c1660fb8a5b6d0e3e4ec19eb92f1036d2d83a85e83082dce",
        REID_BIN: "241229ca3d206321868d46ce74a3c0b06c49cea58db7dc70b2e842ff287545d1",
    },
)
URLS = {
    YUNET: "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx",
    REID_XML: "https://storage.openvinotoolkit.org/repositories/open_model_zoo/2023.0/models_bin/1/"
    "face-reidentification-retail-0095/FP16/face-reidentification-retail-0095.xml",
    REID_BIN: "https://storage.openvinotoolkit.org/repositories/open_model_zoo/2023.0/models_bin/1/"
    "face-reidentification-retail-0095/FP16/face-reidentification-retail-0095.bin",
}
CROP_SIZE = 128
EMBED_BATCH = 8  # faces per embedder call (a power of two; see `chunks`)


class YunetReidPack:
    """Built from the weight files' paths (`registry.load_pack` finds them, in FACESEARCH_MODELS_DIR or shipped
    with the package, and checks their pinned sha256 first)."""

    info = INFO

    def __init__(
        self,
        files: Mapping[str, Path],
        threads: int = 1,
        detect_max_side: int = 640,
        min_score: float = 0.6,
        device: str = "CPU",
        cache_dir: Path | None = None,
        detect_precision: str = "auto",
    ) -> None:
        import openvino as ov

        cv2.setNumThreads(threads)
        self._detect_max_side = detect_max_side
        core = ov.Core()
        if cache_dir is not None:
            core.set_property({"CACHE_DIR": str(cache_dir)})
        self._detector = YunetDetector(files[YUNET], core, threads, min_score, precision=detect_precision)
        model = core.read_model(str(files[REID_XML]), str(files[REID_BIN]))
        model.reshape([-1, 3, CROP_SIZE, CROP_SIZE])
        # Listing the devices loads every plugin (NPU, GPU...): 23 ms and 4 MB a process, only worth it when
        # another device than the CPU is asked for.
        chosen = device if device == "CPU" or device in core.available_devices else "CPU"
        config = {"INFERENCE_NUM_THREADS": threads} if chosen == "CPU" else {}
        self._compiled = core.compile_model(model, chosen, config)
        keep_cache_private(core)
        self._request = self._compiled.create_infer_request()
        self.device = chosen

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        small, scale = downscale(image, self._detect_max_side)
        faces = self._detector.detect(small)
        if len(faces) == 0:
            return Detections.empty()
        faces = faces.astype(np.float32) / np.float32(scale)
        boxes = faces[:, 0:4].copy()
        boxes[:, 2:4] += boxes[:, 0:2]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        landmarks = faces[:, 4:14].reshape(-1, 5, 2)
        scores = faces[:, 14] * np.float32(scale)  # undo the division above
        return Detections(boxes, landmarks, np.clip(scores, 0, 1))

    def align(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        return align_faces(image, detections.landmarks, CROP_SIZE)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, INFO.dim), np.float32)
        out = np.empty((len(crops), INFO.dim), np.float32)
        start = 0
        for size in chunks(len(crops)):
            blob = crops[start : start + size].transpose(0, 3, 1, 2).astype(np.float32)
            result = self._request.infer({0: blob})
            out[start : start + size] = next(iter(result.values())).reshape(size, -1)
            start += size
        return l2_normalise(out)


def chunks(n: int) -> list[int]:
    """Batch sizes for n faces: as many of EMBED_BATCH as fit, then powers of two (43 -> 8 x 5, 2, 1).

    Why not all n at once: the runtime keeps buffers and kernels for every batch size it has seen, so a batch of
    160 faces (32 group photos) held 440 MB more than one of 8, and the sizes that batches of photos bring (35, 41,
    44 ... faces) made memory grow with the number of photos ingested. Four sizes keep it flat; a face costs no
    more at 8 than at 32 here (1.97 against 2.36 CPU ms, smaller batches staying in the caches).
    """
    sizes = [EMBED_BATCH] * (n // EMBED_BATCH)
    rest = n % EMBED_BATCH
    bit = EMBED_BATCH // 2
    while rest:
        if rest >= bit:
            sizes.append(bit)
            rest -= bit
        bit //= 2
    return sizes
