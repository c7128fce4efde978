"""Test videos made here, with PyAV, from LFW photos: who is on screen when and where is known exactly.

A `Clip` is a list of `Appearance`s (an LFW photo on screen from `start` to `end`, at a place, moving or
not) over shots separated by cuts (each shot has its own background); `write_clip` encodes it in any
container and codec PyAV writes, optionally stored rotated with the display matrix phones write, with a
variable frame rate, with B-frames, or with container metadata. Helpers damage copies (truncated, overwritten)
and make the odd files (no frames, audio only, an unknown codec).

    from support.videos import Appearance, Clip, write_clip
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

# LFW people with many photos: a clip's faces and the probes (another photo of the same person) come from here.
PEOPLE = ("Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder", "Ariel_Sharon", "Hugo_Chavez")


@dataclass(frozen=True, eq=False)
class Appearance:
    """An LFW photo (or any BGR image) on screen from `start` to `end` (seconds, end excluded). Its top-left
    corner is at (x, y), fractions of the frame, moving by (dx, dy) fractions of the frame per second; its side
    is `size` times the frame height (an LFW face is about 40% of its photo). With `fade`, it fades in over
    that many seconds before `start` and out after `end` (people walk in; they do not appear like a cut)."""

    photo: Path | np.ndarray
    start: float
    end: float
    x: float = 0.3
    y: float = 0.1
    size: float = 0.8
    dx: float = 0.0
    dy: float = 0.0
    fade: float = 0.0

    def opacity(self, t: float) -> float:
        if self.start <= t < self.end:
            return 1.0
        if self.fade and self.start - self.fade < t < self.start:
            return (t - (self.start - self.fade)) / self.fade
        if self.fade and self.end <= t < self.end + self.fade:
            return 1.0 - (t - self.end) / self.fade
        return 0.0


@dataclass(frozen=True, eq=False)
class Clip:
    duration: float
    appearances: tuple[Appearance, ...] = ()
    width: int = 320
    height: int = 240
    fps: float = 10.0
    cuts: tuple[float, ...] = ()  # times at which a new shot (a new background) starts
    noise: int = 2  # sensor-like noise, grey levels
    flat: bool = False  # one flat grey background for every shot (a static scene)
    seed: int = 0
    photos: dict[Path, np.ndarray] = field(default_factory=dict, repr=False)
    cache: dict[object, np.ndarray] = field(default_factory=dict, repr=False)  # backgrounds and noise

    def shot(self, t: float) -> int:
        return sum(1 for c in self.cuts if c <= t + 1e-9)

    def frame(self, t: float, index: int) -> np.ndarray:
        """The upright BGR frame at time t."""
        shot = -1 if self.flat else self.shot(t)
        if shot not in self.cache:
            self.cache[shot] = (
                np.full((self.height, self.width, 3), 60, np.uint8)
                if self.flat
                else background(self.width, self.height, self.seed * 1000 + shot)
            )
        img = self.cache[shot].copy()
        for a in self.appearances:
            alpha = a.opacity(t)
            if alpha > 0:
                x, y = a.x + a.dx * (t - a.start), a.y + a.dy * (t - a.start)
                paste(img, self._photo(a.photo), x, y, a.size, alpha)
        if self.noise:
            # Seven noise fields in turn: different on every frame an encoder can refer to, cheap to add.
            key = ("noise", index % 7)
            if key not in self.cache:
                rng = np.random.default_rng([self.seed, index % 7])
                self.cache[key] = rng.integers(-self.noise, self.noise + 1, img.shape).astype(np.int16)
            img = np.clip(img.astype(np.int16) + self.cache[key], 0, 255).astype(np.uint8)
        return img

    def _photo(self, path: Path | np.ndarray) -> np.ndarray:
        if isinstance(path, np.ndarray):
            return path
        if path not in self.photos:
            image = cv2.imread(str(path))
            if image is None:
                raise FileNotFoundError(path)
            self.photos[path] = image
        return self.photos[path]


def background(width: int, height: int, seed: int) -> np.ndarray:
    """A smooth random colour field: each shot's own, with nothing face-like in it."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(30, 226, (4, 5, 3)).astype(np.uint8)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def paste(img: np.ndarray, photo: np.ndarray, x: float, y: float, size: float, alpha: float = 1.0) -> None:
    h, w = img.shape[:2]
    side = max(8, round(size * h))
    scaled = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA if side < photo.shape[0] else cv2.INTER_CUBIC)
    left, top = round(x * w), round(y * h)
    x0, y0, x1, y1 = max(0, left), max(0, top), min(w, left + side), min(h, top + side)
    if x1 > x0 and y1 > y0:
        patch = scaled[y0 - top : y1 - top, x0 - left : x1 - left]
        if alpha < 1.0:
            patch = (alpha * patch + (1 - alpha) * img[y0:y1, x0:x1]).astype(np.uint8)
        img[y0:y1, x0:x1] = patch


_STORE_ROTATION = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def write_clip(
    path: Path,
    clip: Clip,
    *,
    codec: str = "libx264",
    fmt: str | None = None,
    pix_fmt: str = "yuv420p",
    rotation: int = 0,
    times: Sequence[float] | None = None,
    bframes: bool = False,
    metadata: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode the clip. `rotation`: degrees counter-clockwise a player turns the stored frames to show them
    upright (phones store portrait video as landscape frames with such a display matrix); the frames are stored
    turned the other way, so the player (and facesearch) show the clip upright. `times`: each frame's time
    (a variable frame rate), instead of one frame every 1/fps."""
    import av

    frame_times = list(times) if times is not None else [i / clip.fps for i in range(round(clip.duration * clip.fps))]
    out = av.open(str(path), "w", format=fmt, options=container_options or {})
    try:
        for key, value in (metadata or {}).items():
            out.metadata[key] = value
        stream = out.add_stream(codec, rate=Fraction(clip.fps).limit_denominator(1001))
        w, h = (clip.height, clip.width) if rotation in (90, 270) else (clip.width, clip.height)
        stream.width, stream.height = w, h
        stream.pix_fmt = pix_fmt
        if codec == "libx264":
            stream.options = {"preset": "veryfast" if bframes else "ultrafast", "crf": "20"}
            if not bframes:
                stream.options = {**stream.options, "bf": "0"}
        if codec == "libx265":
            stream.options = {"x265-params": "log-level=error"}
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
            stream.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for i, t in enumerate(frame_times):
            image = clip.frame(t, i)
            if rotation:
                image = cv2.rotate(image, _STORE_ROTATION[rotation])
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            if times is not None:
                frame.pts = round(t * 1000)
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    finally:
        out.close()
    return path


def truncated_copy(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def overwritten_copy(src: Path, dst: Path, start: float, length: float, seed: int = 0) -> Path:
    """A copy with bytes from `start` (a fraction of the file) for `length` (a fraction) replaced by noise."""
    data = bytearray(src.read_bytes())
    a, n = int(len(data) * start), int(len(data) * length)
    data[a : a + n] = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def no_frames(path: Path, fmt: str = "mp4") -> Path:
    """A file with a video stream and not a single frame in it."""
    import av

    out = av.open(str(path), "w", format=fmt)
    stream = out.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    out.start_encoding()  # the header, with the stream in it, is written although no frame follows
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


def audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An MP4 holding one AAC track and no video (a voice memo)."""
    import av

    out = av.open(str(path), "w", format="mp4")
    stream = out.add_stream("aac", rate=16000)
    stream.layout = "mono"
    samples = int(16000 * seconds)
    tone = (0.1 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)
    frame_size = stream.codec_context.frame_size or 1024
    for start in range(0, samples, frame_size):
        chunk = tone[start : start + frame_size]
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = 16000
        frame.pts = start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


def unknown_codec(path: Path, clip: Clip) -> Path:
    """An AVI whose video stream names a codec no decoder knows (its FourCC replaced by ZZZZ)."""
    tmp = path.with_suffix(".mjpg.avi")
    write_clip(tmp, clip, codec="mjpeg", fmt="avi", pix_fmt="yuvj420p")
    data = tmp.read_bytes().replace(b"MJPG", b"ZZZZ").replace(b"mjpg", b"zzzz")
    path.write_bytes(data)
    tmp.unlink()
    return path


def copy_as(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


def texture(side: int, seed: int = 0) -> np.ndarray:
    """A square of random blocks: something that moves visibly, and is not a face."""
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (8, 8, 3)).astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST)


def marker_photo(identity: int, seed: int = 0, side: int = 160) -> np.ndarray:
    """A square of dark background holding one marker of the `synthetic` test pack (support.synthetic): what
    an `Appearance` pastes to make clips for plumbing tests (no model weights; not faces)."""
    from support.synthetic import photo

    return photo([identity], seed=seed, size=(side, side), marker_px=int(side * 0.7))


def marker_clip(duration: float, appearances: Sequence[tuple[int, float, float, float]], **kw: object) -> Clip:
    """A clip of synthetic-pack markers: (identity, start, end, x) per appearance, each 60% of the frame high,
    on a flat dark background (what the pack's detector needs around a marker)."""
    return Clip(
        duration,
        tuple(Appearance(marker_photo(i, seed=i), s, e, x=x, y=0.2, size=0.6) for i, s, e, x in appearances),
        flat=True,
        **kw,  # type: ignore[arg-type]
    )
