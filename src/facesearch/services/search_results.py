"""What the search engine answers, built once and complete by the engine, wording included: a 1:N search
(`GallerySearch` of `FaceCandidates`, one per probe face searched, each with its ranked `Candidate`s) and a 1:1
comparison (`Comparison`). Faces from videos (in the gallery, or a probe clip's tracks) carry `VideoTime`.

The builders (`search_threshold`, `candidate`, `comparison`, and from the engine's arrays and rows
`threshold_shown`, `candidate_from_row`, `probe_face_fields`, `per_track`) derive what follows from the numbers
(the words, the expected false matches), so no answer carries a rate without its words. The models are generic
in what they hold so that the layers above add their part by deriving, never by editing: the search use case's
candidates are leads (`app.searching.Lead`), and the API's answer adds links (`api.search_models`). Field names
are the JSON keys of the CLI's `--json` and of the API; a key that is absent unless it says something
(`skipped`, `calibrated`) is left out of the JSON when it is None."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, Field

from ..calibration.fair import FairCalibration
from ..calibration.tables import OperatingPoint
from ..calibration.wording import decision_text, fmr_text
from ..pipeline.analysis import FaceSet
from .hiding import Hidden

FMR_TEXT = "The false-match rate in words: '1 in 4,300,000 different people score this high'."


def absent(value: Any) -> bool:
    """A key left out of the answer rather than shown as null."""
    return value is None


class SearchThreshold(BaseModel):
    """The operating point a probe face was searched with."""

    score: float = Field(description="Score threshold.")
    fmr: float = Field(description="False-match rate at the threshold.")
    reason: str = Field(description="Where the threshold comes from.")
    calibrated: bool | None = Field(
        default=None,
        exclude_if=absent,
        description="True when each candidate was decided on its calibrated false-match rate (absent otherwise).",
    )
    fmr_text: str = Field(description=FMR_TEXT)


class MatchImage(BaseModel):
    id: int
    path: str | None
    source_url: str | None
    sha256: str
    metadata: dict[str, Any]


class VideoTime(BaseModel):
    """Where in a video a face was seen: its frame's time and number, and its track (one person followed
    through one shot) with the track's start and end. Times are seconds from the start of the file."""

    time: float = Field(description="Seconds from the start of the file to the frame the face was seen on.")
    frame: int = Field(description="That frame's number in presentation order, 0 first.")
    track: int = Field(description="The track's number in its video.")
    start: float = Field(description="When the track begins (seconds from the start of the file).")
    end: float = Field(description="When the track ends (seconds from the start of the file).")

    def moment(self) -> str:
        """The time as people read it beside a file name: `00:07.5 (00:07.2–00:09.0)`."""
        return f"{clock(self.time)} ({clock(self.start)}–{clock(self.end)})"


def clock(seconds: float) -> str:
    """Seconds from the start of a video as a player shows them: `00:07.5`, `1:02:03.0` past an hour."""
    tenths = max(0, round(seconds * 10))
    hours, rest = divmod(tenths, 36_000)
    minutes, rest = divmod(rest, 600)
    text = f"{minutes:02d}:{rest // 10:02d}.{rest % 10}"
    return f"{hours}:{text}" if hours else text


class Candidate(BaseModel):
    """A gallery face among a probe face's top k, with what its score means. A face from a video carries
    `video` (its time, frame and track); a search returns one candidate per track, its best-scoring face."""

    rank: int
    score: float
    fmr: float = Field(
        description="False-match rate of this score: the share of different people who score "
        "this high. Not the chance that the candidate is the probe's person."
    )
    expected_false_matches: float = Field(
        description="fmr x the faces of this pack that the probe was compared "
        "with: how many such scores chance alone would give."
    )
    above_threshold: bool
    face_id: int
    collection: str
    box: list[float]
    quality: float
    thumbnail: str = Field(description="The face's thumbnail, relative to the home's thumbnail folder.")
    image: MatchImage
    video: VideoTime | None = Field(
        default=None,
        exclude_if=absent,
        description="Only for a face from a video (whose file is `image`): when it was seen, and its track.",
    )
    fmr_text: str = Field(description=FMR_TEXT)
    decision: str = Field(description="`above threshold` or `below threshold`, the same test as `above_threshold`.")


class ProbeFace(BaseModel):
    """A face found in a probe photo, as the engine describes it for a search or a verify."""

    face: int = Field(description="Probe face number, 0 = largest.")
    box: list[float]
    landmarks: list[list[float]]
    detection_score: float
    quality: float
    quality_reasons: list[str]
    model: str
    model_version: str
    quality_warning: str | None = Field(
        default=None,
        exclude_if=absent,
        description="Only for a face below the quality gate that was searched or compared all the same (its "
        "reasons were measured not to predict errors, or it was forced): what that means for its candidates.",
    )
    video: VideoTime | None = Field(
        default=None,
        exclude_if=absent,
        description="Only for a probe clip: this face is a track of the clip (its best face's time and frame, "
        "the track's start and end).",
    )


class FoundFace(BaseModel):
    """A face found in one photo of a comparison, numbered as `face_a` / `face_b` count them."""

    face: int = Field(description="Face number in its photo, 0 = largest.")
    box: list[float]
    quality: float
    quality_reasons: list[str]
    compared: bool = Field(description="The face this photo was compared with.")


M = TypeVar("M", bound=Candidate)


class FaceCandidates(ProbeFace, Generic[M]):
    """One probe face searched with one model pack: its threshold and its ranked candidates."""

    threshold: SearchThreshold
    gallery_size: int = Field(
        description="Faces this probe face was compared with: those of "
        "the collections built with this model pack (the threshold is set for them)."
    )
    collections: list[str] = Field(description="The collections searched with this pack.")
    skipped: str | None = Field(
        default=None, exclude_if=absent, description="Why this face was not searched (only when it was not)."
    )
    matches: list[M]


F = TypeVar("F", bound=FaceCandidates[Any])


class GallerySearch(BaseModel, Generic[F]):
    """A probe searched in the gallery: every probe face searched, with each pack searched."""

    gallery_size: int = Field(
        description="Faces in all the collections searched (each pack's probe is compared "
        "only with its own pack's faces: see each face's `gallery_size`)."
    )
    collections: list[str]
    faces: list[F] = Field(description="One entry per model pack searched (and per probe face with `all_faces`).")


EngineSearch = GallerySearch[FaceCandidates[Candidate]]


@dataclass(frozen=True)
class Searched:
    """The engine's search: the answer, and apart from it the faces its hide filter kept out (never part of
    the answer, which must not reveal that anyone was hidden; the use case logs them)."""

    answer: EngineSearch
    hidden: tuple[Hidden, ...] = ()


class Comparison(BaseModel):
    """A face of each of two photos compared (1:1): the largest of each unless the caller chose others."""

    score: float
    fmr: float = Field(description="False-match rate of the score: the share of different people who score this high.")
    fmr_text: str = Field(description="The false-match rate in words.")
    threshold: float
    threshold_fmr: float
    threshold_fmr_text: str
    threshold_reason: str
    same_person: bool = Field(description="Score at or above the threshold.")
    decision: str = Field(description="`above threshold` or `below threshold`.")
    model: str
    model_version: str
    faces: list[ProbeFace] = Field(description="The two faces compared: of the first photo, of the second.")
    faces_found: list[list[FoundFace]] | None = Field(
        default=None,
        exclude_if=absent,
        description="Every face found in each photo (first, second), largest first, the compared ones marked; "
        "present when either photo has more than one face (with one face each, `faces` is every face found).",
    )


# Builders: what follows from the numbers is derived here, once -------------------------------------------
def search_threshold(
    score: float, fmr: float, reason: str, *, calibrated: bool = False, floor: float | None = None
) -> SearchThreshold:
    """`floor`: the lowest rate the calibration measured (a rate at it reads "fewer than 1 in N")."""
    return SearchThreshold(
        score=score, fmr=fmr, reason=reason, calibrated=True if calibrated else None, fmr_text=fmr_text(fmr, floor)
    )


def candidate(
    *,
    rank: int,
    score: float,
    fmr: float,
    gallery_size: int,
    above: bool,
    face_id: int,
    collection: str,
    box: list[float],
    quality: float,
    thumbnail: str,
    image: MatchImage,
    floor: float | None = None,
    video: VideoTime | None = None,
) -> Candidate:
    """A candidate; `gallery_size`: the faces its probe face was compared with (chance's share of them);
    `floor`: the lowest rate the calibration measured."""
    return Candidate(
        rank=rank,
        score=score,
        fmr=fmr,
        expected_false_matches=fmr * gallery_size,
        above_threshold=above,
        face_id=face_id,
        collection=collection,
        box=box,
        quality=quality,
        thumbnail=thumbnail,
        image=image,
        video=video,
        fmr_text=fmr_text(fmr, floor),
        decision=decision_text(above),
    )


def comparison(
    *,
    score: float,
    fmr: float,
    threshold: float,
    threshold_fmr: float,
    reason: str,
    same: bool,
    model: str,
    model_version: str,
    faces: list[ProbeFace],
    faces_found: list[list[FoundFace]] | None = None,
    floor: float | None = None,
) -> Comparison:
    """`floor`: the lowest rate the calibration measured (a rate at it reads "fewer than 1 in N")."""
    return Comparison(
        score=score,
        fmr=fmr,
        fmr_text=fmr_text(fmr, floor),
        threshold=threshold,
        threshold_fmr=threshold_fmr,
        threshold_fmr_text=fmr_text(threshold_fmr, floor),
        threshold_reason=reason,
        same_person=same,
        decision=decision_text(same),
        model=model,
        model_version=model_version,
        faces=faces,
        faces_found=faces_found,
    )


def quality_warning(quality: float, reasons: list[str], bar: float, refused: bool) -> str:
    """The words beside a face below the quality gate that was searched or compared all the same."""
    why = f"quality {quality:.2f} is below {bar:g} ({', '.join(reasons) or 'low quality'})"
    if refused:
        return (
            f"{why}, searched only because forced: faces refused for this were found at rank 1 far less often "
            "than the rest (docs/accuracy.md); treat its candidates with extra care"
        )
    return (
        f"{why}; searched all the same: faces flagged only for this were found at rank 1 about as often as the "
        "rest (docs/accuracy.md), but check its candidates with that in mind"
    )


# Built from the engine's arrays and rows ----------------------------------------------------------------------
# Said beside a threshold when the decisions were made on calibrated false-match rates.
CALIBRATED_NOTE = (
    "; each candidate is decided on its false-match rate calibrated for both faces' clusters "
    "(label-free, docs/calibration.md): the score shown is the model's, the threshold score is "
    "indicative"
)


def per_track(
    scores: np.ndarray,
    ids: np.ndarray,
    fmr: np.ndarray,
    above: np.ndarray,
    details: dict[int, dict[str, Any]],
    k: int,
) -> list[tuple[float, int, float, bool]]:
    """One probe face's displayable candidates, best first, at most k: a photo's face each, and for a video
    one per track, its best-scoring face (the others of the track would repeat the same person's moment)."""
    out: list[tuple[float, int, float, bool]] = []
    tracks: set[tuple[int, int]] = set()
    for s, fid, f, a in zip(scores, ids, fmr, above):
        d = details.get(int(fid)) if fid >= 0 else None
        if d is None:
            continue
        video = d.get("video")
        if video is not None:
            key = (int(d["image_id"]), int(video["track"]))
            if key in tracks:
                continue
            tracks.add(key)
        out.append((float(s), int(fid), float(f), bool(a)))
        if len(out) >= k:
            break
    return out


def candidate_vectors(ids: np.ndarray, details: dict[int, dict[str, Any]], dim: int) -> np.ndarray:
    """(q, k, dim) embeddings of the candidates (read with their details); zeros for padding or a face erased
    since the index search (it is not shown)."""
    out = np.zeros((*ids.shape, dim), np.float32)
    for pos in zip(*np.nonzero(ids >= 0)):
        d = details.get(int(ids[pos]))
        if d is not None:
            out[pos] = np.frombuffer(d["embedding"], np.float32)
    return out


def threshold_shown(
    point: OperatingPoint, fair: FairCalibration | None, target: float | None, floor: float
) -> SearchThreshold:
    """The operating point as the answer shows it: with a fair calibration, the false-match rate each candidate
    is decided against (its threshold score stays the table's, indicative)."""
    score = round(point.threshold, 6)
    if fair is not None and target is not None:
        fmr = float(max(10 ** fair.decision_level(target), fair.fmr_floor))
        return search_threshold(score, fmr, point.reason + CALIBRATED_NOTE, calibrated=True, floor=fair.fmr_floor)
    return search_threshold(score, point.fmr, point.reason, floor=floor)


def probe_face_fields(
    fs: FaceSet, i: int, pack: str, version: str, times: list[VideoTime] | None = None
) -> dict[str, Any]:
    """The fields of a probe face (`ProbeFace`), for the answer that holds it (a clip's face: its times)."""
    return {
        "face": i,
        "box": [round(float(v), 1) for v in fs.boxes[i]],
        "landmarks": fs.landmarks[i].round(1).tolist(),
        "detection_score": round(float(fs.det_scores[i]), 4),
        "quality": round(float(fs.quality[i]), 4),
        "quality_reasons": fs.reasons[i],
        "model": pack,
        "model_version": version,
        "video": times[i] if times is not None else None,
    }


def candidate_from_row(
    d: dict[str, Any], score: float, fmr: float, gallery: int, above: bool, rank: int, floor: float
) -> Candidate:
    """A candidate from its row's details (`Store.face_details`); `floor`: the calibration's lowest rate."""
    return candidate(
        floor=floor,
        rank=rank,
        score=round(score, 6),
        fmr=fmr,
        gallery_size=gallery,
        above=above,
        face_id=d["face_id"],
        collection=d["collection"],
        box=[round(float(v), 1) for v in d["box"]],
        quality=round(float(d["quality"]), 4),
        thumbnail=d["thumbnail"],
        image=MatchImage(
            id=d["image_id"],
            path=d["path"],
            source_url=d["source_url"],
            sha256=d["sha256"],
            metadata=d["metadata"],
        ),
        video=VideoTime(**d["video"]) if d.get("video") else None,
    )
