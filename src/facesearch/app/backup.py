"""Backup and restore of a home: an online, consistent snapshot, and a restore into an empty home.

A backup holds what a home needs to answer the same searches and prove the same history:
- `facesearch.db`: a snapshot through SQLite's online backup API, taken while the service may be writing
  (one read transaction: every row as of one instant);
- the files that snapshot refers to: face thumbnails (`thumbs/`), uploaded photos that became images
  (`uploads/`), index files of its collections (`index/`; a cache, reconciled with the rows on restore),
  score tables (`calibration/`), kept probes (`probes/`) and authorisation documents (`authorisations/`);
- a checkpoint (`audit-head.json`) of the snapshot's newest entry;
- `backup.json`: the manifest, with the SHA-256 of every file, checked before a restore touches anything.

The audit key (`audit.key`) is not in it: whoever holds a backup could otherwise rewrite the backup's log and
re-key it consistently (its manifest is only checksums). A restore takes the key separately (`--key FILE`, the
home's key kept apart from its backups), and the restored log is verified with it: a backup forged with a key
of its own fails `audit verify`. Files are copied only from the home's own folders, never through a symbolic
link (`fsutil.open_beneath`).

Photos ingested from folders outside the home are not in it and not in the backup. Model weights are not
either (reinstall them). A PostgreSQL database is backed up with pg_dump, not here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .. import __version__
from ..config import Settings
from ..fsutil import open_beneath, write_atomic
from ..index import open_index
from ..services.indexes import reconcile
from ..store import Store, snapshot
from ..store import audit as log
from ..vocabulary import Action
from .auditing import record
from .context import Actor, Context, secure_home
from .errors import Conflict, Invalid
from .roles import allowed, require_role

MANIFEST = "backup.json"
FORMAT = 1
DB_FILE = "facesearch.db"
# Folders copied whole (everything in them is the home's own); thumbs, uploads and index are filtered to rows.
# `authorisations`: the documents of case authorisations, named by their hash (the rows name them).
WHOLE = ("calibration", "probes", "authorisations")


class AuditSeal(BaseModel):
    """The audit log as a backup holds it: whether its chain verifies, its length and head, its problems."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: list[str]


class BackupSummary(BaseModel):
    """A backup written: where, how many files and bytes, what the snapshot holds, and its audit log."""

    to: str
    files: int
    bytes: int
    audit: AuditSeal
    collections: int
    images: int
    faces: int
    uploads: int
    thumbnails_missing: int


class RestoredAudit(BaseModel):
    ok: bool
    entries: int
    problems: list[str]


class RestoreSummary(BaseModel):
    """A restore done: into which home, from which backup (of when), what it holds, and its audit log."""

    model_config = ConfigDict(serialize_by_alias=True)

    home: str
    source: str = Field(serialization_alias="from")
    files: int
    backup_created_at: str | None
    collections: int | None
    images: int | None
    faces: int | None
    indexes_rebuilt: int
    audit: RestoredAudit


class _Copied(BaseModel):
    collections: int
    images: int
    faces: int
    uploads: int
    thumbnails_missing: int


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sqlite_path(url: str) -> Path:
    path = snapshot.sqlite_file(url)
    if path is None:
        raise Invalid(
            "this home's database is not SQLite (FACESEARCH_DATABASE_URL), and `facesearch backup` "
            "takes SQLite homes only: copy audit.key and audit-head.json from the home first, then "
            "back the database up with `pg_dump --format=custom`, then copy thumbs/ and uploads/ "
            "(docs/scaling.md)"
        )
    return path


def _copy_beneath(root: Path, rel: str | Path, dst: Path) -> bool:
    """Copy the regular file `root/rel` to `dst` without following a link on the way; False (nothing copied)
    when it is absent, a link, or not a regular file."""
    try:
        src = open_beneath(root, Path(rel).as_posix())
    except OSError:
        return False
    with src:
        dst.parent.mkdir(parents=True, exist_ok=True)
        with open(dst, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    return True


def _files_beneath(root: Path) -> Iterator[Path]:
    """The regular files under `root`, relative to it, never entering a folder that is a symbolic link."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in files:
            yield Path(folder, name).relative_to(root)


def _is_tar(dest: Path) -> bool:
    return dest.name.endswith(".tar")


@allowed("admin")
def backup(ctx: Context, actor: Actor, dest: Path) -> BackupSummary:
    """Write a snapshot of this home to `dest`: a new folder, or a `.tar` file. Logged before it is taken,
    so the backup holds its own entry."""
    settings = ctx.settings
    db_path = _sqlite_path(ctx.store.url)
    dest = dest.expanduser().absolute()
    if _is_tar(dest):
        if dest.exists():
            raise Conflict(f"{dest} exists already; give a new file name")
        if not dest.parent.is_dir():
            raise Invalid(f"{dest.parent} is not a folder")
    elif dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Conflict(f"{dest} exists and is not an empty folder; give a new one (or a .tar file name)")
    home = settings.home.absolute()
    if dest == home or dest.is_relative_to(home):
        raise Invalid("the backup cannot be written inside the home it copies")
    record(ctx, actor, Action.BACKUP, details={"to": str(dest)})
    parent = dest.parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".facesearch-backup-", dir=parent) as tmp:
        stage = Path(tmp) / "home"
        stage.mkdir()
        # The checkpoint as it is now, before the snapshot: the snapshot holds at least as many entries.
        live_head = log.read_head(home / log.HEAD_FILE)
        snapshot.copy_database(db_path, stage / DB_FILE)
        copied = _copy_files(settings, stage)
        # The snapshot's chain is checked with the live key, which stays behind (see the module's docstring).
        audit = _seal_audit(stage, live_head, home / log.KEY_FILE)
        files: dict[str, dict[str, Any]] = {
            p.relative_to(stage).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(stage.rglob("*"))
            if p.is_file()
        }
        manifest = {
            "format": FORMAT,
            "facesearch": __version__,
            "created_at": log.now_iso(),
            "home": str(home),
            "home_resolved": str(home.resolve()),
            "audit": audit.model_dump(),
            "audit_key": "kept apart: restore with --key FILE",
            **copied.model_dump(),
            "files": files,
        }
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if _is_tar(dest):
            partial = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
            with tarfile.open(partial, "w") as tar:
                for p in sorted(stage.rglob("*")):
                    tar.add(p, arcname=p.relative_to(stage).as_posix(), recursive=False)
            os.replace(partial, dest)
        else:
            if dest.exists():
                dest.rmdir()
            os.replace(stage, dest)
    return BackupSummary(
        to=str(dest),
        files=len(files),
        bytes=sum(f["bytes"] for f in files.values()),
        audit=audit,
        **copied.model_dump(),
    )


def _copy_files(settings: Settings, stage: Path) -> _Copied:
    """Copy the files the snapshot's rows refer to, and the home's own folders; count what is missing."""
    home = settings.home
    with snapshot.opened_copy(stage / DB_FILE) as store:
        held = snapshot.contents(store)
    # Every file is read beneath the home's own folders without following a link: a thumbnail name or an upload
    # path in the database, or a folder swapped for a link to /etc, copies nothing from outside the home.
    missing_thumbs = 0
    for rel in held.thumbnails:
        if not _copy_beneath(settings.thumbs_dir, rel, stage / "thumbs" / rel):
            missing_thumbs += 1
    uploads = 0
    roots = {(home / "uploads").absolute(), (home / "uploads").resolve()}
    for p in held.image_paths:
        path = Path(p)
        for root in roots:
            if path.is_relative_to(root):
                inside = path.relative_to(root)
                if _copy_beneath(root, inside, stage / "uploads" / inside):
                    uploads += 1
                break
    for cid in held.collection_ids:
        name = f"collection-{cid}.faiss"
        if _copy_beneath(settings.index_dir, name, stage / "index" / name):
            sidecar = name + ".meta.json"  # tuned search parameters, tombstones
            _copy_beneath(settings.index_dir, sidecar, stage / "index" / sidecar)
    for name in WHOLE:
        root = home / name
        if root.is_dir() and not root.is_symlink():
            for found in _files_beneath(root):
                _copy_beneath(root, found, stage / name / found)
    return _Copied(
        collections=len(held.collection_ids),
        images=held.images,
        faces=held.faces,
        uploads=uploads,
        thumbnails_missing=missing_thumbs,
    )


def _seal_audit(stage: Path, live_head: tuple[int, str] | None, key_path: Path) -> AuditSeal:
    """Check the snapshot's chain (with the live key) against the live checkpoint, then checkpoint the
    snapshot's own head."""
    head = stage / log.HEAD_FILE
    if live_head is not None:
        head.write_text(json.dumps({"seq": live_head[0], "hash": live_head[1]}))
    with snapshot.opened_copy(stage / DB_FILE) as store:
        report = log.verify_chain(store, head if live_head is not None else None, key_path=key_path)
    if report.entries:
        head.write_text(json.dumps({"seq": report.head_seq, "hash": report.head_hash}))
    else:
        head.unlink(missing_ok=True)
    return AuditSeal(
        ok=report.ok,
        entries=report.entries,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        problems=report.problems,
    )


# Restore ----------------------------------------------------------------------------------------------
def restore(
    settings: Settings, actor: Actor, source: Path, key: Path | None = None, without_key: bool = False
) -> RestoreSummary:
    """Restore a backup (folder or .tar) into the empty home of `settings`, check every file against the
    manifest first, relocate uploaded photos to this home, rebuild indexes from the rows, and log it in the
    restored audit log. Nothing is left in the home when any step fails.

    `key`: the audit key of the home the backup was made from (backups do not hold it); the restored log is
    verified with it. `without_key`: restore all the same when the key is lost; a new key is started and the
    entries written with the old one are reported as unverifiable."""
    require_role(actor, ("admin",))
    chain_key = _given_key(key, without_key)
    home = settings.home.expanduser().absolute()
    if settings.database_url and settings.database_url != f"sqlite:///{home / DB_FILE}":
        raise Invalid(
            "restore writes the SQLite database of the home; unset FACESEARCH_DATABASE_URL "
            "(a PostgreSQL database is restored with pg_restore)"
        )
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise Conflict(f"{home} is not empty: restore only into an empty home (set FACESEARCH_HOME to a new folder)")
    if not source.exists():
        raise Invalid(f"{source} does not exist")
    secure_home(home)
    try:
        with _unpacked(source, home) as folder:
            manifest = _checked_manifest(folder)
            if chain_key is None and not without_key and manifest.get("audit", {}).get("entries"):
                raise Invalid(
                    "the audit key is not in backups: give the key of the home this backup was made from with "
                    "--key FILE (its audit.key, kept apart from the backups); --without-key restores without "
                    "it, and the restored log then cannot be verified"
                )
            for rel in manifest["files"]:
                if rel == log.KEY_FILE:
                    continue  # a key inside a backup (one made before keys were kept apart) is never trusted
                if not _copy_beneath(folder, rel, home / rel):
                    raise Invalid(f"the backup is damaged: {rel} cannot be read as a file of the backup")
        if chain_key is not None:
            write_atomic(home / log.KEY_FILE, chain_key)
        _relocate_uploads(home, manifest)
        ctx = Context.open(settings.model_copy(update={"home": home, "database_url": None}))
        try:
            rebuilt = 0
            for col in ctx.store.list_collections():
                index = open_index(ctx.settings, col.id, col.dim)
                added, removed = reconcile(index, ctx.store, col.id)
                if added or removed or getattr(index, "dirty", False):
                    index.save()
                    rebuilt += 1
            report = log.verify_chain(ctx.store, ctx.audit.head_path)
            record(
                ctx,
                actor,
                Action.RESTORE,
                details={
                    "from": str(source),
                    "backup_created_at": manifest.get("created_at"),
                    "audit_ok_before": report.ok,
                },
            )
        finally:
            ctx.store.close()
    except BaseException:
        _empty(home)
        raise
    return RestoreSummary(
        home=str(home),
        source=str(source),
        files=len(manifest["files"]),
        backup_created_at=manifest.get("created_at"),
        collections=manifest.get("collections"),
        images=manifest.get("images"),
        faces=manifest.get("faces"),
        indexes_rebuilt=rebuilt,
        audit=RestoredAudit(ok=report.ok, entries=report.entries, problems=report.problems),
    )


def _given_key(key: Path | None, without_key: bool) -> str | None:
    """The audit key file's text, checked to be one; None when none was given."""
    if key is None:
        return None
    if without_key:
        raise Invalid("give either --key FILE or --without-key, not both")
    try:
        text = key.read_text()
        found = log.read_key(key)
    except (OSError, log.AuditWriteError) as exc:
        raise Invalid(f"{key} is not a readable audit key: {exc}") from None
    if found is None:
        raise Invalid(f"{key} does not exist")
    return text


@contextmanager
def _unpacked(source: Path, home: Path) -> Iterator[Path]:
    if source.is_dir():
        yield source
        return
    if not tarfile.is_tarfile(source):
        raise Invalid(f"{source} is neither a backup folder nor a .tar file")
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=home) as tmp:
        try:
            with tarfile.open(source) as tar:
                # Regular files and folders only, inside the target: no links, devices or absolute paths.
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise Invalid(f"{source} is refused: {exc} (a backup holds only regular files and folders)") from None
        yield Path(tmp)


def _checked_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise Invalid(f"no readable {MANIFEST} in {folder}: not a facesearch backup") from exc
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise Invalid(f"{MANIFEST}: unknown backup format {manifest.get('format')!r}")
    bad = []
    for rel, meta in manifest["files"].items():
        if not isinstance(rel, str) or not isinstance(meta, dict) or not _intact(folder, rel, meta):
            bad.append(str(rel))
    if bad:
        raise Invalid(f"the backup is damaged: {len(bad)} file(s) missing or changed, e.g. {', '.join(bad[:3])}")
    if DB_FILE not in manifest["files"]:
        raise Invalid("the backup holds no database")
    return dict(manifest)


def _intact(folder: Path, rel: str, meta: dict[str, Any]) -> bool:
    """The backup's file `rel` is a regular file beneath `folder` (no link on the way) with the manifest's size
    and SHA-256."""
    try:
        fh = open_beneath(folder, rel)
    except OSError:
        return False
    h, size = hashlib.sha256(), 0
    with fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return size == meta.get("bytes") and h.hexdigest() == meta.get("sha256")


def _relocate_uploads(home: Path, manifest: dict[str, Any]) -> None:
    """Uploaded photos are recorded by absolute path: point them at this home's `uploads/`."""
    store = Store(f"sqlite:///{home / DB_FILE}")
    try:
        new = str(home / "uploads")
        for old_home in {str(manifest.get("home") or ""), str(manifest.get("home_resolved") or "")} - {""}:
            old = str(Path(old_home) / "uploads")
            if old != new:
                snapshot.move_image_paths(store, old, new)
    finally:
        store.close()


def _empty(home: Path) -> None:
    """Leave the home as empty as it was found."""
    if not home.is_dir():
        return
    for p in home.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
