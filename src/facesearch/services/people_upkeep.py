"""People kept consistent with their faces: erasure needs no hook of its own.

`person_faces` rows go with their faces (ON DELETE CASCADE), so an erasure or an opt-out changes people
without telling them. Before anything reads people, `tidy` removes the people left without a face and
remakes every template whose face count no longer matches the person's rows; when nothing changed that is
two aggregate queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..store import Store
from ..store import people as rows
from . import clustering


@dataclass(frozen=True)
class Tidied:
    removed: int  # people removed: their last face was erased or moved
    templates: int  # templates remade


def tidy(store: Store, model: str | None = None) -> Tidied:
    """Remove people left without a face and remake stale templates (of one pack, or of all)."""
    removed, stale = rows.sweep(store, model)
    by_model: dict[str, list[int]] = defaultdict(list)
    for pid, m in stale:
        by_model[m].append(pid)
    for m, pids in by_model.items():
        remake_templates(store, m, pids)
    return Tidied(removed=removed, templates=len(stale))


def remake_templates(store: Store, model: str, person_ids: Iterable[int]) -> None:
    """Each person's template made again from their faces now: the quality-weighted mean embedding."""
    pids = sorted({int(p) for p in person_ids})
    dim = rows.pack_dim(store, model)
    if not pids or dim is None:
        return
    found = rows.template_rows(store, pids)
    if not found:
        return
    pid_arr = np.array([r[0] for r in found], np.int64)
    fids = [r[1] for r in found]
    qual = np.array([r[2] for r in found], np.float32)
    emb = store.embeddings(fids, dim)
    uniq, labels = np.unique(pid_arr, return_inverse=True)
    tmpl = clustering.templates(emb, labels, qual, len(uniq))
    counts = np.bincount(labels, minlength=len(uniq))
    rows.set_templates(store, [(int(pid), tmpl[j].tobytes(), int(counts[j])) for j, pid in enumerate(uniq.tolist())])
