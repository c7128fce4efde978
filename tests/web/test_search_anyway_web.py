"""A probe face the quality gate refuses, in a real browser (chromium driven by Playwright, synthetic gallery):
the search page says why in its own words and offers "Search anyway"; that search runs, shows its candidates
with the probe's quality note, and is logged as forced, like `search --force`. The face list says beforehand
that the face would be refused."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from support.browser import needs_chromium
from support.gallery_served import _login

from facesearch.store.audit import entry_dict, iter_entries

pytestmark = [needs_chromium]
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)


def _blurred(env, tmp_path: Path) -> Path:
    """A held-out photo of Tony Blair's marker blurred by 2.5-3% of its side: still found, flagged BLURRY."""
    image = cv2.imread(str(env.held_out("Tony_Blair")))
    engine = env.ctx.engine
    x1, _, x2, _ = engine.analyze_probe("synthetic", image).boxes[0]
    out = tmp_path / "blurred.png"
    for share in (0.025, 0.03, 0.028, 0.022):
        blurred = cv2.GaussianBlur(image, (0, 0), share * float(x2 - x1))
        fs = engine.analyze_probe("synthetic", blurred)
        if len(fs) == 1 and fs.reasons[0] == ["BLURRY"] and fs.quality[0] < env.ctx.settings.probe_min_quality:
            cv2.imwrite(str(out), blurred)
            return out
    raise AssertionError("no blur found that keeps the marker and flags it BLURRY")


def test_search_anyway_runs_the_refused_search_and_logs_it_as_forced(server, browser, tmp_path: Path) -> None:
    base, env = server
    page = browser.new_page(viewport={"width": 1366, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "422" not in m.text else None)
    _login(page, base, "examiner")
    page.set_input_files("#probe", str(_blurred(env, tmp_path)))
    page.locator("#face-list input[type=radio]").first.wait_for()
    assert "refused unless you search anyway" in page.locator("#face-list").inner_text()
    page.get_by_label("Case reference").fill("CASE-ANYWAY")
    page.get_by_label("Purpose").fill("e2e: a poor probe")
    with page.expect_response("**/api/v1/search") as resp:
        page.get_by_role("button", name="Search", exact=True).click()
    assert resp.value.status == 422 and "BLURRY" in resp.value.json()["reasons"]
    note = page.locator("#form-error")
    note.get_by_role("button", name="Search anyway").wait_for()
    assert "too poor to search (BLURRY)" in note.inner_text() and "--force" not in note.inner_text()
    page.screenshot(path=tmp_path / "01-refused.png")

    with page.expect_response("**/api/v1/search") as resp:
        note.get_by_role("button", name="Search anyway").click()
    body = resp.value.json()
    assert resp.value.status == 200, body
    assert "Tony_Blair" in body["faces"][0]["matches"][0]["image"]["path"]
    assert "searched only because forced" in body["faces"][0]["quality_warning"]
    page.locator(".cand").first.wait_for()
    assert "Probe quality: quality" in page.locator(".quality-note").inner_text()
    assert page.locator("#force").is_checked() and page.locator("#form-error").is_hidden()
    page.screenshot(path=tmp_path / "02-searched-anyway.png", full_page=True)
    assert not errors, errors

    searches = [entry_dict(e) for e in iter_entries(env.store) if e.action == "search" and e.case_ref == "CASE-ANYWAY"]
    assert [e["outcome"] for e in searches] == ["refused", "ok"] and searches[-1]["details"]["force"] is True
