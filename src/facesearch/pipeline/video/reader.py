"""Decoding one video safely, and choosing the frames worth analysing.

Decoding is PyAV's (the FFmpeg libraries inside its wheel: no system FFmpeg). The file is opened by this
process (a regular file, checked on the open descriptor as photos are) and handed to FFmpeg as a Python file
object with its demuxer named from the file's signature (`formats`): FFmpeg opens nothing by name, guesses no
format, and follows no reference to another file.

Which frames: one every 1/fps seconds of the file's own timestamps (so a variable frame rate is sampled evenly
in time), plus the first frame after each scene cut (a shot shorter than the sampling interval is still seen,
and a cut tells the tracker that the faces before it are gone). Every frame must be decoded (each depends on
the ones before), but frames no other frame depends on are skipped by the decoder unless one of them is about
to be sampled (`skip_frame` NONREF): with x264's defaults 40% of the frames and 15 to 40% of the decoding
time, and no sampled frame differs by a pixel.
Only sampled frames are converted to BGR, scaled during the conversion to at most `max_side` pixels (detection
runs at 640 anyway) and turned upright from the rotation phones store.

Bounded cost, whatever the file claims:
- memory: frames are streamed, one decoded frame and the sampled frames waiting for analysis at a time; a
  frame above `max_frame_pixels` is refused by the decoder itself (FFmpeg's `max_pixels`), before its buffers
  exist, whether the size is declared in the header or changes mid-stream;
- time: a budget of decoded pixels, the larger of a floor (10 minutes of 1080p30) and 20,000 pixels per byte
  of file. Real video stays far below that rate (1080p30 at 0.5 Mbit/s, a static CCTV scene, is about 1,000
  pixels per byte); a small file that expands to hours of large frames (the video decompression bomb) is
  stopped there, with what was found before kept and the stop reported;
- errors: a packet that does not decode is skipped and counted, a container that cannot be read further ends
  the scan at that point; both are reported with the time they happened. Only a file of which nothing at all
  decodes raises (`VideoError`).

A little over 500 lines: opening, decoding, numbering, sampling and the checks above all act on the same
decoder state, frame by frame; scene cuts (`cuts`) and metadata (`metadata`) live apart.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import formats
from .cuts import CUT_RATIO, CUT_THRESHOLD, CutDetector
from .metadata import recording
from .records import (
    CORRUPT_VIDEO,
    DECODE_BUDGET,
    DECODE_ERRORS,
    FRAME_TOO_LARGE,
    NO_FRAMES,
    NO_VIDEO_STREAM,
    NOT_A_FILE,
    NOT_A_VIDEO,
    READ_ERROR,
    TIME_LIMIT,
    TOO_MANY_PIXELS,
    TRUNCATED,
    UNREADABLE,
    UNSUPPORTED_CODEC,
    Checkpoint,
    VideoError,
    VideoInfo,
    VideoIssue,
)

# Frames sampled per second of video. Measured (docs/benchmarks.md, "Video"): the decoding costs about the same
# whatever is sampled, so at 1080p 2 per second costs 10 to 20% more than 1 and 4 per second 10 to 30% more
# than 2, with the same people found on the benchmark's clips. 2 gives a person on screen for 2 s at least four
# looks instead of two (real footage needs them: turned heads, blur) and keeps 1080p inside the speed goals.
DEFAULT_FPS = 2.0
MAX_SIDE = 1920  # longest side frames are analysed at (4K and 8K are scaled down while converted)
MIN_CUT_GAP = 0.25  # seconds: a cut is sampled only if no frame was sampled this recently
MIN_FRAME_COST = 256 * 256  # pixels a frame costs the budget at least (tiny frames at a huge rate)
MAX_READ_RETRIES = 3  # consecutive container read failures before the rest of the file is given up
# Packet timestamps waiting for their frame: a stream whose packets decode to nothing cannot grow this further
# (the oldest are counted as frames that were there).
MAX_PENDING = 4096


@dataclass(frozen=True)
class Sampling:
    """Which frames are analysed, and at what size."""

    fps: float = DEFAULT_FPS
    cuts: bool = True
    cut_threshold: float = CUT_THRESHOLD
    cut_ratio: float = CUT_RATIO
    min_cut_gap: float = MIN_CUT_GAP
    max_side: int = MAX_SIDE
    threads: int = 0  # decoder threads; 0: FFmpeg's choice from the number of cores
    skip_unneeded: bool = True  # let the decoder skip frames no other frame needs, when none is sampled
    until: float | None = None  # stop at this time (seconds): a probe clip is looked at for so long at most


@dataclass(frozen=True)
class VideoLimits:
    """What one video may cost (see the module docstring)."""

    max_frame_pixels: int = 50_000_000
    min_budget_pixels: int = 1920 * 1080 * 30 * 600
    pixels_per_byte: int = 20_000
    max_errors: int = 1000  # undecodable packets before the file is given up as corrupt

    def budget(self, file_bytes: int) -> int:
        return max(self.min_budget_pixels, self.pixels_per_byte * file_bytes)

    @classmethod
    def from_settings(cls, settings: Any) -> VideoLimits:
        """The limits of a deployment: the largest frame is the largest photo (`max_pixels`)."""
        return cls(max_frame_pixels=int(settings.max_pixels))


@dataclass(frozen=True, eq=False)
class SampledFrame:
    """A frame chosen for analysis: upright BGR, `scale` analysed pixels per display pixel."""

    image: np.ndarray
    scale: float
    time: float
    frame: int
    pts: int | None
    cut: bool  # a scene cut happened since the previous sampled frame


def open_regular(path: Path) -> Any:
    """A binary file object on a regular file, checked on the open descriptor (a FIFO, device or folder is
    refused without waiting on it, and cannot be swapped in between a check and the open)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise VideoError(UNREADABLE, str(exc)) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise VideoError(NOT_A_FILE, "not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=1 << 20)
    except BaseException:
        os.close(fd)
        raise


class VideoReader:
    """One video file, opened and checked; `frames()` yields the sampled frames once.

    Opening decodes the first frame (its rotation completes `info`, and a file of which nothing decodes is
    refused at once). Not thread-safe: one thread iterates it."""

    def __init__(
        self,
        path: Path,
        sampling: Sampling | None = None,
        limits: VideoLimits | None = None,
        resume: Checkpoint | None = None,
    ) -> None:
        import av

        self._av = av
        self.sampling = sampling or Sampling()
        self.limits = limits or VideoLimits()
        self.issues: list[VideoIssue] = []
        self.frames_decoded = 0
        self.frames_sampled = 0
        self.cuts = 0
        self.decode_errors = 0
        self.seconds = 0.0  # time of the last decoded frame
        self._first_error: tuple[str, float | None] = ("", None)
        self._read_errors = 0
        self._first_read_error: tuple[str, float | None] = ("", None)
        self._gave_up_reading = False
        self._too_large = 0
        self._resume = resume
        self._file = open_regular(path)
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # Opening -------------------------------------------------------------------------------------
    def _open(self) -> None:
        av = self._av
        file_bytes = os.fstat(self._file.fileno()).st_size
        container = formats.sniff(os.pread(self._file.fileno(), formats.HEAD_BYTES, 0))
        if container is None:
            raise VideoError(NOT_A_VIDEO, "not a recognised video container")
        self._budget = self.limits.budget(file_bytes)
        self._spent = 0
        options = {"enable_drefs": "0", "use_absolute_path": "0"} if container.demuxer == "mov" else {}
        try:
            self._container = av.open(self._file, format=container.demuxer, options=options, metadata_errors="replace")
        except av.error.EOFError as exc:
            raise VideoError(NO_FRAMES, f"the {container.name} file ends before any frame") from exc
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise VideoError(CORRUPT_VIDEO, f"cannot be read as {container.name}: {exc}") from exc
        stream = self._pick_stream()
        cc = stream.codec_context
        width, height = int(cc.width or 0), int(cc.height or 0)
        if width * height > self.limits.max_frame_pixels:
            raise VideoError(TOO_MANY_PIXELS, f"{width}x{height} exceeds {self.limits.max_frame_pixels} pixels")
        # The decoder refuses larger frames itself, before allocating them (also when the size changes later).
        cc.options = {"max_pixels": str(self.limits.max_frame_pixels)}
        cc.thread_type = "AUTO"
        cc.thread_count = self.sampling.threads
        try:
            cc.open()
        except (av.error.FFmpegError, ValueError) as exc:
            raise VideoError(UNSUPPORTED_CODEC, f"the {cc.name} decoder cannot open this stream: {exc}") from exc
        self._stream = stream
        self._tb = stream.time_base or Fraction(1, 90_000)
        self._origin = stream.start_time if stream.start_time is not None else 0
        rate = stream.average_rate or stream.guessed_rate
        self._rate = float(rate) if rate else None
        self._skip_ok = bool(self.sampling.skip_unneeded and self._rate and self._rate > 2 * self.sampling.fps)
        self._skip_mode = "DEFAULT"
        self._pending: list[int] = []  # packet timestamps not yet matched to an output frame (a heap)
        self._count = 0  # frames presented so far, decoded or skipped
        self._last_pts: int | None = None
        self._deltas: tuple[int, int] | None = None  # smallest and largest step between consecutive frames
        self._gap: tuple[int, int] | None = None  # the timestamps around the largest step
        self._next_due = 0.0 if self._resume is None else self._resume.time
        self._last_sample = -math.inf
        self._pending_cut = False
        self._cut_detector = CutDetector(self.sampling.cut_threshold, self.sampling.cut_ratio)
        self._finished = False
        if self._resume is not None:
            self._seek(self._resume)
        self._raw = self._decoded()
        self._first = self._first_frame()
        self.info = self._describe(container, stream, self._first)

    def _pick_stream(self) -> Any:
        av = self._av
        videos = [
            s
            for s in self._container.streams.video
            if not (s.disposition & av.stream.Disposition.attached_pic)  # cover art is not the video
        ]
        if not videos:
            audio = len(self._container.streams.audio)
            raise VideoError(NO_VIDEO_STREAM, "audio only" if audio else "no video stream")
        unknown = []
        for s in videos:
            try:
                cc = s.codec_context
            except (av.error.FFmpegError, ValueError, AttributeError):
                cc = None
            if cc is not None and cc.name:
                return s
            unknown.append(str(s.metadata.get("codec_tag") or getattr(s, "codec_tag", "") or "unknown"))
        raise VideoError(UNSUPPORTED_CODEC, f"no decoder for the video stream ({', '.join(unknown)})")

    def _first_frame(self) -> Any:
        try:
            return next(self._raw)
        except StopIteration:
            if self.decode_errors or self._read_errors or self.issues:
                details = [i.detail for i in self.issues]
                details += [f"read error: {self._first_read_error[0]}"] if self._read_errors else []
                details += (
                    [f"{self.decode_errors} packets failed: {self._first_error[0]}"] if self.decode_errors else []
                )
                raise VideoError(CORRUPT_VIDEO, "no frame decodes: " + "; ".join(details)) from None
            raise VideoError(NO_FRAMES, "the video stream holds no frame") from None

    def _describe(self, container: formats.Container, stream: Any, first: Any) -> VideoInfo:
        cc = stream.codec_context
        coded_w, coded_h = int(first.width), int(first.height)
        rotation = _rotation(first)
        dw, dh = self._display_size(coded_w, coded_h)
        if rotation in (90, 270):
            dw, dh = dh, dw
        duration = None
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / 1_000_000
        frames = int(stream.frames) if stream.frames else None
        return VideoInfo(
            container=container.name,
            media_type=container.media_type,
            codec=str(cc.name),
            width=dw,
            height=dh,
            coded_width=coded_w,
            coded_height=coded_h,
            rotation=rotation,
            duration=round(duration, 6) if duration is not None and duration > 0 else None,
            frame_rate=round(self._rate, 6) if self._rate else None,
            frames=frames,
            recording=recording(dict(self._container.metadata), dict(stream.metadata)),
        )

    def _display_size(self, width: int, height: int) -> tuple[int, int]:
        """Coded size with the pixel aspect ratio applied (anamorphic DV and broadcast video)."""
        sar = self._stream.sample_aspect_ratio or self._stream.codec_context.sample_aspect_ratio
        if sar and sar > 0 and sar != 1:
            return max(1, round(width * float(sar))), height
        return width, height

    def _seek(self, checkpoint: Checkpoint) -> None:
        """Start decoding at the keyframe at or before the checkpoint (frames before it only prime the cut
        detector); frame numbers continue from the checkpoint's."""
        try:
            self._container.seek(checkpoint.pts, stream=self._stream, backward=True, any_frame=False)
        except (self._av.error.FFmpegError, OSError) as exc:
            raise VideoError(CORRUPT_VIDEO, f"cannot resume at {checkpoint.time:.3f} s: {exc}") from exc

    # Decoding ------------------------------------------------------------------------------------
    def _decoded(self) -> Iterator[Any]:
        """Every frame the decoder outputs, in presentation order; packets that fail are skipped and counted,
        a container that cannot be read ends the stream (both reported)."""
        av = self._av
        cc = self._stream.codec_context
        retries = 0
        flushed = False
        while not flushed:
            try:
                for packet in self._container.demux(self._stream):
                    retries = 0
                    if packet.is_corrupt:  # the demuxer saw damage (a bad checksum, a broken packet chain)
                        self._damage("damaged packet")
                    if packet.size == 0:  # the end: the decoder gives back what it holds
                        flushed = True
                    elif packet.pts is not None:
                        heapq.heappush(self._pending, int(packet.pts))
                        if len(self._pending) > MAX_PENDING:
                            self._step(heapq.heappop(self._pending))
                            self._count += 1
                    else:
                        self._skip_ok = False  # no timestamps to number skipped frames by
                    self._set_skip(packet.pts)
                    try:
                        frames = cc.decode(packet)
                    except av.error.FFmpegError as exc:
                        if self._decode_error(exc):
                            return
                        continue
                    yield from frames
                break
            except (av.error.FFmpegError, OSError) as exc:
                retries += 1
                self._read_errors += 1
                if self._read_errors == 1:
                    self._first_read_error = (str(exc), self._at())
                if retries >= MAX_READ_RETRIES or self._read_errors >= self.limits.max_errors:
                    self._gave_up_reading = True
                    break
        if not flushed:
            with contextlib.suppress(av.error.FFmpegError):
                yield from cc.decode(None)

    def _decode_error(self, exc: Exception) -> bool:
        """Count a packet that did not decode; True when there have been too many to go on."""
        self._damage(str(exc))
        if self.decode_errors >= self.limits.max_errors:
            self.issues.append(
                VideoIssue(
                    CORRUPT_VIDEO, f"{self.decode_errors} packets failed to decode; the rest is skipped", self._at()
                )
            )
            return True
        return False

    def _damage(self, what: str) -> None:
        self.decode_errors += 1
        if self.decode_errors == 1:
            self._first_error = (what, self._at())

    def _at(self) -> float | None:
        return round(self.seconds, 3) if self.frames_decoded else None

    def _set_skip(self, pts: int | None) -> None:
        """Decode every frame near the next sampling time; elsewhere only frames others depend on."""
        if not self._skip_ok:
            mode = "DEFAULT"
        else:
            assert self._rate is not None
            t = self._time(pts) if pts is not None else self._next_due
            near = self._next_due - 0.5 / self._rate <= t < self._next_due + 2.5 / self._rate
            mode = "DEFAULT" if near else "NONREF"
        if mode != self._skip_mode:
            self._stream.codec_context.skip_frame = mode
            self._skip_mode = mode

    def _time(self, pts: int) -> float:
        return max(0.0, float((pts - self._origin) * self._tb))

    def _number(self, pts: int | None) -> int:
        """The frame's number in presentation order: frames skipped by the decoder or lost to errors before it
        are counted from their packets' timestamps."""
        if pts is not None:
            while self._pending and self._pending[0] < pts:
                self._step(heapq.heappop(self._pending))
                self._count += 1
            if self._pending and self._pending[0] == pts:
                heapq.heappop(self._pending)
            self._step(pts)
        number = self._count
        self._count += 1
        return number

    def _step(self, pts: int) -> None:
        if self._last_pts is not None and pts > self._last_pts:
            d = pts - self._last_pts
            lo, hi = self._deltas or (d, d)
            self._deltas = (min(lo, d), max(hi, d))
            if self._gap is None or d > self._gap[1] - self._gap[0]:
                self._gap = (self._last_pts, pts)
        self._last_pts = pts

    # Sampling ------------------------------------------------------------------------------------
    def frames(self) -> Iterator[SampledFrame]:
        """The sampled frames, in order; the report fields (issues, counts, seconds) are final once this ends."""
        if self._finished:
            return
        resume = self._resume
        offset = 0  # frame numbers after a seek: counted from the checkpoint's
        raw = self._chain()
        for frame in raw:
            pts = None if frame.pts is None else int(frame.pts)
            t = self._time(pts) if pts is not None else self.seconds + (1 / self._rate if self._rate else 0.0)
            number = self._number(pts)
            self.frames_decoded += 1
            self.seconds = t
            pixels = int(frame.width) * int(frame.height)
            self._spent += max(pixels, MIN_FRAME_COST)
            if self._spent > self._budget:
                self.issues.append(
                    VideoIssue(
                        DECODE_BUDGET,
                        f"stopped after {self._spent} decoded pixels (budget {self._budget} for this file's size)",
                        round(t, 3),
                    )
                )
                break
            if self.sampling.until is not None and t > self.sampling.until:
                self.issues.append(
                    VideoIssue(TIME_LIMIT, f"analysed up to {self.sampling.until:g} s, the limit", round(t, 3))
                )
                break
            if pixels > self.limits.max_frame_pixels:
                self._too_large += 1
                if self._too_large == 1:
                    self.issues.append(
                        VideoIssue(FRAME_TOO_LARGE, f"{frame.width}x{frame.height} frames skipped", round(t, 3))
                    )
                continue
            cut = self._cut(frame)
            if resume is not None:
                if pts is None or pts < resume.pts:
                    continue
                offset = resume.frame - number
                due = True
                resume = None
            else:
                if cut:
                    self.cuts += 1
                    self._pending_cut = True
                due = t >= self._next_due - 1e-6 or (cut and t - self._last_sample >= self.sampling.min_cut_gap)
            if not due or frame.is_corrupt:
                continue
            sampled = self._sample(frame, t, number + offset, pts)
            self._pending_cut = False
            self._last_sample = t
            self._next_due = (math.floor(t * self.sampling.fps + 1e-6) + 1) / self.sampling.fps
            self.frames_sampled += 1
            yield sampled
        self._finish()

    def _chain(self) -> Iterator[Any]:
        yield self._first
        self._first = None
        yield from self._raw

    def _sample(self, frame: Any, t: float, number: int, pts: int | None) -> SampledFrame:
        rotation = _rotation(frame)
        dw, dh = self._display_size(int(frame.width), int(frame.height))
        scale = min(1.0, self.sampling.max_side / max(dw, dh))
        tw, th = max(2, round(dw * scale)), max(2, round(dh * scale))
        if (tw, th) == (frame.width, frame.height):
            image = frame.to_ndarray(format="bgr24")
        else:
            image = frame.to_ndarray(format="bgr24", width=tw, height=th, interpolation="AREA")
        if rotation:
            image = cv2.rotate(image, _CV_ROTATE[rotation])
        return SampledFrame(np.ascontiguousarray(image), scale, round(t, 6), number, pts, self._pending_cut)

    def _cut(self, frame: Any) -> bool:
        """Whether this frame starts a new shot (against the previous decoded frame)."""
        return self.sampling.cuts and self._cut_detector.update(frame)

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self._read_errors:
            detail, at = self._first_read_error
            end = "; the rest of the file was not read" if self._gave_up_reading else ""
            self.issues.append(
                VideoIssue(READ_ERROR, f"the container could not be read {self._read_errors} times ({detail}){end}", at)
            )
        if self.decode_errors and not any(i.reason == CORRUPT_VIDEO for i in self.issues):
            detail, at = self._first_error
            text = f"{self.decode_errors} packets damaged or not decodable (first: {detail})"
            if self._gap is not None and self._rate and self.variable_frame_rate:
                a, b = (self._time(x) for x in self._gap)
                if b - a > 2.5 / self._rate:
                    text += f"; no frame between {a:.3f} s and {b:.3f} s"
            self.issues.append(VideoIssue(DECODE_ERRORS, text, at))
        duration = self.info.duration
        if duration and not any(i.reason in (DECODE_BUDGET, TIME_LIMIT) for i in self.issues):
            frame_time = 1 / self._rate if self._rate else 0.04
            if self.seconds < duration - max(0.5, 3 * frame_time):
                self.issues.append(
                    VideoIssue(
                        TRUNCATED, f"decoding ended at {self.seconds:.3f} s of {duration:.3f} s", round(self.seconds, 3)
                    )
                )

    @property
    def variable_frame_rate(self) -> bool:
        """Whether the steps between frame timestamps differ by more than half (a dropped frame counts)."""
        if self._deltas is None:
            return False
        lo, hi = self._deltas
        return hi > 1.5 * lo

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None
        self._file.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_CV_ROTATE = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


def _rotation(frame: Any) -> int:
    """Degrees counter-clockwise that turn the stored frame upright (the display matrix phones write), to the
    nearest quarter turn."""
    try:
        angle = float(frame.rotation or 0)
    except (AttributeError, TypeError, ValueError):
        return 0
    return int(round(angle / 90.0)) % 4 * 90
