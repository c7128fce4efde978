"""An opt-out reaches the person: people clustering may already know that a photo the opt-out photos miss
is the same person as one they matched. The other faces of the people the matched faces belong to are
compared with those faces; what scores at the strict threshold is erased with them, the rest is listed for an
operator, and nothing is erased for being grouped with them alone (a wrong merge must not erase a stranger)."""

from __future__ import annotations

from collections.abc import Sequence

from ..store import Store
from ..store import people as people_rows


def person_reach(
    store: Store, pack: str, erased: Sequence[int], threshold: float
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """Opt-out reaches the person: the other faces of the people (by clustering) that the faces about to be
    erased belong to, each compared with those erased faces. (face, score) at or above the strict threshold
    are erased with them; the rest are listed for review, never erased for being grouped with them (a wrong
    merge must not erase a stranger). One step only: a face erased this way does not reach further."""
    if not erased:
        return [], []
    owner = people_rows.persons_of(store, erased)
    if not owner:
        return [], []
    members = people_rows.members(store, pack)
    gone = set(int(f) for f in erased)
    others = sorted({f for pid in set(owner.values()) for f in members.get(pid, []) if f not in gone})
    dim = people_rows.pack_dim(store, pack)
    if not others or dim is None:
        return [], []
    against = store.embeddings(sorted(owner), dim)
    best = (store.embeddings(others, dim) @ against.T).max(axis=1)
    erase = [(f, float(b)) for f, b in zip(others, best) if b >= threshold]
    review = [(f, float(b)) for f, b in zip(others, best) if b < threshold]
    return erase, review
