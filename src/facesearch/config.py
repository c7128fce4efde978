"""All configuration in one place: environment variables FACESEARCH_*, with laptop-friendly defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# FPIR target of each 1:N operating point (docs/calibration.md says what each means in practice).
SEARCH_MODES = {"strict": 1e-2, "investigative": 1e-1}


def _default_home() -> Path:
    return Path.home() / ".facesearch"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACESEARCH_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Database, index files and thumbnails.")
    models_dir: Path | None = Field(
        default=None, description="Where model weights live (default: $FACESEARCH_HOME/models)."
    )
    model: str = Field(
        default="yunet-reid",
        description="Model pack for new collections (and for verify): "
        "yunet-reid ships with the package; existing collections keep the pack they were built with.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (default: SQLite in home); postgresql+psycopg://user:pass@host/db for PostgreSQL.",
    )
    database_pool_size: int = Field(default=5, description="Connections kept open per process (PostgreSQL).")

    # Vector index.
    index_uri: str | None = Field(
        default=None,
        description="Where vectors live: unset for FAISS index files in "
        "home (the default), or milvus://host:19530 for a Milvus server.",
    )
    index_kind: str = Field(
        default="auto",
        description="FAISS index structure for new and rebuilt indexes: "
        "auto (by gallery size), flat (exact), hnsw or ivfpq.",
    )
    index_flat_max: int = Field(
        default=200_000,
        description="With index_kind auto: a collection up to this many faces is searched exactly (flat).",
    )
    index_hnsw_max: int = Field(
        default=200_000,
        description="With index_kind auto: above index_flat_max and "
        "up to this many faces HNSW; above it IVF with 8-bit codes (ivfpq). Equal to "
        "index_flat_max by default: measured here, HNSW was no faster than IVF at 200k "
        "faces, used 5x the memory and built 11x slower; ask for it by name.",
    )
    index_recall: float = Field(
        default=0.95,
        description="Recall@10 against exact search that approximate indexes are tuned for when built or rebuilt.",
    )

    # Safe decoding.
    max_file_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_decode_bytes: int = Field(
        default=768 * 1024 * 1024,
        description="Memory one image's decode may take, estimated from its header (size, bit depth, channels) "
        "before any pixel is decoded: a 50-megapixel 8-bit colour photo fits.",
    )
    # Detection runs on a copy whose longest side is at most this; crops come from the full image.
    detect_max_side: int = 640
    detect_precision: Literal["auto", "f32"] = Field(
        default="auto",
        description="The detector's arithmetic: auto (the runtime's choice: bfloat16 on CPUs that have it, else "
        "f32; 5 to 17% faster ingest there, LFW accuracy unchanged) or f32 (the same detections on every CPU, "
        "as OpenCV's FaceDetectorYN finds them).",
    )
    min_face_px: int = 20
    min_detection_score: float = 0.6
    ingest_min_quality: float = Field(
        default=0.15,
        description="Faces below this quality are not stored at ingest (counted as faces_below_quality); people "
        "passes ignore older faces below it and `doctor --below-floor` lists them (0 keeps every detected face). "
        "Measured (docs/accuracy.md, 'Ingest quality floor'): the highest floor that drops at most 0.5% of the "
        "labelled faces of natural photos (0.3% on LFW and on mixed-size photos), while half the unusable "
        "detections (blurred backdrop faces, a painting) and the degraded faces found at rank 1 only half the "
        "time fall below it.",
    )
    # Probes below this quality are refused unless forced, when one of their reasons is in
    # probe_refuse_reasons (or they have none); below it with other reasons only, searched with a warning.
    probe_min_quality: float = 0.25
    probe_refuse_reasons: list[str] = Field(
        default_factory=lambda: ["BLURRY"],
        description="Quality reasons that refuse a probe face below probe_min_quality (unless forced; a JSON "
        "list). Measured (docs/accuracy.md, 'Quality gate by reason'): BLURRY faces below the bar are found at "
        "rank 1 far less often than the rest, so they are refused; SMALL_FACE, EXTREME_POSE and LOW_CONFIDENCE "
        "refusals predicted no such loss, so those faces are searched with a warning.",
    )

    # Operating points.
    verify_fmr: float = 1e-3
    search_mode: Literal["strict", "investigative"] = Field(
        default="investigative",
        description="1:N operating point. investigative (FPIR target 0.1; on LFW it "
        "finds 87% of true mates above threshold, and 1.2% of searches for someone not in the gallery show a "
        "candidate above it): candidates are leads for examiners to confirm. strict (FPIR target 0.01; finds "
        "45% on LFW, 0.4% of absent-person searches show one). FACESEARCH_SEARCH_FPIR, when set, wins.",
    )
    search_fpir: float = Field(
        default=1e-1,
        description="False-positive identification rate target of the 1:N threshold (default: from search_mode).",
    )
    fair_calibration: Literal["off", "verify", "all"] = Field(
        default="off",
        description="Decide matches on false-match rates calibrated per cluster of faces "
        "(label-free; the pack ships it): verify for 1:1 only, all for 1:1 and 1:N. It narrows the "
        "false-match gap between demographic groups (LFW: fmr_ratio 9.7 to 1.7) at a cost in misses "
        "(docs/calibration.md), so it is off by default.",
    )

    # Video.
    video_fps: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Frames analysed per second of video (plus one after each scene cut), at ingest (`--video-fps`) "
        "and for a probe clip. 2 by measurement (docs/benchmarks.md, Video): the decoding costs about the same "
        "whatever is sampled, and a person on screen for 2 s gets at least four looks.",
    )
    max_video_bytes: int = Field(
        default=64 * 1024**3,
        description="Largest video file ingested (or searched with from the command line); videos are streamed, "
        "never read whole, so this bounds disk reads, not memory.",
    )
    probe_video_seconds: float = Field(
        default=120.0, gt=0, description="A probe clip is analysed up to this many seconds from its start."
    )
    video_batch_tracks: int = Field(
        default=32,
        ge=1,
        description="A video's tracks are committed this many at a time at most (and at least every few seconds), "
        "each batch with the point a killed ingest resumes from.",
    )

    workers: int = Field(default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)))
    batch_images: int = 32
    threads_per_worker: int = 1
    cluster: str | None = Field(
        default=None,
        description="Where ingest analyses photos: unset or `local` for this machine's worker pool; "
        "ray://HOST:PORT for the client server of a Ray cluster (HOST:PORT when this process runs on a node of "
        "the cluster); `auto` for the cluster RAY_ADDRESS names. The database and the home stay here. Needs "
        "pip install 'facesearch[cluster]' (docs/scaling.md).",
    )
    cluster_workers: int | None = Field(
        default=None,
        description="Ingest actors per cluster node (default: from the CPUs each node reports: one actor with "
        "a thread per CPU for packs whose runtime is multithreaded, else one single-threaded actor per CPU).",
    )

    # Web service.
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, description="Largest probe or uploaded photo.")
    max_ingest_request_bytes: int = Field(
        default=1024 * 1024 * 1024, description="Largest multipart request to POST /api/v1/ingest."
    )
    upload_decode_seconds: float = Field(default=10.0, description="Decode time limit for an uploaded probe.")
    keep_probes: bool = Field(default=False, description="Keep probe images (off: only their SHA-256 is logged).")
    probe_retention_days: int = Field(default=30, description="Days a kept probe is retained.")
    session_hours: float = Field(default=12.0, description="Browser session lifetime.")
    cookie_secure: bool = Field(default=True, description="Mark session cookies Secure (HTTPS or localhost).")
    ingest_roots: list[Path] = Field(
        default_factory=list, description="If set, server-side ingest paths must lie under one of these."
    )
    ingest_workers: int = Field(default=1, description="Worker processes per ingest job started by the API.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto `serve` trusts (a JSON list, e.g. "
        '["127.0.0.1"]). Empty (the default): forwarded headers are ignored and '
        "the connecting address is the client's, in the audit log and the sign-in "
        "throttle.",
    )

    # Governance.
    optout_fmr: float = Field(
        default=1e-4,
        description="False-match rate of the strict threshold at which a "
        "gallery or probe face counts as matching an opt-out template.",
    )
    optout_review_fmr: float = Field(
        default=1e-2,
        description="False-match rate of the looser review "
        "threshold: gallery faces scoring between it and the strict opt-out "
        "threshold are listed for an operator to decide, never erased "
        "automatically.",
    )
    purge_interval_hours: float = Field(
        default=24.0,
        description="How often `serve` runs the retention purge "
        "(0 turns the scheduled purge off; `facesearch purge` still works).",
    )
    purge_first_delay_seconds: float = Field(default=300.0, description="Delay before the first scheduled purge.")
    search_rate_per_minute: int = Field(
        default=120, description="Searches and verifies per user per minute through the API (0 = no limit)."
    )
    search_daily_quota: int = Field(
        default=2000, description="Searches and verifies per user per UTC day through the API (0 = no limit)."
    )

    # Standing searches and reviews.
    watch_max_days: int = Field(
        default=90, description="Longest a standing search (watch) may run before it must be renewed (days)."
    )
    watch_webhook_url: str | None = Field(
        default=None,
        description="Webhook told of every watch hit (ids only, HMAC-signed with watch_webhook_secret); unset: none.",
    )
    watch_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key of webhook bodies; no webhook is called without it."
    )
    watch_webhook_hosts: list[str] = Field(
        default_factory=list,
        description="URL prefixes a watch's own webhook may start with (a JSON list); empty: watches may not "
        "name their own webhook, only the deployment's (watch_webhook_url) is called.",
    )
    watch_webhook_attempts: int = Field(default=5, description="Tries per webhook delivery, with backoff.")
    watch_webhook_backoff_seconds: float = Field(
        default=2.0, description="Wait before the second try of a webhook delivery; doubled for each next one."
    )
    blind_review: bool = Field(
        default=False,
        description="Reviewers of a proposal see the probe and the candidate, not the proposing examiner's "
        "name and note, until they have decided.",
    )

    @model_validator(mode="after")
    def _search_mode_preset(self) -> Settings:
        if "search_fpir" not in self.model_fields_set:
            self.search_fpir = SEARCH_MODES[self.search_mode]
        return self

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.home / "models"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'facesearch.db'}"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def thumbs_dir(self) -> Path:
        return self.home / "thumbs"
