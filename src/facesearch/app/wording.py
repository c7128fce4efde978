"""How a score's false-match rate is said to people, one wording for the CLI, the web pages, the case report
and the API's `fmr_text`. A bare "match rate 1 in 4,271,764" reads as "almost certainly not a match", the
opposite of what it means, so the phrase always names who scores this high: different people."""

from __future__ import annotations

import math
from typing import Any

ABOVE = "above threshold"
BELOW = "below threshold"


def one_in(fmr: float) -> int | None:
    """N of "1 in N", or None when the rate is zero (below what the table can resolve)."""
    if not math.isfinite(fmr) or fmr <= 0:
        return None
    return max(1, round(1 / fmr))


def fmr_text(fmr: float, floor: float | None = None) -> str:
    """'1 in 4,300 different people score this high' (rounded to 2 significant figures)."""
    n = one_in(fmr)
    if n is None:
        below = f" (below the measurable {floor:.1g})" if floor else ""
        return f"fewer different people than the table can measure score this high{below}"
    if n == 1:
        return "most different people score this high"
    rounded = int(float(f"{n:.2g}"))
    return f"1 in {rounded:,} different people score this high"


def decision_text(above: bool) -> str:
    """'above threshold' or 'below threshold'."""
    return ABOVE if above else BELOW


def threshold_text(score: float, threshold: float) -> str:
    """The decision in words, so it does not rest on colour alone."""
    return decision_text(score >= threshold)


def word_search(result: dict[str, Any]) -> dict[str, Any]:
    """Add the words to a search answer: `fmr_text` on each probe face's threshold point and on every match,
    and `decision` on every match (the same test as its `above_threshold`)."""
    for face in result.get("faces", []):
        point = face.get("threshold")
        if isinstance(point, dict) and point.get("fmr") is not None:
            point["fmr_text"] = fmr_text(point["fmr"])
        for m in face.get("matches", []):
            m["fmr_text"] = fmr_text(m["fmr"])
            m["decision"] = decision_text(bool(m["above_threshold"]))
    return result


def word_verify(result: dict[str, Any]) -> dict[str, Any]:
    """Add the words to a verify answer: `fmr_text` (of the score), `threshold_fmr_text`, `decision`."""
    result["fmr_text"] = fmr_text(result["fmr"])
    if result.get("threshold_fmr") is not None:
        result["threshold_fmr_text"] = fmr_text(result["threshold_fmr"])
    result["decision"] = decision_text(bool(result["same_person"]))
    return result
