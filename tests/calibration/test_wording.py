"""The false-match rate is said as how many different people score this high, never as a "match rate"; the
decision is said in words. One wording for the use cases' answers, the pages and the case report."""

from __future__ import annotations

from facesearch.app.wording import decision_text, fmr_text, threshold_text, word_search, word_verify


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


def test_search_and_verify_answers_get_the_words() -> None:
    res = {
        "faces": [
            {
                "threshold": {"score": 0.4, "fmr": 1e-4, "reason": "r"},
                "matches": [
                    {"score": 0.7, "fmr": 2e-7, "above_threshold": True},
                    {"score": 0.2, "fmr": 0.01, "above_threshold": False},
                ],
            },
            {"threshold": {"score": 0.3, "fmr": 1e-3, "reason": "r"}, "skipped": "poor", "matches": []},
        ]
    }
    word_search(res)
    first = res["faces"][0]
    assert first["threshold"]["fmr_text"] == "1 in 10,000 different people score this high"
    assert [m["decision"] for m in first["matches"]] == ["above threshold", "below threshold"]
    assert first["matches"][0]["fmr_text"] == "1 in 5,000,000 different people score this high"
    assert res["faces"][1]["threshold"]["fmr_text"] == "1 in 1,000 different people score this high"
    v = word_verify({"score": 0.5, "fmr": 1e-5, "threshold": 0.45, "threshold_fmr": 1e-4, "same_person": True})
    assert v["fmr_text"] == "1 in 100,000 different people score this high"
    assert v["threshold_fmr_text"] == "1 in 10,000 different people score this high"
    assert v["decision"] == "above threshold"
