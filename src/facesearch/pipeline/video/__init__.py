"""Video in, face tracks out: the mechanism an ingest of video files and a search with a clip run on.

- `formats`: which files are videos, by their first bytes (MP4/MOV/M4V/3GP, Matroska/WebM, AVI, MPEG-TS/M2TS,
  MPEG-PS), and the demuxer and media type of each;
- `reader`: safe decoding with PyAV (regular files only, the demuxer named, a frame-size limit the decoder
  enforces, a decoded-pixel budget), rotation from phones, frame sampling at N per second plus scene cuts
  (`cuts`), the metadata that identifies the recording (`metadata`), bad input reported without losing what
  decodes;
- `tracks`: faces of sampled frames linked into tracks by position and embedding, the best few kept;
- `scan`: the three together, streaming tracks and progress in video seconds (`VideoScan`), or one complete
  `VideoAnalysis` (`analyse_video`);
- `records`: the typed records all of this hands over.
"""

from .formats import Container, is_video, sniff, video_container
from .reader import DEFAULT_FPS, Sampling, VideoLimits, VideoReader
from .records import (
    Checkpoint,
    Recording,
    ScanProgress,
    Track,
    VideoAnalysis,
    VideoError,
    VideoFace,
    VideoInfo,
    VideoIssue,
    VideoReport,
)
from .scan import ScanOptions, VideoScan, analyse_video
from .tracks import LinkThresholds, TrackOptions

__all__ = [
    "DEFAULT_FPS",
    "Checkpoint",
    "Container",
    "LinkThresholds",
    "Recording",
    "Sampling",
    "ScanOptions",
    "ScanProgress",
    "Track",
    "TrackOptions",
    "VideoAnalysis",
    "VideoError",
    "VideoFace",
    "VideoInfo",
    "VideoIssue",
    "VideoLimits",
    "VideoReader",
    "VideoReport",
    "VideoScan",
    "analyse_video",
    "is_video",
    "sniff",
    "video_container",
]
