"""Standing searches ("watches"): a probe's face kept under a case, compared with every ingest's new faces.

- `manage`: `add_watch` (through the search gate), `list_watches`, `show_watch`, `stop_watch`, `renew_watch`;
  `end_lapsed` (past their end, or their case's authorisation lapsed);
- `check`: `check_new_faces` (after each ingest, in time proportional to new faces x watches) and
  `DuringIngest` (the hook the ingest use case runs);
- `hits`: `hit_reviews`, `list_hits`, `unseen_count`, `propose_hit` (the hit's lead into the two-person review);
- `notify`: webhooks with ids only;
- `results`: the typed answers."""

from .check import CheckResult, DuringIngest, check_new_faces
from .hits import hit_reviews, list_hits, propose_hit, unseen_count
from .manage import WatchRequest, add_watch, end_lapsed, list_watches, renew_watch, show_watch, stop_watch
from .results import HitImage, HitReview, WatchHit, WatchInfo

__all__ = [
    "CheckResult",
    "DuringIngest",
    "HitImage",
    "HitReview",
    "WatchHit",
    "WatchInfo",
    "WatchRequest",
    "add_watch",
    "check_new_faces",
    "end_lapsed",
    "hit_reviews",
    "list_hits",
    "list_watches",
    "propose_hit",
    "renew_watch",
    "show_watch",
    "stop_watch",
    "unseen_count",
]
