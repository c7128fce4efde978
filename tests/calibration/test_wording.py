"""The false-match rate is said as how many different people score this high, never as a "match rate"; the
decision is said in words. One wording for the engine's answers, the pages and the case report (the answers'
words: tests/services/test_engine_answers.py)."""

from __future__ import annotations

from facesearch.calibration.wording import decision_text, fmr_text, threshold_text


def test_fmr_text_names_different_people_and_rounds() -> None:
    assert fmr_text(1 / 4_271_764) == "1 in 4,300,000 different people score this high"
    assert fmr_text(0.001) == "1 in 1,000 different people score this high"
    assert fmr_text(0.9) == "most different people score this high"
    assert "different people" in fmr_text(0.0)
    assert "match rate" not in fmr_text(1e-6)


def test_decision_in_words() -> None:
    assert threshold_text(0.5, 0.4) == decision_text(True) == "above threshold"
    assert threshold_text(0.4, 0.4) == "above threshold"  # at the threshold counts as reaching it
    assert threshold_text(0.39, 0.4) == decision_text(False) == "below threshold"
