"""End to end in a real browser: Debian's chromium driven by Playwright against the served app.

Screenshots of every page go to the test's temporary directory (printed at the end of the test).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import needs_lfw, needs_yunet
from test_api_support import PASSWORD, gallery_manifest, held_out, lfw_person, make_env

from facesearch.api import create_app
from facesearch.ingest import ingest, items_from_manifest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]

pytestmark = [
    needs_lfw, needs_yunet,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed "
                       "(apt-get install -y chromium); the browser tests need it"),
]
playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is not installed (pip install playwright)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    import uvicorn

    root = Path(tmp_path_factory.mktemp("e2e"))
    env = make_env(root / "home", collections=("lfw", "e2e-uploads"))
    people = ["Colin_Powell", "Tony_Blair", "Hugo_Chavez"]
    items = items_from_manifest(gallery_manifest(root / "gallery.csv", people, 3))
    ingest(items, "lfw", env.settings, env.store, workers=1)  # make_env created "lfw" with its provenance
    app = create_app(env.settings, env.store)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", env
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


def _login(page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def test_examiner_searches_with_a_case_reference(server, browser, tmp_path: Path) -> None:
    base, env = server
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = browser.new_page(viewport={"width": 1366, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{base}/search")
    assert "/login" in page.url  # not signed in: sent to the sign-in page
    page.screenshot(path=shots / "01-login.png")
    _login(page, base, "examiner")
    assert page.url.endswith("/search")
    page.get_by_role("heading", name="Search by face").wait_for()
    page.screenshot(path=shots / "02-search-empty.png")

    probe = held_out("Tony_Blair")
    page.set_input_files("#probe", str(probe))
    page.locator("#face-list input[type=radio]").first.wait_for()
    assert page.locator(".box").count() >= 1
    # Searching without a case reference is stopped with a clear message.
    page.get_by_role("button", name="Search").click()
    assert "case reference" in page.locator("#form-error").inner_text()
    page.get_by_label("Case reference").fill("CASE-E2E-1")
    page.get_by_label("Purpose").fill("e2e: identify the person in the probe")
    page.screenshot(path=shots / "03-probe.png")
    with page.expect_response("**/api/v1/search") as resp:
        page.get_by_role("button", name="Search").click()
    body = resp.value.json()
    assert resp.value.status == 200, body
    assert "Tony_Blair" in body["faces"][0]["matches"][0]["image"]["path"]
    page.locator(".cand").first.wait_for()
    assert page.locator(".cand").count() == len(body["faces"][0]["matches"])
    assert "CASE-E2E-1" in page.locator("#results-meta").inner_text()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=shots / "04-results.png", full_page=True)

    # Open the first candidate: the whole image with the face boxed, beside the probe.
    page.locator(".cand-open").first.click()
    dialog = page.locator("dialog#match")
    dialog.wait_for()
    page.locator("#cmp-gallery img").wait_for()
    page.locator("#cmp-gallery .box").wait_for()
    assert "Tony_Blair" in dialog.locator("#match-meta").inner_text()
    page.screenshot(path=shots / "05-candidate.png")
    page.keyboard.press("Escape")

    # The search and the view are in the audit log, which the auditor reads in the browser.
    auditor = browser.new_page(viewport={"width": 1366, "height": 860})
    _login(auditor, base, "auditor")
    assert auditor.url.endswith("/audit")
    auditor.get_by_label("Case reference").fill("CASE-E2E-1")
    auditor.get_by_role("button", name="Filter").click()
    auditor.wait_for_load_state("networkidle")
    rows = auditor.locator("table.audit tbody tr")
    assert rows.count() == 2  # the search and the view of its candidate
    assert "Hash chain intact" in auditor.locator(".chain").inner_text()
    auditor.screenshot(path=shots / "06-audit.png", full_page=True)

    operator = browser.new_page(viewport={"width": 1366, "height": 860})
    _login(operator, base, "operator")
    assert operator.url.endswith("/ingest")
    # An ingest job on uploaded files, followed to the end; the bad file is listed as a failure.
    operator.get_by_label("Collection").fill("e2e-uploads")
    operator.get_by_label("Upload files").check()
    bad = tmp_path / "not-a-photo.jpg"
    bad.write_bytes(b"this is not a JPEG")
    operator.set_input_files("#files", [str(p) for p in lfw_person("Hugo_Chavez")[5:7]] + [str(bad)])
    operator.get_by_role("button", name="Start ingest").click()
    # Locators, not wait_for_function: the page's CSP forbids the eval that the latter needs.
    operator.locator("#job-status").get_by_text("done", exact=True).wait_for(timeout=60000)
    assert operator.locator("#job-failures tbody tr").count() == 1
    operator.wait_for_load_state("networkidle")
    operator.screenshot(path=shots / "07-ingest.png", full_page=True)
    admin = browser.new_page(viewport={"width": 1366, "height": 860})
    _login(admin, base, "admin")
    admin.screenshot(path=shots / "08-users.png")
    assert not errors, errors
    print(f"screenshots in {shots}")
