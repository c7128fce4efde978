"""Video in a real browser (Debian's chromium, Playwright), on the `synthetic` test pack: an examiner searches
with a clip (its faces listed with their times), a candidate from a video shows its time, the frame it was
seen on with its face boxed, and a player that fetches the video in byte ranges from that time; an operator
uploads a video to an ingest job and sees its video counts. The clips are WebM/VP9, which chromium plays."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.browser import needs_chromium, served
from support.gallery_served import PASSWORD, _login
from support.synthetic import write_photo
from support.videos import marker_clip, write_clip

from facesearch.app import accounts, purposes
from facesearch.app import collection as collections
from facesearch.app.context import Actor, Context
from facesearch.app.ingest import Item, ingest
from facesearch.config import Settings
from facesearch.server import create_app

pytestmark = [needs_chromium]
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
SETUP = Actor("tests", "admin", via="system")
OPERATOR = Actor("tests", "operator", via="system")
WEBM = {"codec": "libvpx-vp9", "fmt": "webm", "pix_fmt": "yuv420p"}


@pytest.fixture(scope="module")
def video_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = Path(tmp_path_factory.mktemp("video-e2e"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACESEARCH_TEST_PACKS", "1")
        mp.setenv("FACESEARCH_MODEL", "synthetic")
        mp.delenv("FACESEARCH_DATABASE_URL", raising=False)
        settings = Settings(home=root / "home", model="synthetic", workers=1, ingest_workers=1, database_url=None)
        app = create_app(settings)
        ctx: Context = app.state.ctx
        purposes.add_purpose(ctx, SETUP, "e2e", "tests: browser end-to-end")
        for role in ("admin", "operator", "examiner", "auditor"):
            accounts.add_user(ctx, SETUP, role, role, PASSWORD)
        for name in ("cctv", "uploads"):
            collections.create_collection(
                ctx, OPERATOR, name, source="synthetic clips", legal_basis="consent", retention_days=None, keep=True
            )
        street = write_clip(root / "street.webm", marker_clip(8.0, [(1, 0.5, 4.0, 0.02), (2, 2.0, 7.0, 0.5)]), **WEBM)
        photo = write_photo(root / "three.jpg", [3], seed=3)
        done = ingest(ctx, OPERATOR, [Item(street), Item(photo)], "cctv")
        assert done.video.ingested == 1 and done.faces == 7, done
        with served(app) as base:
            yield base, root, ctx


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from support.browser import chromium

    with chromium(playwright_api) as b:
        yield b


def test_search_with_a_clip_and_play_the_candidate_from_its_time(video_server, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, root, _ = video_server
    probe = write_clip(tmp_path / "probe.webm", marker_clip(3.0, [(3, 0.0, 1.0, 0.05), (2, 0.5, 3.0, 0.5)]), **WEBM)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _login(page, base, "examiner")
    page.get_by_role("heading", name="Search by face").wait_for()
    page.set_input_files("#probe", str(probe))
    choices = page.locator("#face-list label.face-choice")
    choices.nth(1).wait_for()
    assert choices.count() == 2
    assert "on screen 00:00.0–00:00.5" in choices.nth(0).inner_text()
    assert "on screen 00:00.5–00:02.5" in choices.nth(1).inner_text()
    page.locator("#probe-boxed video").wait_for()  # the clip's preview (a blob: URL, allowed by the CSP)
    choices.nth(1).locator("input").check()
    page.get_by_label("Case reference").fill("CASE-E2E-V")
    page.get_by_label("Purpose").fill("e2e")
    with page.expect_response("**/api/v1/search") as resp:
        page.get_by_role("button", name="Search").click()
    body = resp.value.json()
    assert resp.value.status == 200, body
    face = body["faces"][0]
    assert face["face"] == 1 and face["video"]["track"] == 1
    top = face["matches"][0]
    assert top["video"]["track"] == 1 and top["image"]["path"].endswith("street.webm")
    card = page.locator(".cand").first
    card.wait_for()
    assert card.locator(".video-time").inner_text().startswith("▶ 00:0")
    assert "(00:02.0–00:06.5)" in card.locator(".video-time").inner_text()
    with page.expect_response(lambda r: "/file" in r.url and r.status == 206, timeout=30000) as ranged:
        card.locator(".cand-open").click()
        page.locator("dialog#match").wait_for()
    assert ranged.value.request.headers.get("range", "").startswith("bytes=")
    frame = page.locator("#cmp-gallery img")
    frame.wait_for()
    assert f"/api/v1/faces/{top['face_id']}/frame" in (frame.get_attribute("src") or "")
    page.locator("#cmp-gallery .box").wait_for()
    player = page.locator("#cmp-video video")
    src = player.get_attribute("src") or ""
    assert src.startswith(f"/api/v1/images/{top['image_id']}/file#t=")
    assert float(src.split("#t=")[1]) == top["video"]["time"]  # plays from the moment the face was seen
    meta = page.locator("#match-meta").inner_text()
    assert "Seen at" in meta and "(00:02.0–00:06.5)" in meta and "street.webm" in meta
    page.screenshot(path=tmp_path / "video-candidate.png")
    page.keyboard.press("Escape")
    assert not errors, errors


def test_an_operator_uploads_a_video_to_an_ingest_job(video_server, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, root, _ = video_server
    clip = write_clip(tmp_path / "upload.webm", marker_clip(4.0, [(4, 0.5, 3.5, 0.2)]), **WEBM)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, base, "operator")
    page.get_by_label("Collection").fill("uploads")
    page.get_by_label("Upload files").check()
    page.set_input_files("#files", [str(clip)])
    page.get_by_role("button", name="Start ingest").click()
    page.locator("#job-status").get_by_text("done", exact=True).wait_for(timeout=60000)
    counts = page.locator("#job-counts").inner_text()
    assert "Videos" in counts and "Tracks" in counts and "Video analysed" in counts
    assert not errors, errors


def test_the_people_page_says_who_was_on_screen_in_the_same_frame(video_server, browser) -> None:  # type: ignore[no-untyped-def]
    base, _, ctx = video_server
    from facesearch.store import people as people_rows
    from facesearch.store import videos

    first_track = videos.faces_of_tracks(ctx.store, [1])[1]  # the first track stored: identity 1's
    person = people_rows.persons_of(ctx.store, first_track)[first_track[0]]
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    _login(page, base, "examiner")
    page.goto(f"{base}/people/{person}")
    page.get_by_label("Case reference").fill("CASE-E2E-T")  # browsing people is a search: the case first
    page.get_by_label("Purpose").fill("e2e")
    page.get_by_role("button", name="Browse people").click()
    page.get_by_label("Case reference").fill("CASE-E2E-T")
    page.get_by_label("Purpose").fill("e2e")
    page.get_by_role("button", name="Find who appears with").click()
    page.locator("#together").wait_for()
    text = page.locator("#together").inner_text()
    assert "On screen in the same frame in 1 video" in text and "street.webm" in text and "00:02.0–00:03.5" in text
