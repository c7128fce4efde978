"""What the driver accepts from a cluster node (services/cluster_results.py): exactly one result per file it
sent, hashes that are hashes, unit embeddings of the collection's size, small JPEG thumbnails named by the
driver. No Ray here: these are the checks themselves; tests/services/test_ray_cluster.py runs a rogue node."""

from __future__ import annotations

import numpy as np
import pytest

from facesearch.pipeline.worker import ImageOutcome
from facesearch.records import NewFace
from facesearch.services.cluster_results import BadResult, check_outcomes, check_prepared

SHA = "ab" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 100
DIM = 4


def _face(index: int = 0, **changes: object) -> NewFace:
    values: dict[str, object] = {
        "face_index": index,
        "box": [10.0, 12.0, 60.0, 70.0],
        "landmarks": [[20.0, 30.0], [40.0, 30.0], [30.0, 40.0], [22.0, 50.0], [38.0, 50.0]],
        "det_score": 0.9,
        "quality": 0.8,
        "reasons": [],
        "embedding": np.array([1.0, 0.0, 0.0, 0.0], np.float32),
        "thumbnail": "../../../../etc/cron.d/evil",  # never used: the driver names thumbnails
    }
    values.update(changes)
    return NewFace(**values)  # type: ignore[arg-type]


def _outcome(key: int = 7, faces: list[NewFace] | None = None, thumbs: list[bytes] | None = None) -> ImageOutcome:
    faces = [_face()] if faces is None else faces
    return ImageOutcome(
        key, width=100, height=100, faces=faces, thumbnails=[JPEG] * len(faces) if thumbs is None else thumbs
    )


def test_prepared_results_match_what_was_sent() -> None:
    got = check_prepared([1, 2], [(1, SHA, "", ""), (2, None, "FILE_TOO_LARGE", "too big")])
    assert got == [(1, SHA, "", ""), (2, None, "FILE_TOO_LARGE", "too big")]
    bad = [
        [(1, SHA, "", "")],  # one missing
        [(1, SHA, "", ""), (3, SHA, "", "")],  # a file that was not sent
        [(1, SHA, "", ""), (1, SHA, "", "")],  # answered twice
        [(1, "../../x", "", ""), (2, SHA, "", "")],  # not a hash
        [(1, SHA.upper(), "", ""), (2, SHA, "", "")],
        "not a list",
    ]
    for value in bad:
        with pytest.raises(BadResult):
            check_prepared([1, 2], value)


def test_outcomes_are_rebuilt_and_named_by_the_driver() -> None:
    [out] = check_outcomes({7: "1/ab/" + SHA}, [_outcome()], DIM, 50_000_000)
    assert out.key == 7 and out.width == 100 and len(out.faces) == 1
    assert out.faces[0].thumbnail == f"1/ab/{SHA}_0.jpg"
    assert out.thumbnails == [JPEG]
    failed = ImageOutcome(7, error=("CORRUPT_IMAGE", "x" * 10_000))
    [out] = check_outcomes({7: "p"}, [failed], DIM, 50_000_000)
    assert out.error is not None and out.error[0] == "CORRUPT_IMAGE" and len(out.error[1]) <= 2000


@pytest.mark.parametrize(
    "outcome",
    [
        _outcome(key=8),  # a file that was not sent
        _outcome(faces=[_face(embedding=np.ones(DIM + 1, np.float32) / np.sqrt(DIM + 1))]),  # another pack's size
        _outcome(faces=[_face(embedding=np.array([2.0, 0, 0, 0], np.float32))]),  # not a unit vector
        _outcome(faces=[_face(embedding=np.array([np.nan, 0, 0, 0], np.float32))]),
        _outcome(faces=[_face(embedding=np.array([1.0, 0, 0, 0], np.float64))]),
        _outcome(faces=[_face(box=[0, 0, 1])]),
        _outcome(faces=[_face(box=[0, 0, 1e9, 1e9])]),  # far outside the image
        _outcome(faces=[_face(det_score=float("inf"))]),
        _outcome(faces=[_face(0), _face(0)]),  # the same face twice
        _outcome(faces=[_face(-1)]),
        _outcome(thumbs=[b"GIF89a" + b"\0" * 10]),  # not a JPEG
        _outcome(thumbs=[JPEG + b"\0" * 300_000]),  # oversized
        _outcome(thumbs=[]),  # faces and thumbnails do not pair
        _outcome(faces=[_face(i) for i in range(1001)]),  # too many faces
        ImageOutcome(7, width=100_000, height=100_000),  # more pixels than allowed
        ImageOutcome(7, width=0, height=10),
        "not an outcome",
    ],
)
def test_a_wrong_result_is_refused(outcome: object) -> None:
    with pytest.raises(BadResult):
        check_outcomes({7: "p"}, [outcome], DIM, 50_000_000)


def test_one_outcome_per_file() -> None:
    with pytest.raises(BadResult):
        check_outcomes({7: "p"}, [_outcome(), _outcome()], DIM, 50_000_000)
    with pytest.raises(BadResult):
        check_outcomes({7: "p", 9: "q"}, [_outcome()], DIM, 50_000_000)
