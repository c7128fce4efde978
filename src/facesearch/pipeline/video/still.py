"""One frame of a video, at a given time: what a result shows beside a face from a video (the whole scene the
face was seen in), decoded with the reader's care.

The file is opened by this process and checked (a regular file), its demuxer named from its signature, the
frame size bounded by the decoder itself (`max_pixels`), rotation applied. Decoding starts at the keyframe at
or before the time and goes forward to the frame shown at that time, at most `MAX_FRAMES` frames and
`MAX_PIXELS` pixels: a file whose keyframes are further apart than that (or that lies about its timestamps,
or holds huge frames) gives the last frame decoded, never an unbounded decode. Frames are read, never
written: nothing of the video is cached.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, BinaryIO

import cv2
import numpy as np

from . import formats
from .reader import _CV_ROTATE, VideoLimits, _rotation, open_regular
from .records import CORRUPT_VIDEO, NO_FRAMES, NO_VIDEO_STREAM, NOT_A_VIDEO, TOO_MANY_PIXELS, VideoError

MAX_FRAMES = 900  # frames decoded after the seek at most (30 s at 30 fps)
MAX_PIXELS = 1920 * 1080 * 300  # and pixels: 10 s of 1080p at 30 frames a second, whatever the frame size
MAX_SIDE = 1280  # the still is scaled down to this longest side


def frame_at(
    source: Path | BinaryIO, seconds: float, limits: VideoLimits | None = None, max_side: int = MAX_SIDE
) -> np.ndarray:
    """The upright BGR frame shown `seconds` after the start of the video (as the scan timed its frames),
    scaled to at most `max_side` pixels. `source`: the file, or a binary file object already opened (and
    checked) by the caller, which stays open. VideoError when nothing decodes there."""
    import av

    limits = limits or VideoLimits()
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(open_regular(source)) if isinstance(source, Path) else source
        container = formats.sniff(os.pread(fh.fileno(), formats.HEAD_BYTES, 0))
        if container is None:
            raise VideoError(NOT_A_VIDEO, "not a recognised video container")
        options = {"enable_drefs": "0", "use_absolute_path": "0"} if container.demuxer == "mov" else {}
        try:
            media = av.open(fh, format=container.demuxer, options=options, metadata_errors="replace")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise VideoError(CORRUPT_VIDEO, f"cannot be read as {container.name}: {exc}") from exc
        try:
            return _decode_at(av, media, seconds, limits, max_side)
        finally:
            media.close()


def _decode_at(av: Any, media: Any, seconds: float, limits: VideoLimits, max_side: int) -> np.ndarray:
    streams = [s for s in media.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not streams:
        raise VideoError(NO_VIDEO_STREAM, "no video stream")
    stream = streams[0]
    cc = stream.codec_context
    if int(cc.width or 0) * int(cc.height or 0) > limits.max_frame_pixels:
        raise VideoError(TOO_MANY_PIXELS, f"{cc.width}x{cc.height} exceeds {limits.max_frame_pixels} pixels")
    cc.options = {"max_pixels": str(limits.max_frame_pixels)}
    cc.thread_type = "AUTO"
    tb = stream.time_base
    origin = stream.start_time if stream.start_time is not None else 0
    target = origin + (round(max(0.0, seconds) / tb) if tb else 0)
    rate = stream.average_rate or stream.guessed_rate
    slack = round(0.5 / float(rate) / tb) if rate and tb else 0  # half a frame: the frame shown at that time
    try:
        media.seek(int(target), stream=stream, backward=True, any_frame=False)
    except (av.error.FFmpegError, OSError):
        media.seek(0)
    chosen = None
    decoded = spent = 0
    try:
        for frame in media.decode(stream):
            decoded += 1
            spent += int(frame.width) * int(frame.height)
            chosen = frame
            if frame.pts is None or frame.pts >= target - slack or decoded >= MAX_FRAMES or spent >= MAX_PIXELS:
                break
    except av.error.FFmpegError as exc:
        if chosen is None:
            raise VideoError(CORRUPT_VIDEO, f"no frame decodes at {seconds:.3f} s: {exc}") from exc
    if chosen is None:
        raise VideoError(NO_FRAMES, f"no frame at {seconds:.3f} s")
    return _upright(chosen, stream, max_side)


def _upright(frame: Any, stream: Any, max_side: int) -> np.ndarray:
    width, height = int(frame.width), int(frame.height)
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    dw = max(1, round(width * float(sar))) if sar and sar > 0 and sar != 1 else width
    rotation = _rotation(frame)
    scale = min(1.0, max_side / max(dw, height))
    tw, th = max(2, round(dw * scale)), max(2, round(height * scale))
    image = frame.to_ndarray(format="bgr24", width=tw, height=th, interpolation="AREA")
    if rotation:
        image = cv2.rotate(image, _CV_ROTATE[rotation])
    return np.ascontiguousarray(image)


def frame_jpeg(source: Path | BinaryIO, seconds: float, limits: VideoLimits | None = None, quality: int = 85) -> bytes:
    """`frame_at` as JPEG bytes."""
    ok, buf = cv2.imencode(".jpg", frame_at(source, seconds, limits), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - imencode only fails on empty input
        raise VideoError(CORRUPT_VIDEO, "the frame could not be encoded")
    return bytes(buf.tobytes())
