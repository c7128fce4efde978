"""The analyst's screens in a real browser (Debian's chromium driven by Playwright), on a gallery of two
collections built with two different packs (`synthetic` and the rotated `synthetic-b`, tests/second_pack.py):

* a search over both shows every pack's candidates, grouped and labelled by pack (and by probe face);
* the numbers are said in words: "different people", never "match rate"; above/below threshold in text;
* the verify page compares two photos; a file that is not a photo gets a sentence, not a broken image;
* the ingest page lists runs started outside the server and offers the installed model packs;
* at phone width (375 px) nothing is wider than the screen.

Screenshots go to the test's temporary directory (printed); the server runs in a thread of this process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.browser import chromium, needs_chromium, served
from support.second_pack import SECOND_PACK, register_second_pack
from support.synthetic import write_photo

from facesearch.app import accounts, purposes
from facesearch.app import collection as collections
from facesearch.app.context import Actor, Context
from facesearch.app.ingest import ingest, items_from_folder
from facesearch.config import Settings
from facesearch.server import create_app

pytestmark = [needs_chromium]
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)

PASSWORD = "correct horse battery"
SETUP = Actor("tests", "admin", via="system")
OPERATOR = Actor("tests", "operator", via="system")
PEOPLE = {"Colin_Powell": 1, "Tony_Blair": 2, "Hugo_Chavez": 3, "Ada_Lovelace": 4}
PACK_OF = {"press-a": "synthetic", "press-b": SECOND_PACK}
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1366, "height": 900}


@dataclass
class Served:
    ctx: Context
    photos: dict[str, list[Path]]
    root: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = Path(tmp_path_factory.mktemp("screens"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACESEARCH_TEST_PACKS", "1")
        mp.setenv("FACESEARCH_MODEL", "synthetic")
        mp.delenv("FACESEARCH_DATABASE_URL", raising=False)
        settings = Settings(home=root / "home", model="synthetic", workers=1, ingest_workers=1, database_url=None)
        register_second_pack(mp, settings.home)
        app = create_app(settings)
        ctx: Context = app.state.ctx
        purposes.add_purpose(ctx, SETUP, "e2e", "tests: browser screens")
        for role in ("admin", "operator", "examiner", "auditor"):
            accounts.add_user(ctx, SETUP, role, role, PASSWORD)
        photos = {
            name: [
                write_photo(root / "photos" / name / f"{name}_{k:04d}.jpg", [ident], seed=100 * ident + k, variant=k)
                for k in range(6)
            ]
            for name, ident in PEOPLE.items()
        }
        gallery = root / "gallery"
        for name, paths in photos.items():
            for p in paths[:3]:
                (gallery / name).mkdir(parents=True, exist_ok=True)
                (gallery / name / p.name).write_bytes(p.read_bytes())
        # Both collections are filled the way `facesearch ingest` fills them: outside the server's job queue.
        for col, pack in PACK_OF.items():
            collections.create_collection(
                ctx,
                OPERATOR,
                col,
                source="synthetic test photos",
                legal_basis="consent",
                retention_days=None,
                keep=True,
                owner="tests",
                model=pack,
            )
            done = ingest(ctx, OPERATOR, items_from_folder(gallery), col, model=pack, workers=1)
            assert (done.model, done.faces) == (pack, 3 * len(PEOPLE)), done
        with served(app) as base:
            yield base, Served(ctx, photos, root)


@pytest.fixture(scope="module")
def browser():
    with chromium(playwright_api) as b:
        yield b


@pytest.fixture
def shots(tmp_path: Path):
    folder = tmp_path / "screenshots"
    folder.mkdir()
    yield folder
    print(f"screenshots in {folder}")


def _page(browser, base: str, user: str, viewport: dict = DESKTOP):
    page = browser.new_page(viewport=viewport)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # 422 answers to a non-image are expected; anything else on the console is a bug.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "422" not in m.text else None)
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    return page, errors


def _text(page) -> str:
    return page.locator("body").inner_text()


def _no_match_rate(page) -> None:
    text = _text(page).lower()
    assert "match rate" not in text.replace("false-match rate", "").replace("true-match rate", "")


def _scroll_width(page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def _search(page, probe: Path, case: str, all_faces: bool = False) -> dict:
    page.set_input_files("#probe", str(probe))
    page.locator("#face-list input[type=radio]").first.wait_for()
    page.get_by_label("Case reference").fill(case)
    page.get_by_label("Purpose").fill("e2e: screens")
    if all_faces:
        page.locator("details.advanced summary").click()
        page.get_by_label("Every face in the probe").check()
    with page.expect_response("**/api/v1/search") as resp:
        page.get_by_role("button", name="Search", exact=True).click()
    body = resp.value.json()
    assert resp.value.status == 200, body
    page.locator(".group").first.wait_for()
    page.wait_for_load_state("networkidle")
    return body


def test_mixed_pack_search_shows_every_pack_in_words(server, browser, shots: Path) -> None:
    base, env = server
    page, errors = _page(browser, base, "examiner")
    body = _search(page, env.photos["Tony_Blair"][5], "CASE-SCREENS-1")

    # One answer entry per pack; the page shows both, each under its pack's name.
    assert sorted(f["model"] for f in body["faces"]) == sorted(PACK_OF.values())
    groups = page.locator(".group")
    assert groups.count() == 2
    for i, face in enumerate(body["faces"]):
        group = groups.nth(i)
        assert f"Model pack {face['model']}" in group.locator("h3").inner_text()
        assert group.locator(".cand").count() == len(face["matches"]) > 0
        # The threshold of a pack is set for that pack's own faces, not for both collections together.
        assert face["gallery_size"] == 3 * len(PEOPLE) and body["gallery_size"] == 2 * 3 * len(PEOPLE)
        assert f"{face['gallery_size']} faces compared" in group.locator(".group-meta").inner_text()
        top = face["matches"][0]
        assert "Tony_Blair" in top["image"]["path"] and top["collection"] == next(
            c for c, p in PACK_OF.items() if p == face["model"]
        )
        assert top["decision"] == "above threshold" and "different people" in top["fmr_text"]
        assert "different people" in face["threshold"]["fmr_text"]
        first_card = group.locator(".cand").first.inner_text()
        assert "above threshold" in first_card and top["fmr_text"] in first_card
        # Each card names its file and the expected false matches, as the command line does.
        assert Path(top["image"]["path"]).name in first_card and "expected false matches" in first_card
    # The lead notice once for the search, not on every card.
    assert "not an identification" in page.locator("#lead-notice").inner_text()
    assert "not an identification" not in page.locator("#groups").inner_text()
    assert page.locator(".cand").count() == sum(len(f["matches"]) for f in body["faces"])
    text = _text(page)
    assert "different people score this high" in text and "below threshold" in text
    _no_match_rate(page)
    page.screenshot(path=shots / "01-mixed-results.png", full_page=True)

    # A candidate of the second pack opens with that pack's words.
    groups.nth(1).locator(".cand-open").first.click()
    page.locator("#cmp-gallery img").wait_for()
    meta = page.locator("#match-meta").inner_text()
    assert body["faces"][1]["model"] in meta and "different people" in meta and "above threshold" in meta
    assert re.search(r"Ingested\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", meta), meta  # a time with its zone
    _no_match_rate(page)
    page.screenshot(path=shots / "02-candidate.png")
    page.keyboard.press("Escape")

    # All faces: a probe with two people gives one group per pack and probe face, labelled with both.
    two = write_photo(env.root / "two.jpg", [PEOPLE["Hugo_Chavez"], PEOPLE["Colin_Powell"]], seed=4711, size=(760, 360))
    page.get_by_role("button", name="Use another photo").click()
    body = _search(page, two, "CASE-SCREENS-1", all_faces=True)
    assert len(body["faces"]) == 4
    headings = page.locator(".group h3").all_inner_texts()
    assert sorted(headings) == sorted(f"Model pack {p} · probe face {n}" for p in PACK_OF.values() for n in (1, 2))
    page.screenshot(path=shots / "03-all-faces.png", full_page=True)

    # The case report says the same words.
    page.goto(f"{base}/cases?ref=CASE-SCREENS-1")
    page.get_by_role("heading", name=re.compile("Case disclosure report")).wait_for()
    report = _text(page)
    assert "different people score this high" in report
    _no_match_rate(page)
    page.screenshot(path=shots / "03b-case-report.png", full_page=True)
    assert not errors, errors


def test_verify_page(server, browser, shots: Path) -> None:
    base, env = server
    page, errors = _page(browser, base, "examiner")
    page.get_by_role("link", name="Verify").click()
    page.get_by_role("heading", name="Compare two photos").wait_for()
    assert page.url.endswith("/verify")
    same = env.photos["Hugo_Chavez"]
    page.set_input_files("#photo-a", str(same[0]))
    page.set_input_files("#photo-b", str(same[4]))
    page.locator("#view-a img").wait_for()
    page.locator("#view-b img").wait_for()
    # Case reference and purpose are required, as for a search.
    page.get_by_role("button", name="Compare").click()
    assert "case reference" in page.locator("#form-error").inner_text()
    page.get_by_label("Case reference").fill("CASE-SCREENS-2")
    page.get_by_label("Purpose").fill("e2e: compare")
    with page.expect_response("**/api/v1/verify") as resp:
        page.get_by_role("button", name="Compare").click()
    body = resp.value.json()
    assert resp.value.status == 200 and body["same_person"] and body["decision"] == "above threshold", body
    page.locator("#verdict").wait_for()
    verdict = page.locator("#verdict").inner_text()
    assert "Above threshold" in verdict and body["fmr_text"] in verdict and "different people" in verdict
    assert f"{body['score']:.4f}" in verdict
    _no_match_rate(page)
    page.screenshot(path=shots / "04-verify-same.png", full_page=True)

    page.set_input_files("#photo-b", str(env.photos["Ada_Lovelace"][4]))
    with page.expect_response("**/api/v1/verify") as resp:
        page.get_by_role("button", name="Compare").click()
    body = resp.value.json()
    assert not body["same_person"] and body["decision"] == "below threshold"
    page.locator("#verdict").wait_for()
    assert "Below threshold" in page.locator("#verdict").inner_text()
    page.screenshot(path=shots / "05-verify-different.png", full_page=True)
    assert not errors, errors


def test_a_file_that_is_not_a_photo_gets_a_sentence(server, browser, shots: Path) -> None:
    base, env = server
    bad = env.root / "holiday.jpg"
    bad.write_bytes(b"this is a text file, not a JPEG\n" * 20)
    page, errors = _page(browser, base, "examiner")
    page.set_input_files("#probe", str(bad))
    note = page.locator("#probe-note")
    note.wait_for()
    assert "“holiday.jpg” is not a photo" in note.inner_text()
    assert page.locator("#probe-boxed img").count() == 0  # no broken image left on the page
    assert page.locator("#drop-label").is_visible()
    page.screenshot(path=shots / "06-search-not-a-photo.png")

    page.goto(f"{base}/verify")
    page.set_input_files("#photo-a", str(bad))
    page.set_input_files("#photo-b", str(env.photos["Tony_Blair"][0]))
    page.locator("#view-b img").wait_for()
    page.get_by_label("Case reference").fill("CASE-SCREENS-3")
    page.get_by_label("Purpose").fill("e2e: compare")
    with page.expect_response("**/api/v1/verify") as resp:
        page.get_by_role("button", name="Compare").click()
    assert resp.value.status == 422 and resp.value.json()["reason"] == "NOT_AN_IMAGE"
    page.locator("#err-a").wait_for()
    assert "“holiday.jpg” is not a photo" in page.locator("#err-a").inner_text()
    assert page.locator("#view-a img").count() == 0
    assert page.locator("#verdict").is_hidden()
    page.screenshot(path=shots / "07-verify-not-a-photo.png", full_page=True)
    assert not errors, errors


def test_ingest_page_lists_outside_runs_and_offers_the_packs(server, browser, shots: Path) -> None:
    base, env = server
    page, errors = _page(browser, base, "operator")
    assert page.url.endswith("/ingest")
    runs = page.locator("#runs tbody tr")
    runs.first.wait_for()
    assert runs.count() >= 2
    listed = page.locator("#runs").inner_text()
    assert "press-a" in listed and "press-b" in listed and SECOND_PACK in listed and "done" in listed
    assert "12 ingested" in listed
    assert page.locator("#jobs-empty").is_hidden()  # never "No jobs yet" beside listed runs
    options = page.locator("#nc-model option").all_inner_texts()
    assert "synthetic (default)" in options and SECOND_PACK in options
    assert page.locator("#nc-model").input_value() == "synthetic"
    page.get_by_label("Name", exact=True).fill("press-c")
    page.get_by_label("Where the photos come from").fill("agency feed")
    page.get_by_label("Model pack").select_option(SECOND_PACK)
    page.get_by_role("button", name="Create").click()
    page.wait_for_load_state("networkidle")
    assert f"Created collection press-c (model pack {SECOND_PACK})" in _text(page)
    col = env.ctx.store.get_collection("press-c")
    assert col is not None and col.model == SECOND_PACK
    page.screenshot(path=shots / "08-ingest.png", full_page=True)
    assert not errors, errors


@pytest.mark.parametrize(
    "user, path",
    [
        ("examiner", "/search"),
        ("examiner", "/verify"),
        ("operator", "/ingest"),
        ("auditor", "/audit"),
        ("admin", "/admin/users"),
    ],
)
def test_phone_width_has_no_horizontal_scrolling(server, browser, shots: Path, user: str, path: str) -> None:
    base, _ = server
    page, errors = _page(browser, base, user, viewport=PHONE)
    page.goto(base + path)
    page.wait_for_load_state("networkidle")
    assert _scroll_width(page) <= PHONE["width"]
    # Every navigation link is on the screen (wrapped, not pushed off to the right).
    for link in page.locator("header nav a").all():
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], link.inner_text()
    assert page.get_by_role("button", name="Sign out").is_visible()
    name = re.sub(r"\W+", "-", path.strip("/"))
    page.screenshot(path=shots / f"09-phone-{name}.png", full_page=True)
    assert not errors, errors


def test_phone_width_search_results(server, browser, shots: Path) -> None:
    base, env = server
    page, errors = _page(browser, base, "examiner", viewport=PHONE)
    _search(page, env.photos["Colin_Powell"][4], "CASE-SCREENS-4")
    assert page.locator(".group").count() == 2
    assert _scroll_width(page) <= PHONE["width"]
    page.screenshot(path=shots / "10-phone-results.png", full_page=True)
    assert not errors, errors


# Words split across two lines: for every word of letters in `selector`, whether its text spans more than one
# line box (a mid-word break such as "peopl e"); a hash (no run of letters this long) may wrap anywhere.
SPLIT_WORDS = """(selector) => {
  const out = [];
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.textContent.matchAll(/[A-Za-z_]{2,24}/g)) {
        const r = document.createRange();
        r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
        const lines = new Set([...r.getClientRects()].filter((b) => b.width > 0).map((b) => Math.round(b.top)));
        if (lines.size > 1) out.push(m[0]);
      }
    }
  }
  return out;
}"""


def test_phone_width_verify_result_and_case_report(server, browser, shots: Path) -> None:
    """At 375 px the verify result and the case report fit the screen (no horizontal scrolling, no table wider
    than the page) and break no word in the middle."""
    base, env = server
    page, errors = _page(browser, base, "examiner", viewport=PHONE)
    page.goto(f"{base}/verify")
    page.set_input_files("#photo-a", str(env.photos["Hugo_Chavez"][0]))
    page.set_input_files("#photo-b", str(env.photos["Hugo_Chavez"][4]))
    page.locator("#view-a img").wait_for()
    page.locator("#view-b img").wait_for()
    page.get_by_label("Case reference").fill("CASE-SCREENS-PHONE")
    page.get_by_label("Purpose").fill("e2e: phone")
    with page.expect_response("**/api/v1/verify") as resp:
        page.get_by_role("button", name="Compare").click()
    assert resp.value.status == 200
    page.locator("#verdict").wait_for()
    assert _scroll_width(page) <= PHONE["width"]
    assert page.evaluate(SPLIT_WORDS, "#verdict") == []
    page.screenshot(path=shots / "11-phone-verify.png", full_page=True)

    page.goto(f"{base}/search")
    _search(page, env.photos["Colin_Powell"][4], "CASE-SCREENS-PHONE")
    page.goto(f"{base}/cases?ref=CASE-SCREENS-PHONE")
    page.get_by_role("heading", name=re.compile("Case disclosure report")).wait_for()
    assert "collection source" in _text(page) and "ingested" in _text(page)
    assert _scroll_width(page) <= PHONE["width"]
    tables = "[...document.querySelectorAll('table')].map((t) => t.getBoundingClientRect().right)"
    widest = page.evaluate(f"Math.max(...{tables})")
    assert widest <= PHONE["width"]
    assert page.evaluate(SPLIT_WORDS, "body") == []  # paths and URLs wrap after a separator
    page.screenshot(path=shots / "12-phone-case-report.png", full_page=True)
    assert not errors, errors
