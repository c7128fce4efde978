"""How a score's false-match rate is said to people, one wording for the search engine's answers (`fmr_text`,
`decision`), the CLI, the web pages, the case report and the opt-out review. A bare "match rate 1 in
4,271,764" reads as "almost certainly not a match", the opposite of what it means, so the phrase always names
who scores this high: different people. It sits beside the score tables because it says what their rates
mean, low enough for the engine (services/) to word its answers once, as it builds them."""

from __future__ import annotations

import math

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
