"""Backups (docs/security.md): the audit key stays out of them, so a backup forged with a key of its own fails
`audit verify` after a restore with the real key; a folder backup follows no link out of the home; a refused
tar restore is one line, not a traceback.

Each test reproduces an attack that succeeded against 0.3.0 (synthetic pack: plumbing, not accuracy)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import sqlite3
import tarfile
from pathlib import Path

import pytest
from support.helpers import create_collection
from support.synthetic import write_gallery, write_photo
from typer.testing import CliRunner

from facesearch.app import backup as backup_uc
from facesearch.app import purposes, searching
from facesearch.app.context import Actor, Context
from facesearch.app.errors import Invalid
from facesearch.app.ingest import ingest, items_from_folder
from facesearch.cli import app as cli_app
from facesearch.config import Settings
from facesearch.services.uploads import Photo
from facesearch.store import audit

ADMIN = Actor("root", "admin")
OPERATOR = Actor("op", "operator")
runner = CliRunner()


def _settings(home: Path) -> Settings:
    return Settings(home=home, workers=1, model="synthetic")


@pytest.fixture
def world(synthetic_env: Path, tmp_path: Path) -> Context:
    ctx = Context.open(_settings(synthetic_env))
    purposes.add_purpose(ctx, ADMIN, "TEST", "tests")
    create_collection(ctx.store, "press", model="synthetic")
    write_gallery(tmp_path / "g", [1, 2], 2)
    assert ingest(ctx, OPERATOR, items_from_folder(tmp_path / "g"), "press").ingested == 4
    probe = write_photo(tmp_path / "probe.jpg", [2], seed=999, variant=5)
    for who in ("ann", "bob"):
        req = searching.SearchRequest(case_ref=f"CASE-{who}", purpose="TEST")
        searching.search(ctx, Actor(who, "examiner"), Photo.from_path(probe), req)
    return ctx


def _forge(folder: Path, key_file: Path) -> None:
    """What someone holding the backup does: reattribute ann's search to bob, re-key the whole chain with a key
    of their own, and re-hash the manifest."""
    db = folder / "facesearch.db"
    secret = secrets.token_bytes(32)
    key_file.write_text(json.dumps({"key": secret.hex(), "from_seq": 1}))
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    conn.execute("UPDATE audit_log SET actor = 'bob' WHERE actor = 'ann'")
    conn.row_factory = sqlite3.Row
    prev = audit.GENESIS
    for row in conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall():
        fields = {k: row[k] for k in audit.FIELDS}
        fields["prev_hash"] = prev
        prev = audit.entry_hash(fields, secret)
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", ("x" + str(row["seq"]), prev, row["seq"])
        )
    # prev_hash is unique: set the real links once every placeholder is in.
    rows = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq").fetchall()
    links = [audit.GENESIS] + [r["hash"] for r in rows[:-1]]
    for r, link in zip(rows, links):
        conn.execute("UPDATE audit_log SET prev_hash = ? WHERE seq = ?", (link, r["seq"]))
    conn.commit()
    head = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    conn.close()
    (folder / audit.HEAD_FILE).write_text(json.dumps({"seq": head[0], "hash": head[1]}))
    manifest = json.loads((folder / "backup.json").read_text())
    for rel in list(manifest["files"]):
        data = (folder / rel).read_bytes()
        manifest["files"][rel] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "backup.json").write_text(json.dumps(manifest))


def test_a_backup_forged_with_its_own_key_fails_verify_after_restore(world: Context, tmp_path: Path) -> None:
    ctx = world
    dest = tmp_path / "b"
    backup_uc.backup(ctx, ADMIN, dest)
    assert not (dest / audit.KEY_FILE).exists()
    forged_key = tmp_path / "forged.key"
    _forge(dest, forged_key)
    # With the forger's key the forgery verifies: which is why that key is never the one a restore trusts.
    new = tmp_path / "restored"
    out = backup_uc.restore(_settings(new), ADMIN, dest, key=ctx.settings.home / audit.KEY_FILE)
    assert not out.audit.ok and any("without the audit key" in p for p in out.audit.problems)
    r = runner.invoke(cli_app, ["audit", "verify"], env={"FACESEARCH_HOME": str(new)})
    assert r.exit_code == 1
    # A restore without the key is refused unless asked for, and then says the log cannot be verified.
    with pytest.raises(Invalid, match="--key FILE"):
        backup_uc.restore(_settings(tmp_path / "h2"), ADMIN, dest)
    keyless = backup_uc.restore(_settings(tmp_path / "h3"), ADMIN, dest, without_key=True)
    assert not keyless.audit.ok


def test_an_honest_backup_restores_and_verifies_with_the_key(world: Context, tmp_path: Path) -> None:
    dest = tmp_path / "b.tar"
    backup_uc.backup(world, ADMIN, dest)
    with tarfile.open(dest) as tar:
        assert audit.KEY_FILE not in tar.getnames()
    r = runner.invoke(cli_app, ["restore", str(dest)], env={"FACESEARCH_HOME": str(tmp_path / "n")})
    assert r.exit_code == 2 and "--key FILE" in r.output and "Traceback" not in r.output
    key = world.settings.home / audit.KEY_FILE
    r = runner.invoke(cli_app, ["restore", str(dest), "--key", str(key)], env={"FACESEARCH_HOME": str(tmp_path / "n")})
    assert r.exit_code == 0, r.output
    assert runner.invoke(cli_app, ["audit", "verify"], env={"FACESEARCH_HOME": str(tmp_path / "n")}).exit_code == 0


def test_a_folder_backup_follows_no_link_out_of_the_home(world: Context, tmp_path: Path) -> None:
    home = world.settings.home
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (home / "probes").mkdir(exist_ok=True)
    os.symlink(outside, home / "probes" / "etc")  # a subfolder swapped for a link to /etc
    os.symlink(outside / "passwd", home / "calibration-link")
    (home / "calibration").mkdir(exist_ok=True)
    os.symlink(outside / "passwd", home / "calibration" / "table.json")
    dest = tmp_path / "b"
    backup_uc.backup(world, ADMIN, dest)
    copied = [p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()]
    assert not any("passwd" in c or c.endswith("table.json") for c in copied), copied
    assert all("root:x:0" not in p.read_text(errors="ignore") for p in dest.rglob("*") if p.is_file())


def test_a_refused_tar_restore_is_one_line(world: Context, tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("probes/shadow")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/shadow"
        tar.addfile(info)
        data = b"{}"
        member = tarfile.TarInfo("backup.json")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
        escape = tarfile.TarInfo("../../outside")
        escape.size = 2
        tar.addfile(escape, io.BytesIO(b"hi"))
    r = runner.invoke(cli_app, ["restore", str(evil)], env={"FACESEARCH_HOME": str(tmp_path / "n")})
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "refused" in lines[0], r.output
    assert not (tmp_path / "n").exists() or not any((tmp_path / "n").iterdir())
