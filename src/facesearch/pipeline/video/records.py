"""What a video scan hands to its caller: plain, typed records an ingest can commit as they are.

Per video: `VideoInfo` (container, codec, upright size, rotation, duration, frame rate, and the metadata that
identifies the recording), the `Track`s found in it, and a `VideoReport` of what was decoded and what was
wrong with the file. Per track: its start and end and the best few faces (`VideoFace`), each with its time,
frame number, box, landmarks, quality, embedding and a JPEG thumbnail. Times are seconds from the start of
the file (what a player's clock shows); boxes and landmarks are in the pixels of the upright frame at its full
display size, whatever size the frame was analysed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import ImageError

# Reason codes, stable: they appear in ingest reports beside the images' (imaging.py). A VideoError carries
# one of the first group: nothing of the file can be analysed. A VideoIssue carries one of the second: the
# file was analysed up to a point, or with gaps, and everything found before and around it is kept.
NOT_A_VIDEO = "NOT_A_VIDEO"
UNREADABLE = "UNREADABLE_FILE"
NOT_A_FILE = "NOT_A_FILE"
NO_VIDEO_STREAM = "NO_VIDEO_STREAM"  # e.g. audio only
UNSUPPORTED_CODEC = "UNSUPPORTED_CODEC"
TOO_MANY_PIXELS = "TOO_MANY_PIXELS"
NO_FRAMES = "NO_FRAMES"
CORRUPT_VIDEO = "CORRUPT_VIDEO"

TRUNCATED = "VIDEO_TRUNCATED"  # decoding ended well before the duration the container declares
DECODE_ERRORS = "VIDEO_DECODE_ERRORS"  # some packets or frames could not be decoded and were skipped
READ_ERROR = "VIDEO_READ_ERROR"  # the container could not be read past a point
DECODE_BUDGET = "VIDEO_DECODE_BUDGET"  # the decoded-pixel budget ran out: the rest of the file was not decoded
FRAME_TOO_LARGE = "VIDEO_FRAME_TOO_LARGE"  # a frame above the pixel limit (the size changed mid-stream)
TIME_LIMIT = "VIDEO_TIME_LIMIT"  # the scan stopped at the time it was asked to (`Sampling.until`)


class VideoError(ImageError):
    """A file that cannot be analysed as a video at all. It is an ImageError (same kinds, same reason/detail
    fields), so whatever reports a bad photo reports a bad video the same way."""


@dataclass(frozen=True)
class Recording:
    """Container metadata that identifies the recording, as the file states it (untrusted text: control
    characters removed, length capped). None where the file says nothing."""

    creation_time: str | None = None  # ISO 8601, as written (phones give local time with its offset)
    make: str | None = None
    model: str | None = None
    software: str | None = None
    encoder: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class VideoInfo:
    container: str  # formats.Container.name: mp4, mov, m4v, 3gp, matroska, webm, avi, mpegts, mpeg
    media_type: str
    codec: str  # FFmpeg's decoder name: h264, hevc, vp9, av1, mjpeg, ...
    width: int  # upright display size: rotation and pixel aspect ratio applied
    height: int
    coded_width: int
    coded_height: int
    rotation: int  # degrees counter-clockwise the stored frames are turned to be shown upright (0, 90, 180, 270)
    duration: float | None  # seconds, as the container declares it
    frame_rate: float | None  # average frames per second, as declared
    frames: int | None  # frame count, as declared (many containers do not say)
    recording: Recording = field(default_factory=Recording)


@dataclass(frozen=True, eq=False)
class VideoFace:
    """One kept face of a track, on one sampled frame."""

    track: int
    time: float  # seconds from the start of the file
    frame: int  # frame number in presentation order, 0 first
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the upright frame's display pixels
    landmarks: tuple[tuple[float, float], ...]  # 5 points, same coordinates
    det_score: float
    quality: float
    reasons: tuple[str, ...]
    embedding: np.ndarray  # (dim,) float32, L2-normalised
    thumbnail: bytes  # JPEG of a square crop around the face


@dataclass(frozen=True, eq=False)
class Track:
    """One face followed across sampled frames of one shot. It never holds two faces of one frame.

    `start` and `end` are the times of the first and last sampled frames it was seen on (the person may be on
    screen up to one sampling interval longer at either end); `faces` are the best few by quality, best
    first; `seen_with` lists the tracks visible on the same sampled frame at least once (never the same
    person; and what co-appearance counts)."""

    id: int
    start: float
    end: float
    start_frame: int
    end_frame: int
    sightings: int  # sampled frames it was seen on
    faces: tuple[VideoFace, ...]
    seen_with: tuple[int, ...]

    @property
    def best(self) -> VideoFace:
        return self.faces[0]


@dataclass(frozen=True)
class VideoIssue:
    """Something wrong with the file that did not stop the scan: what, in words, and from when (seconds)."""

    reason: str
    detail: str
    at: float | None = None


@dataclass(frozen=True)
class Checkpoint:
    """A sampled frame at which no track was open: every track that began before it has already been handed
    over, so a scan resumed here (`scan_video(..., resume=checkpoint)`) gives the same tracks as one that ran
    through. `pts` is the frame's timestamp in its stream's time base."""

    time: float
    frame: int
    pts: int
    next_track: int


@dataclass(frozen=True)
class ScanProgress:
    """How far a scan is, in video seconds (`duration` None: the container does not say)."""

    seconds: float
    duration: float | None
    frames_decoded: int
    frames_sampled: int
    tracks: int  # handed over so far
    checkpoint: Checkpoint | None  # the latest point it could resume from (None: none yet)


@dataclass(frozen=True)
class VideoReport:
    """What the scan decoded, and what went wrong without stopping it."""

    frames_decoded: int
    frames_sampled: int
    cuts: int  # scene cuts seen
    faces: int  # faces detected on sampled frames (every one, kept or not)
    tracks: int  # tracks handed over
    tracks_below_quality: int  # tracks whose every face was below the minimum quality: not handed over
    seconds: float  # time of the last decoded frame
    decode_errors: int
    variable_frame_rate: bool
    complete: bool  # decoded to the end, with no issue
    issues: tuple[VideoIssue, ...]


@dataclass(frozen=True, eq=False)
class VideoAnalysis:
    """One video, analysed: built once, complete, by `analyse_video`."""

    info: VideoInfo
    tracks: tuple[Track, ...]
    report: VideoReport
