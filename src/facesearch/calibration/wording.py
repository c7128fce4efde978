"""How a score's false-match rate is said to people, one wording for the search engine's answers (`fmr_text`,
`decision`), the CLI, the web pages, the case report and the opt-out review. A bare "match rate 1 in
4,271,764" reads as "almost certainly not a match", the opposite of what it means, so the phrase always names
who scores this high: different people. It sits beside the score tables because it says what their rates
mean, low enough for the engine (services/) to word its answers once, as it builds them.

A table cannot measure a rate below one impostor pair in all of its pairs (its floor): a score beyond the
highest impostor score reads "fewer than 1 in N", never the floor's "1 in N" as if that had been measured."""

from __future__ import annotations

import math

ABOVE = "above threshold"
WHO = " different people score this high"
BELOW = "below threshold"
# fmr_at returns the floor through a log10 round trip: equal within float error counts as the floor.
_AT_FLOOR = 1 + 1e-6


def one_in(fmr: float) -> int | None:
    """N of "1 in N", or None when the rate is zero (below what the table can resolve)."""
    if not math.isfinite(fmr) or fmr <= 0:
        return None
    return max(1, round(1 / fmr))


def at_floor(fmr: float, floor: float | None) -> bool:
    """Whether `fmr` is the table's floor (or below it): the score is beyond what the table measured."""
    return floor is not None and floor > 0 and math.isfinite(fmr) and fmr <= floor * _AT_FLOOR


def _round2(n: int, down: bool = False) -> int:
    """N to 2 significant figures (down, for a bound that must not overstate)."""
    if n < 100:
        return n
    scale = 10 ** (len(str(n)) - 2)
    return (n // scale) * scale if down else int(float(f"{n:.2g}"))


def fmr_text(fmr: float, floor: float | None = None) -> str:
    """'1 in 4,300 different people score this high' (rounded to 2 significant figures); at or below the
    table's `floor`, 'fewer than 1 in N ...' with N the floor's (rounded down, so the bound stays true)."""
    if at_floor(fmr, floor):
        n = one_in(floor or 0.0) or 1
        return f"fewer than 1 in {_round2(n, down=True):,}{WHO}"
    measured = one_in(fmr)
    if measured is None:
        return "fewer different people than the table can measure score this high"
    if measured == 1:
        return f"most{WHO}"
    return f"1 in {_round2(measured):,}{WHO}"


def rate_of(text: str) -> str:
    """The rate of an `fmr_text` without who it counts ('1 in 4,300'), for a column whose heading says who."""
    return text.removesuffix(WHO)


def fmr_number(fmr: float, floor: float | None = None) -> str:
    """The rate as a number beside its words: '4.3e-05', or '< 8.3e-08' at the table's floor."""
    return f"< {floor:.2g}" if at_floor(fmr, floor) and floor else f"{fmr:.2g}"


def decision_text(above: bool) -> str:
    """'above threshold' or 'below threshold'."""
    return ABOVE if above else BELOW


def threshold_text(score: float, threshold: float) -> str:
    """The decision in words, so it does not rest on colour alone."""
    return decision_text(score >= threshold)
