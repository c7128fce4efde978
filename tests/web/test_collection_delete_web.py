"""An admin deletes a collection on the governance page (a real chromium): the name must be typed again, the
page says what was erased, the collection is gone from the list, and the deletion is logged."""

from __future__ import annotations

import pytest
from support.browser import needs_chromium
from support.gallery_served import _login

from facesearch.store.audit import entry_dict, iter_entries

pytestmark = [needs_chromium]
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)


def test_admin_deletes_a_collection(server, browser) -> None:
    base, env = server
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, base, "admin")
    page.goto(f"{base}/admin/governance")
    row = page.locator("tr", has_text="e2e-uploads")
    assert row.count() == 1 and "gallery" in page.locator("table", has_text="e2e-uploads").inner_text()
    # A wrong name erases nothing.
    row.get_by_label("Type e2e-uploads to confirm").fill("gallery")
    row.get_by_role("button", name="Delete e2e-uploads").click()
    page.wait_for_load_state("networkidle")
    assert "Type the collection's name, e2e-uploads, to delete it." in page.locator(".alert").inner_text()
    assert env.store.get_collection("e2e-uploads") is not None
    row = page.locator("tr", has_text="e2e-uploads")
    row.get_by_label("Type e2e-uploads to confirm").fill("e2e-uploads")
    row.get_by_role("button", name="Delete e2e-uploads").click()
    page.wait_for_load_state("networkidle")
    assert "Collection e2e-uploads deleted" in page.locator(".alert").inner_text()
    assert page.locator("tr", has_text="e2e-uploads").count() == 0
    assert env.store.get_collection("e2e-uploads") is None and env.store.get_collection("gallery") is not None
    assert not errors, errors
    logged = [entry_dict(e) for e in iter_entries(env.store) if e.action == "collection_delete"]
    assert [(e["outcome"], e["actor"], e["collections"]) for e in logged] == [("ok", "admin", ["e2e-uploads"])]
