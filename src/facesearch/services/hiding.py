"""Faces a search must not show, as a filter the use case hands down to the engine: per model pack, the
templates of the people who must not be found and the score at or above which a gallery face counts as
theirs. It is built before the search (the rules and the database are the use case's business) and compared
in memory, so the engine calls nothing back while it holds its lock, and it reports what it hid for the use
case to log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


def matching(vectors: np.ndarray, tmpl: np.ndarray, threshold: float) -> np.ndarray:
    """Which of the vectors score at or above the threshold against any template (one bool per vector)."""
    if len(vectors) == 0 or len(tmpl) == 0:
        return np.zeros(len(vectors), bool)
    return np.asarray((np.asarray(vectors, np.float32) @ tmpl.T).max(axis=1) >= threshold)


@dataclass(frozen=True)
class HideFilter:
    """Templates (one row per template) and the threshold, per pack; a pack without templates hides nothing."""

    templates: Mapping[str, np.ndarray] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)

    def covers(self, pack: str) -> bool:
        """Whether this pack's candidates must be checked at all."""
        return len(self.templates.get(pack, ())) > 0

    def hidden(self, pack: str, face_ids: Sequence[int], vectors: np.ndarray) -> set[int]:
        """The faces among these (ids and their embeddings, in the same order) that must not be shown."""
        if not self.covers(pack) or not len(face_ids):
            return set()
        hits = matching(vectors, self.templates[pack], self.thresholds[pack])
        return {int(fid) for fid, hit in zip(face_ids, hits) if hit}


@dataclass(frozen=True)
class Hidden:
    """Faces the filter kept out of one round of one pack's search (each round denies them inside the index
    and searches again, so the answer keeps its length)."""

    pack: str
    face_ids: tuple[int, ...]
