"""What the driver accepts from a cluster node: every result is checked before anything reaches the home.

A node runs facesearch's own code, but what it hands back is checked as if it could be wrong (another version
of the code, a bug, a file system that differs from the driver's): one result per file sent and none for a
file that was not sent, hashes that are hashes, faces of the collection's dimension with finite, unit-length
embeddings, sizes within the limits, thumbnails that are small JPEGs. Nothing a node returns names a file:
the driver keeps the batch it sent (key -> the file from the run's own list, whose path was checked against
the ingest roots before the run) and names each thumbnail from a hash it checked, so a result can neither
point at another file nor write outside the thumbnails folder.

These checks are not a sandbox: results travel as Ray objects (pickles), so a node that runs hostile code can
run it in the driver as well. The cluster must be one the deployment trusts (docs/security.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..pipeline.cluster_worker import Prepared
from ..pipeline.worker import ImageOutcome
from ..records import NewFace

REFUSED = "CLUSTER_RESULT_REFUSED"  # failure reason of an image whose result the driver refused
MAX_FACES = 1000  # per image
MAX_THUMBNAIL_BYTES = 256 * 1024  # a 112-pixel JPEG is a few KB
MAX_TEXT = 2000  # characters of a failure reason or detail, or of a quality reason
_SHA256 = re.compile(r"[0-9a-f]{64}")
_JPEG = b"\xff\xd8\xff"


class BadResult(ValueError):
    """A node's result the driver does not accept; the message says why (it goes to the failure report)."""


def check_prepared(sent: Sequence[int], got: Any) -> list[Prepared]:
    """The read-and-hash results of one batch: exactly one per key sent, a SHA-256 or a failure reason."""
    if not isinstance(got, list) or len(got) > len(sent):
        raise BadResult(f"expected {len(sent)} read results, got {_size(got)}")
    expected = set(sent)
    out: list[Prepared] = []
    for entry in got:
        if not isinstance(entry, tuple) or len(entry) != 4:
            raise BadResult("a read result is not (key, sha256, reason, detail)")
        key, sha, reason, detail = entry
        key = _key(key, expected)
        if sha is None:
            out.append((key, None, _text(reason) or "UNREADABLE_FILE", _text(detail)))
        elif isinstance(sha, str) and _SHA256.fullmatch(sha):
            out.append((key, sha, "", ""))
        else:
            raise BadResult("a read result's hash is not a SHA-256")
    _all_answered(expected)
    return out


def check_outcomes(
    tasks: dict[int, str], got: Any, dim: int, max_pixels: int, max_faces: int = MAX_FACES
) -> list[ImageOutcome]:
    """The analysis of one batch (`tasks`: key -> thumbnail name prefix): exactly one outcome per key sent,
    rebuilt from checked values; thumbnails named here, from the prefix the driver chose."""
    if not isinstance(got, list) or len(got) > len(tasks) + 1:  # one extra: which key it is says more
        raise BadResult(f"expected {len(tasks)} analysed images, got {_size(got)}")
    expected = set(tasks)
    out: list[ImageOutcome] = []
    for outcome in got:
        if not isinstance(outcome, ImageOutcome):
            raise BadResult("an analysed image is not an ImageOutcome")
        key = _key(outcome.key, expected)
        if outcome.error is not None:
            error = outcome.error
            if not isinstance(error, tuple) or len(error) != 2:
                raise BadResult("an image's failure is not (reason, detail)")
            out.append(ImageOutcome(key, error=(_text(error[0]) or "ANALYSIS_FAILED", _text(error[1]))))
            continue
        width, height = _int(outcome.width), _int(outcome.height)
        if not (width > 0 and height > 0 and width * height <= max_pixels):
            raise BadResult(f"an image's size {width}x{height} is outside the limits")
        faces, thumbnails = outcome.faces, outcome.thumbnails
        if not isinstance(faces, list) or not isinstance(thumbnails, list) or len(faces) > max_faces:
            raise BadResult(f"an image has more than {max_faces} faces, or no list of them")
        if len(thumbnails) != len(faces):
            raise BadResult("an image's faces and thumbnails do not pair up")
        checked = ImageOutcome(key, width=width, height=height, below_quality=_count(outcome.below_quality))
        seen: set[int] = set()
        for face, jpeg in zip(faces, thumbnails):
            new = _face(face, dim, width, height, tasks[key])
            if new.face_index in seen:
                raise BadResult("an image lists the same face twice")
            seen.add(new.face_index)
            if not isinstance(jpeg, bytes) or len(jpeg) > MAX_THUMBNAIL_BYTES or not jpeg.startswith(_JPEG):
                raise BadResult("a thumbnail is not a JPEG within the size limit")
            checked.faces.append(new)
            checked.thumbnails.append(jpeg)
        out.append(checked)
    _all_answered(expected)
    return out


def _all_answered(left: set[int]) -> None:
    if left:
        raise BadResult(f"no result for {len(left)} of the files sent")


def _face(face: Any, dim: int, width: int, height: int, prefix: str) -> NewFace:
    if not isinstance(face, NewFace):
        raise BadResult("a face is not a NewFace")
    index = _int(face.face_index)
    if not 0 <= index < MAX_FACES:
        raise BadResult("a face's number is out of range")
    embedding = face.embedding
    if not isinstance(embedding, np.ndarray) or embedding.shape != (dim,) or embedding.dtype != np.float32:
        raise BadResult(f"an embedding is not {dim} float32 values")
    norm = float(np.linalg.norm(embedding))
    if not np.all(np.isfinite(embedding)) or abs(norm - 1.0) > 1e-3:
        raise BadResult("an embedding is not a finite unit vector")
    box = _floats(face.box, (4,))
    landmarks = _floats(face.landmarks, (5, 2))
    limit = 4.0 * max(width, height)  # boxes may reach past the edges, not far past them
    if any(abs(v) > limit for v in [*box, *np.ravel(landmarks)]):
        raise BadResult("a face box or landmark lies far outside its image")
    det_score, quality = _float(face.det_score), _float(face.quality)
    reasons = face.reasons
    if not isinstance(reasons, list) or len(reasons) > 32 or not all(isinstance(r, str) for r in reasons):
        raise BadResult("a face's quality reasons are not a short list of words")
    return NewFace(
        face_index=index,
        box=box,
        landmarks=landmarks,
        det_score=det_score,
        quality=quality,
        reasons=[_text(r) for r in reasons],
        embedding=embedding.copy(),
        thumbnail=f"{prefix}_{index}.jpg",
    )


def _key(key: Any, expected: set[int]) -> int:
    if not isinstance(key, int) or isinstance(key, bool) or key not in expected:
        raise BadResult("a result for a file that was not sent (or sent once and answered twice)")
    expected.discard(key)
    return key


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise BadResult("a count or size is not an integer")
    return int(value)


def _count(value: Any) -> int:
    n = _int(value)
    if not 0 <= n <= MAX_FACES:
        raise BadResult("a count is out of range")
    return n


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise BadResult("a score is not a number")
    out = float(value)
    if not math.isfinite(out) or not -1e6 < out < 1e6:
        raise BadResult("a score is not a finite number")
    return out


def _floats(values: Any, shape: tuple[int, ...]) -> list[Any]:
    """The values as the node sent them (so the rows equal a local run's), once they are known to be finite
    numbers of the right shape."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BadResult("a face box or landmarks are not numbers") from exc
    if array.shape != shape or not np.all(np.isfinite(array)):
        raise BadResult(f"a face box or landmarks do not have the shape {shape}")
    out: list[Any] = array.tolist()
    return out


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise BadResult("a reason or detail is not text")
    return value[:MAX_TEXT]


def _size(value: Any) -> str:
    return f"{len(value)} of them" if isinstance(value, list) else type(value).__name__
