"""The Verify page in a real browser (Debian's chromium driven by Playwright) on the real pack: a photo of two
people from LFW and another photo of its second, smaller person. Compared as they come (the largest face) they
are below the threshold; the analyst clicks the second face's box and the same comparison is above it. The
result boxes every face found in each photo and highlights the two compared; the audit log has the faces."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.browser import chromium, needs_chromium, served
from support.paths import lfw_person, needs_lfw, needs_yunet
from support.service import PASSWORD, make_env
from support.two_faces import BIG, SMALL, two_face_photo

from facesearch.store.audit import entry_dict, iter_entries

pytestmark = [needs_chromium, needs_lfw, needs_yunet]
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)


@pytest.fixture(scope="module")
def served_env(tmp_path_factory: pytest.TempPathFactory):
    root = Path(tmp_path_factory.mktemp("verify-faces"))
    env = make_env(root / "home", model="yunet-reid")
    with served(env.app) as base:
        yield base, env, root


def _compare(page) -> dict:
    with page.expect_response("**/api/v1/verify") as resp:
        page.get_by_role("button", name="Compare").click()
    assert resp.value.status == 200, resp.value.text()
    page.locator("#verdict").wait_for()
    return resp.value.json()


def test_the_analyst_chooses_the_face_to_compare(served_env, tmp_path: Path) -> None:
    base, env, root = served_env
    pair = two_face_photo(root / "pair.jpg", lfw_person(BIG)[0], lfw_person(SMALL)[0])
    other = lfw_person(SMALL)[1]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with chromium(playwright_api) as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/login")
        page.get_by_label("User name").fill("examiner")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("networkidle")
        page.goto(f"{base}/verify")
        page.get_by_role("heading", name="Compare two photos").wait_for()

        page.set_input_files("#photo-a", str(pair))
        page.set_input_files("#photo-b", str(other))
        radios = page.locator("#face-list-a input[type=radio]")
        radios.nth(1).wait_for()
        page.locator("#face-list-b input[type=radio]").first.wait_for()
        assert radios.count() == 2 and radios.first.is_checked()  # the largest face comes first, chosen
        assert page.locator("#view-a .box").count() == 2 and page.locator("#view-a .box.active").count() == 1
        page.get_by_label("Case reference").fill("CASE-VERIFY-FACES")
        page.get_by_label("Purpose").fill("compare")

        largest = _compare(page)
        assert not largest["same_person"] and [f["face"] for f in largest["faces"]] == [0, 0], largest
        assert "Below threshold" in page.locator("#verdict").inner_text()
        assert page.locator("#result-a .box").count() == 2 and page.locator("#result-a .box.active").count() == 1
        assert "Face 1 of 2 compared" in page.locator("#result-faces-a").inner_text()
        page.screenshot(path=shots / "01-largest-face.png", full_page=True)

        # The analyst clicks the second person's face on the first photo.
        page.locator("#view-a .box").nth(1).click()
        assert radios.nth(1).is_checked() and page.locator("#verdict").is_hidden()
        chosen = _compare(page)
        assert chosen["same_person"] and [f["face"] for f in chosen["faces"]] == [1, 0], chosen
        verdict = page.locator("#verdict").inner_text()
        assert "Above threshold" in verdict and "face 2 · face 1" in verdict
        assert "Face 2 of 2 compared" in page.locator("#result-faces-a").inner_text()
        active = page.locator("#result-a .box.active")
        assert active.count() == 1 and active.inner_text() == "2"
        page.screenshot(path=shots / "02-second-face.png", full_page=True)

        # Chosen from the list instead: the same as the click.
        radios.first.check()
        assert not _compare(page)["same_person"]
        assert not errors, errors
    logged = [entry_dict(e) for e in iter_entries(env.store) if e.action == "verify"]
    assert [e["details"]["faces"] for e in logged] == [[0, 0], [1, 0], [0, 0]]
    assert [e["results"]["same_person"] for e in logged] == [False, True, False]
    print(f"screenshots in {shots}")
