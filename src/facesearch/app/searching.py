"""Search (1:N), verify (1:1) and probe detection: the examiner's use cases (a search's probe is a photo or
a clip, whose tracks are its faces). A search or verify passes the
gate first (case reference, allowed purpose, kill switch, limits), hands the engine the filter of opted-out
faces (logging what it hid once the engine returns), and is written to the audit log whatever its outcome,
refusals included.

The engine's answer is complete and worded (`services.search_results`); a use case adds what the rules add
(the audit entry's id, the case reference and purpose, every candidate a lead, the probe) by building its own
answer around it (`SearchAnswer`, `VerifyAnswer`), never by editing the engine's."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Generic

from pydantic import BaseModel, Field

from ..errors import ModelNotFoundError
from ..models import get_entry, quality
from ..pipeline.imaging import sha256_bytes
from ..services.clips import Clip, Query, query, read_probe
from ..services.search_results import (
    Candidate,
    Comparison,
    F,
    FaceCandidates,
    GallerySearch,
    VideoTime,
    absent,
    quality_warning,
)
from ..services.uploads import Photo, decode
from ..vocabulary import Action
from .auditing import record, refusal_recorded
from .context import Actor, Context
from .errors import Invalid
from .optout import hide_opted_out, record_hidden
from .policy import check_limits, search_gate
from .retention import keep_probe
from .review import STAMP
from .roles import allowed


@dataclass(frozen=True)
class SearchRequest:
    case_ref: str | None
    purpose: str | None
    top_k: int = 10
    collections: list[str] | None = None
    face: int | None = None
    all_faces: bool = False
    threshold: float | None = None
    force: bool = False


# Answers ---------------------------------------------------------------------------------------------
class Lead(Candidate):
    """A candidate of a search made for a case: a lead, stamped as one, until two examiners confirm it."""

    status: str = Field(description="Review status: `lead` for a new search.")
    stamp: str | None = Field(description="The lead stamp; null only once confirmed by two examiners.")


LeadFace = FaceCandidates[Lead]


class ProbeClip(BaseModel):
    """A probe clip's container, as the file declares it."""

    container: str
    codec: str
    duration: float | None = Field(description="Seconds, as the container declares it.")
    frame_rate: float | None
    sampling_fps: float = Field(description="Frames analysed per second of the clip (plus one after each cut).")
    analysed_seconds: float = Field(description="A clip is analysed up to this many seconds from its start.")
    faces: list[VideoTime] = Field(
        description="Every track of the clip, in order of appearance: the probe faces `face` numbers (with the "
        "first model pack searched)."
    )


class ProbeSummary(BaseModel):
    """The probe as received: what it was called, its hash and size."""

    label: str
    sha256: str
    width: int
    height: int
    path: str | None = Field(
        default=None, exclude_if=absent, description="The probe's file, when the caller named one (command line)."
    )
    video: ProbeClip | None = Field(
        default=None, exclude_if=absent, description="Only for a probe clip: its container (each track is a face)."
    )


class SearchAnswer(GallerySearch[F], Generic[F]):
    """A search as the examiner gets it: the engine's answer with its leads, and what the rules add."""

    search_id: int = Field(description="Sequence number of the search's audit entry.")
    case_ref: str
    purpose: str
    probe_sha256: str
    stamp: str
    seconds: float = Field(description="Time spent in the search engine.")
    probe: ProbeSummary


LeadSearch = SearchAnswer[LeadFace]


class VerifyAnswer(Comparison):
    """A comparison as the examiner gets it: the engine's, and what the rules add."""

    verify_id: int = Field(description="Sequence number of the verify's audit entry.")
    case_ref: str
    purpose: str
    probe_sha256: list[str] = Field(description="SHA-256 of the first and the second photo.")


class DetectedFace(BaseModel):
    face: int
    box: list[float]
    quality: float
    quality_reasons: list[str]
    searchable: bool = Field(
        description="Searched without `force`: at or above the quality gate, or below it "
        "with reasons only measured not to predict errors (then `quality_warning` says so)."
    )
    quality_warning: str | None = Field(
        default=None, exclude_if=absent, description="Only for a face below the gate that would be searched."
    )
    video: VideoTime | None = Field(
        default=None, exclude_if=absent, description="Only for a probe clip: this face is a track of it (its times)."
    )


class DetectAnswer(BaseModel):
    width: int
    height: int
    model: str
    faces: list[DetectedFace]
    video: ProbeClip | None = Field(default=None, exclude_if=absent, description="Only for a probe clip.")


# Checks ----------------------------------------------------------------------------------------------
def check_threshold(value: float | None) -> float | None:
    """A threshold given by the caller is a similarity score: a finite number in [-1, 1]."""
    if value is None:
        return None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not -1.0 <= value <= 1.0:
        raise Invalid(f"the threshold must be a number between -1 and 1 (got {value!r})", field="threshold")
    return float(value)


def check_model(name: str | None) -> None:
    """A model pack named by the caller must be a known pack; nothing is read for an unknown name."""
    if name is None:
        return
    try:
        get_entry(name)
    except ModelNotFoundError as exc:
        raise Invalid(str(exc), field="model") from exc


def _logged_threshold(value: float | None) -> tuple[float | None, dict[str, Any]]:
    """What the audit entry can keep of a threshold (its JSON has no NaN or infinity): the number, or None and
    the value as given, in words."""
    if value is None or (isinstance(value, (int, float)) and math.isfinite(value)):
        return value, {}
    return None, {"threshold_given": repr(value)}


def summary(result: GallerySearch[Any]) -> list[dict[str, Any]]:
    """What the audit log keeps of a search answer: per probe face, every candidate's ids and scores."""
    return [
        {
            "face": f.face,
            "box": f.box,
            "quality": f.quality,
            "quality_reasons": f.quality_reasons,
            "model": f.model,
            "model_version": f.model_version,
            "skipped": f.skipped,
            "threshold": f.threshold.score,
            **({"video": f.video.model_dump()} if f.video is not None else {}),
            "matches": [
                {
                    "rank": m.rank,
                    "face_id": m.face_id,
                    "image_id": m.image.id,
                    "collection": m.collection,
                    "score": m.score,
                    "fmr": m.fmr,
                    "above_threshold": m.above_threshold,
                    # A video's candidate: when it was seen (the case report shows it).
                    **({"video": m.video.model_dump()} if m.video is not None else {}),
                }
                for m in f.matches
            ],
        }
        for f in result.faces
    ]


def _leads(face: FaceCandidates[Candidate]) -> LeadFace:
    """A probe face's candidates as a new search's leads (all of them: none is confirmed yet)."""
    leads = [Lead(**dict(m), status="lead", stamp=STAMP) for m in face.matches]
    return LeadFace(**{**dict(face), "matches": leads})


# Use cases -------------------------------------------------------------------------------------------
@allowed("examiner")
def search(ctx: Context, actor: Actor, probe: Photo, req: SearchRequest) -> LeadSearch:
    """Find the probe's face in the gallery. The answer carries `search_id` (its audit entry), and every
    candidate is a lead, stamped as one, until two examiners confirm it."""
    logged, given = _logged_threshold(req.threshold)
    with refusal_recorded(
        ctx,
        actor,
        Action.SEARCH,
        case_ref=req.case_ref,
        purpose=req.purpose,
        collections=req.collections,
        threshold=logged,
        details={"top_k": req.top_k, **given},
    ) as attempt:
        check_threshold(req.threshold)
        media = read_probe(ctx.settings, probe)
        sha = attempt.probe_sha256 = media.sha256
        case_ref, purpose = search_gate(ctx, actor, req.case_ref, req.purpose)
        with query(ctx.settings, media) as q:
            keep_probe(ctx.settings, media.keepable(), sha, ctx.now())
            started = time.perf_counter()
            with ctx.engine_lock:
                # Read under the lock, like the gallery: an opt-out whose templates are stored is in the filter,
                # even while its erasure still waits for this lock. A clip is analysed here too (the models are
                # the engine's): for as long as FACESEARCH_PROBE_VIDEO_SECONDS of it take.
                hide = hide_opted_out(ctx)
                found = ctx.engine.search(
                    q.probe,
                    top_k=req.top_k,
                    collections=req.collections,
                    face=req.face,
                    all_faces=req.all_faces,
                    threshold=req.threshold,
                    force=req.force,
                    hide=hide,
                )
            seconds = time.perf_counter() - started
            clip_summary = _clip_summary(ctx, q, found.answer.faces[0].model if found.answer.faces else None)
        record_hidden(ctx, hide, found.hidden)
    result = found.answer
    faces = result.faces
    first = faces[0] if faces else None
    search_id = record(
        ctx,
        actor,
        Action.SEARCH,
        outcome="ok" if any(f.matches for f in faces) else "no_candidates",
        case_ref=case_ref,
        purpose=purpose,
        collections=result.collections,
        model=",".join(sorted({f.model for f in faces})) or None,
        threshold=first.threshold.score if first else req.threshold,
        probe_sha256=sha,
        results=summary(result),
        details={
            "top_k": req.top_k,
            "gallery_size": result.gallery_size,
            "searched": result.collections,
            # The operating point as decided, without its words.
            "threshold": first.threshold.model_dump(exclude={"fmr_text"}) if first else None,
            "face": req.face,
            "all_faces": req.all_faces,
            "force": req.force,
            "seconds": round(seconds, 4),
        },
    )
    matches = [m for f in faces for m in f.matches]
    ctx.seen.add(actor.name, "face", [m.face_id for m in matches])
    ctx.seen.add(actor.name, "image", [m.image.id for m in matches])
    return LeadSearch(
        gallery_size=result.gallery_size,
        collections=result.collections,
        faces=[_leads(f) for f in faces],
        search_id=search_id,
        case_ref=case_ref,
        purpose=purpose,
        probe_sha256=sha,
        stamp=STAMP,
        seconds=round(seconds, 4),
        probe=ProbeSummary(
            label=probe.label,
            sha256=sha,
            width=q.width,
            height=q.height,
            path=str(probe.path) if probe.path is not None else None,
            video=clip_summary,
        ),
    )


def _clip_summary(ctx: Context, q: Query, pack: str | None) -> ProbeClip | None:
    """A probe clip's description and its tracks (from the engine's analysis with `pack`, held for a while)."""
    if q.clip is None or not isinstance(q.probe, Clip):
        return None
    times = []
    if pack is not None:
        with ctx.engine_lock:
            times = ctx.engine.analyze_clip(pack, q.probe).times
    info = q.clip
    return ProbeClip(
        container=info.container,
        codec=info.codec,
        duration=info.duration,
        frame_rate=info.frame_rate,
        sampling_fps=ctx.settings.video_fps,
        analysed_seconds=ctx.settings.probe_video_seconds,
        faces=times,
    )


@allowed("examiner")
def verify(
    ctx: Context,
    actor: Actor,
    first: Photo,
    second: Photo,
    *,
    case_ref: str | None,
    purpose: str | None,
    model: str | None = None,
    threshold: float | None = None,
    force: bool = False,
    face_a: int = 0,
    face_b: int = 0,
) -> VerifyAnswer:
    """Are two photos of the same person? Face `face_a` of the first photo is compared with face `face_b` of
    the second (0 = largest, the default; the answer lists every face found when a photo has several).
    Audit-logged, with the faces compared."""
    logged, given = _logged_threshold(threshold)
    with refusal_recorded(
        ctx,
        actor,
        Action.VERIFY,
        case_ref=case_ref,
        purpose=purpose,
        model=model,
        threshold=logged,
        details={"second_sha256": None, "faces": [face_a, face_b], **given},
    ) as attempt:
        check_model(model)  # before any file is read
        check_threshold(threshold)
        data = [first.read(ctx.settings), second.read(ctx.settings)]
        shas = [sha256_bytes(d) for d in data]
        attempt.probe_sha256 = shas[0]
        attempt.details["second_sha256"] = shas[1]
        case, why = search_gate(ctx, actor, case_ref, purpose)
        a, b = decode(ctx.settings, Photo(data[0], first.label)), decode(ctx.settings, Photo(data[1], second.label))
        with ctx.engine_lock:
            result = ctx.engine.verify(
                a.image, b.image, model=model, threshold=threshold, force=force, face_a=face_a, face_b=face_b
            )
    verify_id = record(
        ctx,
        actor,
        Action.VERIFY,
        case_ref=case,
        purpose=why,
        model=result.model,
        threshold=result.threshold,
        probe_sha256=shas[0],
        results={"score": result.score, "fmr": result.fmr, "same_person": result.same_person},
        details={
            "second_sha256": shas[1],
            "model_version": result.model_version,
            "threshold_reason": result.threshold_reason,
            "quality": [f.quality for f in result.faces],
            "faces": [face_a, face_b],
            "force": force,
        },
    )
    return VerifyAnswer(**dict(result), verify_id=verify_id, case_ref=case, purpose=why, probe_sha256=shas)


@allowed("examiner")
def detect(
    ctx: Context, actor: Actor, probe: Photo, collections: list[str] | None = None, model: str | None = None
) -> DetectAnswer:
    """The faces of a probe, before searching (with the pack of the first of `collections`, default all) or
    comparing (with `model`, default the deployment's pack); a clip's are its tracks, in order of appearance,
    with their times. Nothing is compared with the gallery or another photo, but a probe upload is decoded all
    the same, so it is bounded and logged like one: the per-user limits hold (counted apart from searches, so
    that choosing a face before each search does not halve the search quota) and every call is a `detect`
    entry with the probe's hash, refusals included."""
    check_model(model)
    with refusal_recorded(ctx, actor, Action.DETECT, collections=collections) as attempt:
        media = read_probe(ctx.settings, probe)
        sha = attempt.probe_sha256 = media.sha256
        check_limits(ctx, actor, counted=(Action.DETECT.value,))
        if model is not None:
            pack = model
        else:
            cols = {c.name: c for c in ctx.store.list_collections()}
            chosen = [cols[n] for n in collections or [] if n in cols] or list(cols.values())
            pack = chosen[0].model if chosen else ctx.settings.model
        attempt.model = pack
        with query(ctx.settings, media) as q:
            with ctx.engine_lock:
                if isinstance(q.probe, Clip):
                    found = ctx.engine.analyze_clip(pack, q.probe)
                    fs, times = found.faces, found.times
                else:
                    fs, times = ctx.engine.analyze_probe(pack, q.probe), None
            clip_summary = _clip_summary(ctx, q, pack) if times is not None else None
    record(
        ctx,
        actor,
        Action.DETECT,
        outcome="ok" if len(fs) else "no_face",
        collections=collections,
        model=pack,
        probe_sha256=sha,
        details={"faces": len(fs)},
    )
    settings = ctx.settings
    faces = []
    for i in range(len(fs)):
        qa, reasons = float(fs.quality[i]), fs.reasons[i]
        verdict = quality.gate(qa, reasons, settings.probe_min_quality, settings.probe_refuse_reasons)
        warning = None
        if verdict.below and not verdict.refused:
            warning = quality_warning(qa, reasons, settings.probe_min_quality, refused=False)
        faces.append(
            DetectedFace(
                face=i,
                box=[round(float(v), 1) for v in fs.boxes[i]],
                quality=round(qa, 4),
                quality_reasons=reasons,
                searchable=not verdict.refused,
                quality_warning=warning,
                video=times[i] if times is not None else None,
            )
        )
    return DetectAnswer(width=q.width, height=q.height, model=pack, faces=faces, video=clip_summary)
