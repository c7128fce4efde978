"""Top-k bookkeeping shared by the backends: padded answers, exact top-k of a score block, running merges."""

from __future__ import annotations

import numpy as np


def empty(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """An answer with nothing found: scores -inf, ids -1, shape (nq, k)."""
    return np.full((nq, k), -np.inf, np.float32), np.full((nq, k), -1, np.int64)


def top_k(sims: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k columns of each row of sims (ids per column), padded with -1 / -inf."""
    nq, n = sims.shape
    scores, out = empty(nq, k)
    take = min(k, n)
    if take == 0:
        return scores, out
    part = np.argpartition(-sims, take - 1, axis=1)[:, :take] if take < n else np.tile(np.arange(n), (nq, 1))
    top = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    scores[:, :take] = np.take_along_axis(top, order, axis=1)
    out[:, :take] = ids[np.take_along_axis(part, order, axis=1)]
    return scores, out


def merge(
    scores: np.ndarray, ids: np.ndarray, new_scores: np.ndarray, new_ids: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The best k of two answers for the same queries."""
    both_s = np.concatenate([scores, new_scores], axis=1)
    both_i = np.concatenate([ids, new_ids], axis=1)
    order = np.argsort(-both_s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(both_s, order, axis=1), np.take_along_axis(both_i, order, axis=1)
