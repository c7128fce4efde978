"""The gallery as users see it: images (and videos) with their faces, image and video files, face thumbnails,
the frame of a video a face was seen on, and the numbers of `stats`. Every look at a gallery image is logged,
unless the search or view that showed it to this user already was.

Files are served only from where they were checked (`services.served_files`): no link followed in any
component, under an ingest root or the home's `uploads/` only, and the SHA-256 stored at ingest compared
before a byte is served; thumbnails only from `thumbs/`.

An examiner looking up an image or a face by id that no search or view showed them is searching by other
means: the lookup passes the search gate (case reference, allowed purpose, kill switch, limits) and is
logged under its case. The candidate face of a proposal is the evidence of a two-person review that every
examiner may decide: its thumbnail is served without a gate, logged under the proposal's case. Operators
manage the gallery (ingest, erasure, opt-out review) and look at what they manage without a case; each look
is logged. Nobody is shown a face a search hides (an opt-out): it is not listed on its image, its thumbnail
and frame are not found, and an image with only such faces is not found."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from ..pipeline.imaging import sniff_media_type
from ..pipeline.video import VideoError, VideoLimits
from ..pipeline.video.formats import HEAD_BYTES, sniff
from ..pipeline.video.still import frame_jpeg
from ..services.search_results import VideoTime, absent
from ..services.served_files import open_checked, read_thumbnail
from ..store import videos
from ..store.proposals import proposed_case
from ..store.video_tables import DONE
from ..vocabulary import Action
from .auditing import record, refusal_recorded
from .context import Actor, Context
from .errors import NotFound
from .optout import opted_out_faces
from .policy import search_gate
from .roles import allowed
from .when import iso

# File extensions a downloaded video is given, by container (its name is never the file's own).
VIDEO_EXTENSIONS = {"mp4": "mp4", "m4v": "m4v", "mov": "mov", "3gp": "3gp", "matroska": "mkv", "webm": "webm"}
VIDEO_EXTENSIONS |= {"avi": "avi", "mpegts": "ts", "mpeg": "mpg"}


# Results ----------------------------------------------------------------------------------------
class ImageFace(BaseModel):
    """A face of an image: its number in the image, box, quality and detection score (a video's face: when it
    was seen, and its track)."""

    model_config = ConfigDict(frozen=True)

    face_id: int
    face: int
    box: list[float]
    quality: float
    detection_score: float
    video: VideoTime | None = Field(default=None, exclude_if=absent, description="Only for a face from a video.")


class VideoIssueView(BaseModel):
    """Something wrong with a video file that did not stop its ingest: what, and from when (seconds)."""

    model_config = ConfigDict(frozen=True)

    reason: str
    detail: str
    at: float | None


class VideoView(BaseModel):
    """A video file as ingested: its container and how it was scanned."""

    model_config = ConfigDict(frozen=True)

    container: str
    codec: str
    duration: float | None = Field(description="Seconds, as the container declares it.")
    frame_rate: float | None
    rotation: int = Field(description="Degrees the stored frames are turned to be shown upright.")
    sampling_fps: float = Field(description="Frames analysed per second (plus one after each scene cut).")
    complete: bool = Field(description="The scan reached the end of the file (false: an ingest still to resume).")
    analysed_seconds: float = Field(description="Video time the scan has covered.")
    issues: list[VideoIssueView] = Field(description="What was wrong with the file (what decoded was ingested).")


class ImageView(BaseModel):
    """An image with its provenance and faces; a video file also has `video` (its faces, their times)."""

    model_config = ConfigDict(frozen=True)

    id: int
    collection: str
    sha256: str
    path: str | None
    source_url: str | None
    metadata: dict[str, Any]
    width: int
    height: int
    ingested_at: str | None
    faces: list[ImageFace]
    video: VideoView | None = Field(default=None, exclude_if=absent, description="Only for a video file.")


class ImageFile(NamedTuple):
    """An image (or video) file to serve: where it is, its type as decoded from its first bytes (never from
    its name): an image or video type a browser may show, or application/octet-stream for anything else, and
    the file itself, opened and checked (a regular file, not a link): what is served is what was checked. The
    caller closes `opened`."""

    path: Path
    media_type: str
    extension: str
    opened: BinaryIO

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith(("image/", "video/"))


class CollectionStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    model: str
    created_at: str | None
    images: int
    faces: int


class GalleryStats(BaseModel):
    """Counts only, nothing about anyone: images, faces, collections, the size of the index files."""

    model_config = ConfigDict(frozen=True)

    images: int
    faces: int
    images_without_faces: int
    collections: list[CollectionStats]
    home: str
    default_model: str
    index_bytes: int


# Use cases --------------------------------------------------------------------------------------
def _lookup_gate(
    ctx: Context, actor: Actor, kind: str, ident: int, case_ref: str | None, purpose: str | None
) -> tuple[str | None, str | None]:
    """An examiner's lookup by id of what no gated search or view showed them: the search gate, a refusal
    logged. Returns the (case, purpose) to log the lookup under (None, None when no gate was needed)."""
    if actor.role != "examiner" or ctx.seen.seen(actor.name, kind, ident):
        return case_ref, purpose
    if kind == "face" and (proposed := proposed_case(ctx.store, ident)) is not None:
        return proposed or None, None  # a proposal's candidate: evidence every reviewer looks at, logged
    with refusal_recorded(
        ctx, actor, Action.VIEW_MATCH, case_ref=case_ref, purpose=purpose, details={f"{kind}_id": ident}
    ):
        return search_gate(ctx, actor, case_ref, purpose)


def _hidden_image(ctx: Context, image_id: int, face_ids: list[int], view: str) -> set[int]:
    """The faces of an image a search hides; NotFound when every face of it is hidden."""
    hidden = opted_out_faces(ctx, face_ids, view)
    if face_ids and hidden >= set(face_ids):
        raise NotFound(f"no image with id {image_id}")
    return hidden


@allowed("examiner", "operator")
def view_image(
    ctx: Context,
    actor: Actor,
    image_id: int,
    case_ref: str | None = None,
    search_id: int | None = None,
    purpose: str | None = None,
) -> ImageView:
    """An image with its faces and provenance (logged as a view of a match)."""
    case_ref, purpose = _lookup_gate(ctx, actor, "image", image_id, case_ref, purpose)
    row = ctx.store.image_with_collection(image_id)
    if row is None:
        raise NotFound(f"no image with id {image_id}")
    img, collection = row
    faces = ctx.store.image_faces(image_id)
    hidden = _hidden_image(ctx, image_id, [f.id for f in faces], "image")
    faces = [f for f in faces if f.id not in hidden]
    record(
        ctx,
        actor,
        Action.VIEW_MATCH,
        case_ref=case_ref,
        purpose=purpose,
        collections=[collection],
        results={"image_id": image_id, "face_ids": [f.id for f in faces]},
        details={"search_id": search_id, "sha256": img.sha256},
    )
    ctx.seen.add(actor.name, "image", [image_id])
    ctx.seen.add(actor.name, "face", [f.id for f in faces])
    video = videos.video_of_image(ctx.store, image_id)
    times = videos.face_times(ctx.store, [f.id for f in faces]) if video is not None else {}
    return ImageView(
        id=img.id,
        collection=collection,
        sha256=img.sha256,
        path=img.path,
        source_url=img.source_url,
        metadata=img.meta or {},
        width=img.width,
        height=img.height,
        ingested_at=iso(img.ingested_at),
        faces=[
            ImageFace(
                face_id=f.id,
                face=f.face_index,
                box=[f.x1, f.y1, f.x2, f.y2],
                quality=f.quality,
                detection_score=f.det_score,
                video=_time(times.get(f.id)),
            )
            for f in faces
        ],
        video=_video_view(video),
    )


def _time(info: videos.VideoFaceInfo | None) -> VideoTime | None:
    if info is None:
        return None
    return VideoTime(time=info.time, frame=info.frame, track=info.track, start=info.start, end=info.end)


def _video_view(video: dict[str, Any] | None) -> VideoView | None:
    if video is None:
        return None
    report = video.get("report") or {}
    return VideoView(
        container=video["container"],
        codec=video["codec"],
        duration=video["duration"],
        frame_rate=video["frame_rate"],
        rotation=video["rotation"],
        sampling_fps=video["sampling_fps"],
        complete=video["status"] == DONE,
        analysed_seconds=video["seconds"],
        issues=[VideoIssueView(**i) for i in report.get("issues", [])],
    )


@allowed("examiner", "operator")
def image_file(
    ctx: Context, actor: Actor, image_id: int, *, case_ref: str | None = None, purpose: str | None = None
) -> ImageFile:
    """The image (or video) file and its type, opened where it was checked and with the SHA-256 stored at
    ingest. Fetched without a logged search or view that showed it, this is the view."""
    gated = _lookup_gate(ctx, actor, "image", image_id, case_ref, purpose)
    row = ctx.store.image_with_collection(image_id)
    if row is None:
        raise NotFound(f"no image with id {image_id}")
    img, collection = row
    _hidden_image(ctx, image_id, [f.id for f in ctx.store.image_faces(image_id)], "image file")
    if not ctx.seen.seen(actor.name, "image", image_id):
        record(
            ctx,
            actor,
            Action.VIEW_MATCH,
            case_ref=gated[0],
            purpose=gated[1],
            collections=[collection],
            results={"image_id": image_id},
            details={"via": "file"},
        )
        ctx.seen.add(actor.name, "image", [image_id])
    path = Path(img.path) if img.path else None
    if path is None:
        raise NotFound("the image file is no longer at its recorded path")
    opened = open_recorded(ctx, img.path, img.sha256)
    try:
        head = os.pread(opened.fileno(), HEAD_BYTES, 0)
    except OSError as exc:
        opened.close()
        raise NotFound("the image file cannot be read at its recorded path") from exc
    container = sniff(head)
    media_type, extension = (
        (container.media_type, VIDEO_EXTENSIONS.get(container.name, "video")) if container else sniff_media_type(head)
    )
    return ImageFile(path, media_type, extension, opened)


def open_recorded(ctx: Context, path: str | None, sha256: str | None) -> BinaryIO:
    """The file at an image's recorded path, opened where it was checked (`served_files.open_checked`: no link
    in any component, an ingest root or the home's uploads, the stored SHA-256). Whatever is read or served
    next is read from this open file, never from the path again. One answer whatever the reason: nothing
    about what is (or is not) at the path leaks."""
    opened = open_checked(ctx.settings, path, sha256)
    if opened is None:
        raise NotFound("the image file is no longer at its recorded path, or is not the file that was ingested")
    return opened


@allowed("examiner", "operator")
def face_frame(
    ctx: Context, actor: Actor, face_id: int, *, case_ref: str | None = None, purpose: str | None = None
) -> bytes:
    """The whole frame of the video a face was seen on (JPEG, at most 1280 px): the scene around a match. Only
    the frames at which a stored face was seen can be read, never any other moment of a video. Fetched without
    a logged search or view that showed the video, this is the view."""
    details = ctx.store.face_details([face_id]).get(face_id)
    if details is None:
        raise NotFound(f"no face with id {face_id}")
    video = details.get("video")
    if video is None:
        raise NotFound(f"face {face_id} is not from a video")
    image_id = details["image_id"]
    gated = _lookup_gate(ctx, actor, "image", image_id, case_ref, purpose)
    if opted_out_faces(ctx, [face_id], "frame"):
        raise NotFound(f"no face with id {face_id}")
    if not ctx.seen.seen(actor.name, "image", image_id):
        record(
            ctx,
            actor,
            Action.VIEW_MATCH,
            case_ref=gated[0],
            purpose=gated[1],
            collections=[details["collection"]],
            results={"image_id": image_id, "face_id": face_id, "time": video["time"]},
            details={"via": "frame"},
        )
        ctx.seen.add(actor.name, "image", [image_id])
    row = ctx.store.image_with_collection(image_id)
    if not details["path"] or row is None:
        raise NotFound("the video file is no longer at its recorded path")
    with open_recorded(ctx, details["path"], row[0].sha256) as fh:
        try:
            return frame_jpeg(fh, float(video["time"]), VideoLimits.from_settings(ctx.settings))
        except VideoError as exc:
            raise NotFound(f"the frame cannot be read from the video file: {exc.detail}") from exc


@allowed("examiner", "operator")
def face_thumbnail(
    ctx: Context, actor: Actor, face_id: int, *, case_ref: str | None = None, purpose: str | None = None
) -> bytes:
    """The face's thumbnail (JPEG bytes, from `thumbs/` only). Fetched without a logged search or view that
    showed the face, this is the view."""
    gated = _lookup_gate(ctx, actor, "face", face_id, case_ref, purpose)
    details = ctx.store.face_details([face_id]).get(face_id)
    if details is None or opted_out_faces(ctx, [face_id], "thumbnail"):
        raise NotFound(f"no face with id {face_id}")
    if not ctx.seen.seen(actor.name, "face", face_id):
        record(
            ctx,
            actor,
            Action.VIEW_THUMBNAIL,
            case_ref=gated[0],
            purpose=gated[1],
            collections=[details["collection"]],
            results={"face_id": face_id, "image_id": details["image_id"]},
        )
        ctx.seen.add(actor.name, "face", [face_id])
    data = read_thumbnail(ctx.settings, details["thumbnail"])
    if data is None:  # missing, a link, or a name pointing out of thumbs/
        raise NotFound("the thumbnail file is missing")
    return data


@allowed("operator", "admin", "examiner", "auditor")
def stats(ctx: Context, actor: Actor) -> GalleryStats:
    """Images, faces, collections, index size: counts only, nothing about anyone."""
    counts = ctx.store.stats()
    index_dir = ctx.settings.index_dir
    index_bytes = sum(p.stat().st_size for p in index_dir.glob("*.faiss")) if index_dir.exists() else 0
    return GalleryStats(
        images=counts["images"],
        faces=counts["faces"],
        images_without_faces=counts["images_without_faces"],
        collections=[CollectionStats(**c) for c in counts["collections"]],
        home=str(ctx.settings.home),
        default_model=ctx.settings.model,
        index_bytes=index_bytes,
    )
