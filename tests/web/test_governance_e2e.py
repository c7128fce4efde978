"""The governance pages in a real browser: propose a candidate from the search page, a second examiner
confirms it on the review page, the case report shows it; an admin suspends and resumes searching."""

from __future__ import annotations

import re
from pathlib import Path

from support.browser import needs_chromium
from support.gallery_served import PASSWORD, SETUP, _login

from facesearch.app import accounts
from facesearch.store import audit

pytestmark = [needs_chromium]


def _search(page, base: str, case: str, probe: Path) -> dict:
    page.goto(f"{base}/search")
    page.set_input_files("#probe", str(probe))
    page.locator("#face-list input[type=radio]").first.wait_for()
    page.get_by_label("Case reference").fill(case)
    page.get_by_label("Purpose").fill("e2e")
    with page.expect_response("**/api/v1/search") as resp:
        page.get_by_role("button", name="Search").click()
    return {"status": resp.value.status, "body": resp.value.json()}


def test_two_person_review_case_report_and_kill_switch(server, browser, tmp_path: Path) -> None:
    base, env = server
    accounts.add_user(env.ctx, SETUP, "examiner2", "examiner", PASSWORD)
    probe = env.held_out("Tony_Blair")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    ex1 = browser.new_page(viewport={"width": 1366, "height": 860})
    _login(ex1, base, "examiner")
    res = _search(ex1, base, "CASE-E2E-GOV", probe)
    assert res["status"] == 200
    ex1.locator(".cand").first.wait_for()
    # The lead notice is said once for the search, not repeated on every card.
    assert "not an identification" in ex1.locator("#lead-notice").inner_text()
    assert "not an identification" not in ex1.locator(".cand").first.inner_text()
    ex1.locator(".cand-open").first.click()
    ex1.locator("#propose-note").wait_for()
    ex1.locator("#propose-note").fill("same face shape and hairline")
    ex1.get_by_role("button", name="Propose as the probe's person").click()
    ex1.get_by_text(re.compile(r"Proposed \(#\d+\)")).wait_for()
    ex1.screenshot(path=shots / "gov-01-proposed.png")
    ex1.keyboard.press("Escape")
    ex1.goto(f"{base}/review")
    assert "your proposal: another examiner decides" in ex1.content()

    ex2 = browser.new_page(viewport={"width": 1366, "height": 860})
    _login(ex2, base, "examiner2")
    ex2.goto(f"{base}/review")
    ex2.get_by_placeholder("Note").first.fill("independent comparison: agree")
    ex2.get_by_role("button", name="Confirm").first.click()
    ex2.wait_for_load_state("networkidle")
    assert re.search(r"Proposal \d+ confirmed", ex2.content())
    ex2.screenshot(path=shots / "gov-02-review.png", full_page=True)

    ex1.goto(f"{base}/cases")
    ex1.get_by_label("Case reference").fill("CASE-E2E-GOV")
    ex1.get_by_role("button", name="Open report").click()
    ex1.wait_for_load_state("networkidle")
    text = ex1.content()
    assert "Case disclosure report: CASE-E2E-GOV" in text and "confirmed" in text
    assert "investigative lead" in text.lower()  # the other candidates stay stamped
    ex1.screenshot(path=shots / "gov-03-case-report.png", full_page=True)

    admin = browser.new_page(viewport={"width": 1366, "height": 860})
    _login(admin, base, "admin")
    admin.goto(f"{base}/admin/governance")
    admin.get_by_label("Reason").fill("e2e drill")
    admin.get_by_role("button", name="Suspend all searching").click()
    admin.wait_for_load_state("networkidle")
    assert "suspended" in admin.locator(".alert.error").inner_text()
    admin.screenshot(path=shots / "gov-04-suspended.png")
    assert _search(ex1, base, "CASE-E2E-GOV", probe)["status"] == 503
    admin.get_by_role("button", name="Resume searching").click()
    admin.wait_for_load_state("networkidle")
    assert _search(ex1, base, "CASE-E2E-GOV", probe)["status"] == 200
    actions = {e["action"] for e in audit.query(env.store, limit=200)[0]}
    assert {"lead_propose", "lead_confirm", "case_report", "search_suspend", "search_resume"} <= actions

    # An operator creates a collection with its provenance from the ingest page.
    op = browser.new_page(viewport={"width": 1366, "height": 860})
    _login(op, base, "operator")
    op.get_by_label("Name", exact=True).fill("e2e-press")
    op.get_by_label("Where the photos come from").fill("agency feed, contract 14")
    op.get_by_label("Legal basis", exact=True).select_option("contract")
    op.get_by_label("Retention in days").fill("90")
    op.get_by_role("button", name="Create").click()
    op.wait_for_load_state("networkidle")
    assert "Created collection e2e-press" in op.content()
    col = env.store.get_collection("e2e-press")
    assert col.legal_basis == "contract" and col.retention_days == 90 and col.owner == "operator"
    op.screenshot(path=shots / "gov-05-ingest.png", full_page=True)

    # Data protection page: an access request, an opt-out that erases the person, then doctor.
    op.goto(f"{base}/privacy")
    op.fill("#s-ref", "DSR-E2E-ACCESS")  # a subject report is a governed search: it needs the request's reference
    op.set_input_files("#s-photo", str(env.held_out("Hugo_Chavez")))
    op.get_by_role("button", name="Find every image of them").click()
    op.wait_for_load_state("networkidle")
    assert "Hugo_Chavez" in op.content() and "DSR-E2E-ACCESS" in op.content()
    op.fill("#o-ref", "DSR-E2E")
    op.set_input_files("#o-photos", [str(p) for p in env.photos["Hugo_Chavez"][3:5]])
    op.get_by_role("button", name="Register opt-out and erase").click()
    op.wait_for_load_state("networkidle")
    assert "Opt-out DSR-E2E registered" in op.content()
    op.get_by_role("button", name="Check for orphans (doctor)").click()
    op.wait_for_load_state("networkidle")
    assert "Doctor: no orphans" in op.content()
    op.screenshot(path=shots / "gov-06-privacy.png", full_page=True)
    print(f"screenshots in {shots}")
