"""Standing searches and authorisations in a real browser: an admin adds a purpose that requires an
authorisation; an examiner's watch under it is refused until the admin records the case's authorisation on the
case page; new photos arrive; the header shows the unseen hits, the hits page lists exactly the subject's new
photos, one is proposed to a named reviewer who confirms it; the case report shows the authorisation, the watch
and its hits; the watch is stopped."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from support.browser import needs_chromium
from support.gallery_served import OPERATOR, PASSWORD, PEOPLE, SETUP, _login
from support.watching import day

from facesearch.app import accounts
from facesearch.app.ingest import ingest, items_from_manifest
from facesearch.store import audit

pytestmark = [needs_chromium]
SUBJECT = "Tony_Blair"


def _ingest_new(env, folder: Path) -> None:
    path = folder / "new.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path"])
        for name in PEOPLE:
            for p in env.photos[name][3:5]:
                w.writerow([str(p)])
    ingest(env.ctx, OPERATOR, items_from_manifest(path), "gallery", workers=1)


def test_watch_hits_review_and_authorisation_in_the_browser(server, browser, tmp_path: Path) -> None:
    base, env = server
    accounts.add_user(env.ctx, SETUP, "reviewer", "examiner", PASSWORD)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    admin = browser.new_page(viewport={"width": 1366, "height": 860})
    _login(admin, base, "admin")
    admin.goto(f"{base}/admin/governance")
    admin.get_by_label("Code").fill("LE-WEB")
    admin.get_by_label("Description and legal provision").fill("Art. 26(10): authorised searches only")
    admin.get_by_label("Requires an authorisation of the case").check()
    admin.get_by_role("button", name="Add purpose").click()
    admin.wait_for_load_state("networkidle")
    assert "requires an authorisation" in admin.content()

    ex = browser.new_page(viewport={"width": 1366, "height": 860})
    _login(ex, base, "examiner")

    def add_watch() -> str:
        ex.goto(f"{base}/watches")
        ex.set_input_files("#w-probe", str(env.photos[SUBJECT][7]))
        ex.get_by_label("Case reference").fill("CASE-WEB-W")
        ex.get_by_label("Purpose").fill("LE-WEB")
        ex.get_by_label("Last day it runs").fill(day(20))
        ex.get_by_role("button", name="Add watch").click()
        ex.wait_for_load_state("networkidle")
        return ex.locator(".alert").inner_text()

    assert "requires an authorisation" in add_watch()
    assert ex.locator("#unseen-hits").inner_text().startswith("0 new hits")

    admin.goto(f"{base}/cases")
    admin.fill("#a-case", "CASE-WEB-W")  # the page's other "Case reference" opens a report
    admin.get_by_label("Authority").fill("District Court")
    admin.get_by_label("Decision reference").fill("RK-WEB-1")
    admin.get_by_label("In force from").fill(day(0))
    admin.get_by_label("Last day in force").fill(day(30))
    admin.get_by_role("button", name="Record authorisation").click()
    admin.wait_for_load_state("networkidle")
    assert re.search(r"Authorisation \d+ of case CASE-WEB-W recorded", admin.content())
    assert "RK-WEB-1" in admin.locator("#authorisations").inner_text()
    admin.screenshot(path=shots / "watch-01-authorisation.png", full_page=True)

    assert re.match(r"Watch \d+ added", add_watch())
    ex.screenshot(path=shots / "watch-02-added.png", full_page=True)

    _ingest_new(env, tmp_path)
    ex.goto(f"{base}/watches")
    badge = ex.locator("#unseen-hits")
    assert badge.inner_text().startswith("2 new hits")
    ex.screenshot(path=shots / "watch-03-header.png")
    badge.click()
    ex.wait_for_load_state("networkidle")
    rows = ex.locator("#hits tbody tr")
    assert rows.count() == 2
    text = ex.locator("#hits").inner_text()
    assert all(p.name in text for p in env.photos[SUBJECT][3:5])
    assert not any(p.name in text for name in PEOPLE if name != SUBJECT for p in env.photos[name])
    ex.screenshot(path=shots / "watch-04-hits.png", full_page=True)
    ex.reload()
    assert ex.locator("#unseen-hits").inner_text().startswith("0 new hits")

    first = rows.first
    first.get_by_placeholder("Why it is the person").fill("same marker, same frame")
    first.get_by_placeholder("Reviewer (optional)").fill("reviewer")
    first.get_by_role("button", name=re.compile("Propose")).click()
    ex.wait_for_load_state("networkidle")
    assert re.search(r"Proposed \(#\d+\)", ex.content())

    rev = browser.new_page(viewport={"width": 1366, "height": 860})
    _login(rev, base, "reviewer")
    rev.goto(f"{base}/review")
    rev.get_by_placeholder("Note").first.fill("independent comparison: agree")
    rev.get_by_role("button", name="Confirm").first.click()
    rev.wait_for_load_state("networkidle")
    assert re.search(r"Proposal \d+ confirmed", rev.content())

    ex.goto(f"{base}/cases")
    ex.get_by_label("Case reference").fill("CASE-WEB-W")
    ex.get_by_role("button", name="Open report").click()
    ex.wait_for_load_state("networkidle")
    report = ex.content()
    assert "RK-WEB-1" in report and "Standing searches" in report and "confirmed" in report
    ex.screenshot(path=shots / "watch-05-report.png", full_page=True)

    ex.goto(f"{base}/watches")
    ex.get_by_placeholder("Why stop").first.fill("suspect identified")
    ex.get_by_role("button", name=re.compile("^Stop")).first.click()
    ex.wait_for_load_state("networkidle")
    assert re.search(r"Watch \d+ stopped", ex.content())
    actions = {e["action"] for e in audit.query(env.store, limit=300)[0]}
    assert {"watch_add", "watch_hit", "watch_view", "case_authorise", "lead_confirm", "watch_stop"} <= actions
    print(f"screenshots in {shots}")
