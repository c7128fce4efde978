"""Governance of the gallery: provenance rules, erasure that reaches everything, the opt-out registry,
data-subject reports, retention purges and the `doctor` consistency scan.

Erasure order: rows go first (the database is the source of truth), then vector index entries, then
files. If the process dies between the steps, the index is reconciled with the rows on its next open and
`doctor` (with `--fix`) finds and removes stray files, so a crash can delay but never undo an erasure.
See docs/governance.md for what each guarantee covers and where it stops.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, func, select, update

from .calibration import load_table
from .config import Settings
from .errors import CollectionError, FacesearchError, ProbeError
from .index import open_index
from .store import NewImage, Store
from .store.governance_tables import OptOut, OptOutTemplate
from .store.schema import Collection, Face, Image

if TYPE_CHECKING:
    from .audit import AuditLog

LEGAL_BASES = ("consent", "contract", "legal_obligation", "vital_interests", "public_task",
               "legitimate_interests", "law_enforcement")
CREATE_HINT = ("facesearch collections create {name} --source TEXT --legal-basis BASIS "
               "--retention-days N|--keep")
_CHUNK = 500
_INDEX_FILE = re.compile(r"^collection-(\d+)\.faiss$")

# Audit actions of this area (stable: reports select on them).
OPTOUT_ADD = "optout_add"
OPTOUT_ERASE = "optout_erase"
OPTOUT_BLOCK = "optout_block"
OPTOUT_HIDE = "optout_hide"
SUBJECT_REPORT = "subject_report"
PURGE = "purge"
DOCTOR = "doctor"


@dataclass
class Erasure:
    images: int
    faces: int
    thumbnails: int
    uploads: int = 0
    probes: int = 0

    def __iadd__(self, other: Erasure) -> Erasure:
        for k in ("images", "faces", "thumbnails", "uploads", "probes"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        return self

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _chunks(values: Sequence[int], size: int = _CHUNK) -> Iterable[list[int]]:
    for i in range(0, len(values), size):
        yield [int(v) for v in values[i:i + size]]


def audit_log(settings: Settings, store: Store) -> AuditLog:
    from .audit import AuditLog

    return AuditLog(store, settings.home / "audit-head.json")


# Provenance -------------------------------------------------------------------------------------
def collection_problems(col: Collection) -> list[str]:
    """What a collection lacks before it may take photos (empty when it is fully documented)."""
    missing = []
    if not (col.source or "").strip():
        missing.append("a source description")
    if col.legal_basis not in LEGAL_BASES:
        missing.append("a legal basis")
    if not (col.owner or "").strip():
        missing.append("an owner")
    if col.retention_days is None and not col.keep_until_deleted:
        missing.append("a retention policy")
    return missing


def require_documented(col: Collection) -> None:
    missing = collection_problems(col)
    if missing:
        raise CollectionError(
            f"collection {col.name!r} lacks {', '.join(missing)}, so nothing may be ingested into it; "
            f"record them with `{CREATE_HINT.format(name=col.name)}` (on a new name) or through the API")


def missing_collection_error(name: str) -> CollectionError:
    return CollectionError(
        f"no collection named {name!r}: create it first, with its source, legal basis and retention: "
        f"`{CREATE_HINT.format(name=name)}`")


def create_collection(settings: Settings, store: Store, name: str, *, source: str, legal_basis: str,
                      owner: str, retention_days: int | None, keep: bool, model: str | None = None,
                      legal_basis_note: str | None = None, description: str | None = None) -> Collection:
    """Create a documented collection. Refuses what ingest would refuse later, and a model pack that
    registered opt-outs have no templates for (future ingests could not honour those opt-outs)."""
    from .models import get_entry

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}", name):
        raise CollectionError("collection names are letters, digits and . _ - (not first), up to 200 characters")
    if store.get_collection(name) is not None:
        raise CollectionError(f"collection {name!r} already exists")
    if not source.strip():
        raise CollectionError("--source must describe where the photos come from")
    if legal_basis not in LEGAL_BASES:
        raise CollectionError(f"legal basis {legal_basis!r} is not one of: {', '.join(LEGAL_BASES)} "
                              "(add free text with --legal-basis-note)")
    if (retention_days is None) == (not keep):
        raise CollectionError("give exactly one of --retention-days N and --keep")
    if retention_days is not None and retention_days < 1:
        raise CollectionError("--retention-days must be at least 1")
    entry = get_entry(model or settings.model)
    uncovered = optouts_without_templates(store, entry.info.name)
    if uncovered:
        raise CollectionError(
            f"{uncovered} registered opt-out(s) have no template for model pack {entry.info.name!r}, so a "
            "collection built with it could not keep their faces out; use a pack that has collections "
            "already, or collect the opt-out photos again for this pack (`facesearch optout add`)")
    return store.create_collection(
        name, entry.info.name, entry.info.version, entry.info.dim, source=source.strip(),
        legal_basis=legal_basis, legal_basis_note=legal_basis_note, owner=owner, description=description,
        retention_days=retention_days, keep_until_deleted=retention_days is None)


def collection_dict(col: Collection) -> dict[str, Any]:
    return {"name": col.name, "model": col.model, "model_version": col.model_version,
            "created_at": col.created_at.isoformat() if col.created_at else None, "source": col.source,
            "legal_basis": col.legal_basis, "legal_basis_note": col.legal_basis_note, "owner": col.owner,
            "retention_days": col.retention_days,
            "keep_until_deleted": bool(col.keep_until_deleted and col.retention_days is None),
            "description": col.description, "problems": collection_problems(col)}


# Erasure ----------------------------------------------------------------------------------------
def _owned_copy(settings: Settings, path: str | None) -> Path | None:
    """The file if it is a copy this service owns (an API upload); files ingested from a folder belong to
    whoever owns that folder and are never touched."""
    if not path:
        return None
    p = Path(path).resolve()
    root = (settings.home / "uploads").resolve()
    return p if p.is_relative_to(root) else None


def _kept_probe_files(settings: Settings) -> list[Path]:
    root = settings.home / "probes"
    return sorted(root.glob("*/*.img")) if root.is_dir() else []


def erase_images(settings: Settings, store: Store, image_ids: Sequence[int]) -> Erasure:
    """Delete images and every trace of them: rows, index entries, thumbnails, the uploaded copy of the
    file (if the API received it) and a kept probe with the same bytes."""
    total = Erasure(0, 0, 0)
    for chunk in _chunks(list(image_ids)):
        with store.session() as s:
            files = s.execute(select(Image.sha256, Image.path).where(Image.id.in_(chunk))).all()
        images, removed = store.delete_images(chunk)
        total += Erasure(images, len(removed), 0)
        total += _drop_index_and_thumbs(settings, store, [(c, f) for c, f, _ in removed],
                                        [t for _, _, t in removed])
        shas = {sha for sha, _ in files}
        for _, path in files:
            own = _owned_copy(settings, path)
            if own is not None and own.is_file():
                own.unlink()
                total.uploads += 1
                if own.parent.is_dir() and not any(own.parent.iterdir()):
                    own.parent.rmdir()
        for probe in _kept_probe_files(settings):
            if probe.stem in shas:
                probe.unlink(missing_ok=True)
                total.probes += 1
    return total


def _drop_index_and_thumbs(settings: Settings, store: Store, faces: list[tuple[int, int]],
                           thumbs: list[str]) -> Erasure:
    by_collection: dict[int, list[int]] = defaultdict(list)
    for collection_id, face_id in faces:
        by_collection[collection_id].append(face_id)
    cols = store.collections_by_id()
    for collection_id, face_ids in by_collection.items():
        col = cols.get(collection_id)
        if col is None:
            continue
        index = open_index(settings.index_dir, collection_id, col.dim)
        index.remove(np.asarray(face_ids, np.int64))
        index.save()
    n = 0
    for rel in thumbs:
        path = settings.thumbs_dir / rel
        if path.is_file():
            path.unlink()
            n += 1
    return Erasure(0, 0, n)


def erase_faces(settings: Settings, store: Store, face_ids: Sequence[int]) -> Erasure:
    """Delete single faces (rows, index entries, thumbnails). An image left with no face at all is erased
    too: it was a photo of the erased person, and its path and source URL would still point to them.
    Images that keep other people's faces stay, with their face count updated."""
    total = Erasure(0, 0, 0)
    emptied: list[int] = []
    for chunk in _chunks(list(face_ids)):
        with store.engine.begin() as conn:
            rows = conn.execute(select(Face.collection_id, Face.id, Face.thumbnail, Face.image_id)
                                .where(Face.id.in_(chunk))).all()
            conn.execute(delete(Face).where(Face.id.in_(chunk)))
            image_ids = sorted({int(r[3]) for r in rows})
            left = dict(conn.execute(select(Face.image_id, func.count(Face.id))
                                     .where(Face.image_id.in_(image_ids)).group_by(Face.image_id)).all())
            for image_id in image_ids:
                n = int(left.get(image_id, 0))
                if n == 0:
                    emptied.append(image_id)
                else:
                    conn.execute(update(Image).where(Image.id == image_id).values(face_count=n))
        total.faces += len(rows)
        total += _drop_index_and_thumbs(settings, store, [(int(r[0]), int(r[1])) for r in rows],
                                        [str(r[2]) for r in rows])
    if emptied:
        total += erase_images(settings, store, emptied)
    return total


# Opt-out registry -------------------------------------------------------------------------------
def optout_threshold(settings: Settings, pack: str) -> tuple[float, str]:
    """The strict score at or above which a face counts as an opted-out person's, and why."""
    table = load_table(pack, settings.home / "calibration")
    t = table.threshold_for_fmr(settings.optout_fmr)
    return t, (f"FMR {settings.optout_fmr:g} (FACESEARCH_OPTOUT_FMR) on {table.dataset}, "
               f"pack {pack}; about {table.fnmr_at(t):.1%} of same-person pairs score below it")


def templates(store: Store, pack: str) -> np.ndarray:
    with store.engine.connect() as conn:
        rows = conn.execute(select(OptOutTemplate.embedding, OptOutTemplate.dim)
                            .where(OptOutTemplate.model == pack)).all()
    if not rows:
        return np.zeros((0, 0), np.float32)
    return np.stack([np.frombuffer(r[0], np.float32) for r in rows])


def optouts_without_templates(store: Store, pack: str) -> int:
    with store.engine.connect() as conn:
        total = conn.scalar(select(func.count(OptOut.id))) or 0
        covered = conn.scalar(select(func.count(func.distinct(OptOutTemplate.optout_id)))
                              .where(OptOutTemplate.model == pack)) or 0
    return int(total) - int(covered)


def _matching(vectors: np.ndarray, tmpl: np.ndarray, threshold: float) -> np.ndarray:
    if len(vectors) == 0 or len(tmpl) == 0:
        return np.zeros(len(vectors), bool)
    return np.asarray((np.asarray(vectors, np.float32) @ tmpl.T).max(axis=1) >= threshold)


def drop_optout_faces(settings: Settings, store: Store, col: Collection, images: list[NewImage],
                      result: Any = None, job_id: int | None = None) -> tuple[int, int]:
    """Ingest hook, before rows or index entries are written: remove faces that match an opt-out
    template (and their thumbnails, already written by the workers). An image whose every face was
    removed is not stored at all. Returns (faces dropped, images dropped)."""
    tmpl = templates(store, col.model)
    if len(tmpl) == 0:
        return 0, 0
    threshold, _ = optout_threshold(settings, col.model)
    faces_dropped = 0
    kept: list[NewImage] = []
    dropped_images = 0
    for img in images:
        if not img.faces:
            kept.append(img)
            continue
        hit = _matching(np.stack([f.embedding for f in img.faces]), tmpl, threshold)
        for f, h in zip(img.faces, hit):
            if h:
                (settings.thumbs_dir / f.thumbnail).unlink(missing_ok=True)
        faces_dropped += int(hit.sum())
        img.faces = [f for f, h in zip(img.faces, hit) if not h]
        if img.faces or not hit.any():
            kept.append(img)
        else:
            dropped_images += 1
    images[:] = kept
    if result is not None:
        result.opted_out_faces += faces_dropped
        result.opted_out_images += dropped_images
    if faces_dropped:
        audit_log(settings, store).record(
            OPTOUT_BLOCK, actor="system:ingest", collections=[col.name], model=col.model, threshold=threshold,
            results={"faces_not_stored": faces_dropped, "images_not_stored": dropped_images},
            details={"ingest_job_id": job_id})
    return faces_dropped, dropped_images


def drop_optout_matches(settings: Settings, store: Store, pack: str, dim: int, scores: np.ndarray,
                        ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Search hook: remove candidates that match an opt-out template (faces stored before the opt-out,
    or by an older version) and keep the best k of the rest; padding is id -1."""
    tmpl = templates(store, pack)
    if len(tmpl) and ids.size:
        valid = sorted({int(x) for x in ids.ravel() if x >= 0})
        blocked: set[int] = set()
        if valid:
            vecs = store.embeddings(valid, dim)
            threshold, _ = optout_threshold(settings, pack)
            blocked = {fid for fid, hit in zip(valid, _matching(vecs, tmpl, threshold)) if hit}
        if blocked:
            # Logged for the data-protection officer (these faces should have been erased: `doctor --fix`),
            # never shown to the searcher: the answer must not reveal that someone was hidden.
            audit_log(settings, store).record(
                OPTOUT_HIDE, actor="system:search", model=pack, threshold=threshold,
                results={"faces_hidden": len(blocked), "face_ids": sorted(blocked)})
            keep = ~np.isin(ids, list(blocked))
            new_s = np.full((ids.shape[0], k), -np.inf, np.float32)
            new_i = np.full((ids.shape[0], k), -1, np.int64)
            for q in range(ids.shape[0]):
                s, i = scores[q][keep[q]][:k], ids[q][keep[q]][:k]
                new_s[q, :len(s)], new_i[q, :len(i)] = s, i
            return new_s, new_i
    return scores[:, :k], ids[:, :k]


def _gallery_matches(settings: Settings, store: Store, pack: str, queries: np.ndarray,
                     threshold: float) -> list[tuple[int, float]]:
    """Every face of every collection of `pack` scoring at or above the threshold against any query
    (exhaustive over the rows, not the index, so nothing is missed for want of a top-k)."""
    out: list[tuple[int, float]] = []
    if len(queries) == 0:
        return out
    for col in store.list_collections():
        if col.model != pack:
            continue
        for ids, vecs in store.iter_embeddings(col.id, col.dim):
            best = (vecs @ queries.T).max(axis=1)
            hit = np.flatnonzero(best >= threshold)
            out.extend((int(ids[j]), float(best[j])) for j in hit)
    return out


def _packs_in_use(store: Store) -> list[str]:
    return sorted({c.model for c in store.list_collections()})


def _embed_largest(engine: Any, pack: str, image: np.ndarray, label: str) -> np.ndarray:
    fs = engine.analyze_probe(pack, image)
    if len(fs) == 0:
        raise ProbeError(f"no face found in {label} (model pack {pack}); use a photo where the person's "
                         "face is clearly visible")
    return np.asarray(fs.embeddings[0], np.float32)  # the largest face: the photo is of this person


def add_optout(settings: Settings, store: Store, photos: Sequence[tuple[str, np.ndarray, str]], reference: str,
               *, actor: str, role: str | None = None, ip: str | None = None,
               audit: AuditLog | None = None) -> dict[str, Any]:
    """Register a person's opt-out from their photos ((label, image, sha256) each) and erase every gallery
    face that matches. Templates are made with every pack that has collections, and the default pack."""
    from .models import is_installed
    from .search import Engine

    reference = reference.strip()
    if not reference:
        raise FacesearchError("an opt-out needs a reference (the request's ticket or letter number)")
    if not photos:
        raise FacesearchError("an opt-out needs at least one photo of the person")
    packs = _packs_in_use(store)
    if settings.model not in packs and is_installed(settings.model, settings):
        packs.append(settings.model)
    engine = Engine(settings, store)
    made: dict[str, list[np.ndarray]] = {}
    for pack in packs:  # every photo is checked with every pack before anything is written
        made[pack] = [_embed_largest(engine, pack, img, label) for label, img, _ in photos]
    log = audit or audit_log(settings, store)
    with store.session.begin() as s:
        row = OptOut(reference=reference, created_by=actor, photos=len(photos))
        s.add(row)
        s.flush()
        optout_id = row.id
        from .models import get_entry

        for pack, vecs in made.items():
            info = get_entry(pack).info
            for v in vecs:
                s.add(OptOutTemplate(optout_id=optout_id, model=pack, model_version=info.version, dim=info.dim,
                                     embedding=np.asarray(v, np.float32).tobytes()))
    common: dict[str, Any] = {"actor": actor, "role": role, "ip": ip}
    log.record(OPTOUT_ADD, **common, details={
        "optout_id": optout_id, "reference": reference, "photos": len(photos),
        "photo_sha256": [sha for _, _, sha in photos], "packs": packs,
        "templates": sum(len(v) for v in made.values())})
    erased = Erasure(0, 0, 0)
    per_pack: dict[str, Any] = {}
    for pack, vecs in made.items():
        threshold, reason = optout_threshold(settings, pack)
        hits = _gallery_matches(settings, store, pack, np.stack(vecs), threshold)
        done = erase_faces(settings, store, [fid for fid, _ in hits])
        done.probes += _erase_matching_probes(settings, engine, pack, np.stack(vecs), threshold)
        erased += done
        per_pack[pack] = {"threshold": round(threshold, 6), "threshold_reason": reason, **done.as_dict()}
        log.record(OPTOUT_ERASE, **common, model=pack, threshold=threshold,
                   results={"face_ids": [fid for fid, _ in hits], **done.as_dict()},
                   details={"optout_id": optout_id, "reference": reference, "threshold_reason": reason})
    return {"optout_id": optout_id, "reference": reference, "photos": len(photos), "packs": per_pack,
            "erased": erased.as_dict()}


def _erase_matching_probes(settings: Settings, engine: Any, pack: str, tmpl: np.ndarray, threshold: float) -> int:
    """Kept probes (when FACESEARCH_KEEP_PROBES is on) showing an opted-out person go too."""
    from . import imaging

    n = 0
    for path in _kept_probe_files(settings):
        try:
            image = imaging.decode_image(path.read_bytes(), settings.max_pixels)
            fs = engine.analyze_probe(pack, image)
        except Exception:  # an unreadable kept probe is not evidence of anyone; leave it to retention
            continue
        if len(fs) and _matching(fs.embeddings, tmpl, threshold).any():
            path.unlink(missing_ok=True)
            n += 1
    return n


def list_optouts(store: Store) -> list[dict[str, Any]]:
    """References and counts only, never templates."""
    with store.session() as s:
        rows = s.execute(select(OptOut, func.count(OptOutTemplate.id))
                         .join(OptOutTemplate, OptOutTemplate.optout_id == OptOut.id, isouter=True)
                         .group_by(OptOut.id).order_by(OptOut.id)).all()
    return [{"id": o.id, "reference": o.reference, "photos": o.photos, "templates": int(n),
             "created_at": o.created_at.isoformat() if o.created_at else None, "created_by": o.created_by}
            for o, n in rows]


# Data-subject access ----------------------------------------------------------------------------
def subject_report(settings: Settings, store: Store, image: np.ndarray, sha: str, *, actor: str,
                   role: str | None = None, ip: str | None = None, audit: AuditLog | None = None) -> dict[str, Any]:
    """Every image and collection holding a face that matches the photo at the strict opt-out
    threshold: what an operator needs to answer an access request. Audit-logged."""
    from .search import Engine

    engine = Engine(settings, store)
    matches: list[dict[str, Any]] = []
    thresholds: dict[str, Any] = {}
    for pack in _packs_in_use(store):
        try:
            q = _embed_largest(engine, pack, image, "the photo")
        except ProbeError:
            thresholds[pack] = {"error": "no face found with this pack"}
            continue
        threshold, reason = optout_threshold(settings, pack)
        thresholds[pack] = {"score": round(threshold, 6), "reason": reason}
        table = load_table(pack, settings.home / "calibration")
        hits = _gallery_matches(settings, store, pack, q[None, :], threshold)
        details = store.face_details([fid for fid, _ in hits])
        for fid, score in sorted(hits, key=lambda h: -h[1]):
            d = details.get(fid)
            if d is None:
                continue
            matches.append({"face_id": fid, "score": round(score, 6), "fmr": float(table.fmr_at(score)),
                            "model": pack, "collection": d["collection"], "image_id": d["image_id"],
                            "path": d["path"], "source_url": d["source_url"], "box": d["box"]})
    if thresholds and all("error" in v for v in thresholds.values()):
        raise ProbeError("no face found in the photo with any model pack")
    images = sorted({m["image_id"] for m in matches})
    names: list[str] = sorted({m["collection"] for m in matches})
    report = {"probe_sha256": sha, "thresholds": thresholds, "matches": matches, "images": len(images),
              "collections": names}
    (audit or audit_log(settings, store)).record(
        SUBJECT_REPORT, actor=actor, role=role, ip=ip, probe_sha256=sha, collections=names,
        results={"face_ids": [m["face_id"] for m in matches], "image_ids": images})
    return report


# Retention --------------------------------------------------------------------------------------
def _utc(value: datetime | None) -> datetime:
    value = value or datetime.now(timezone.utc)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def purge_kept_probes(settings: Settings, now: datetime | None = None) -> int:
    root = settings.home / "probes"
    if not root.is_dir():
        return 0
    cutoff = (_utc(now) - timedelta(days=settings.probe_retention_days)).strftime("%Y-%m-%d")
    removed = 0
    for day in root.iterdir():
        if day.is_dir() and day.name < cutoff:
            for f in day.iterdir():
                f.unlink(missing_ok=True)
                removed += 1
            day.rmdir()
    return removed


def purge(settings: Settings, store: Store, now: datetime | None = None, *, actor: str = "system:purge",
          audit: AuditLog | None = None) -> dict[str, Any]:
    """Erase every image older than its collection's retention period (by ingest time), as thoroughly as
    any other erasure, and kept probes past theirs. One audit entry per run, listing each collection."""
    now = _utc(now)
    log = audit or audit_log(settings, store)
    per: list[dict[str, Any]] = []
    total = Erasure(0, 0, 0)
    for col in store.list_collections():
        if col.retention_days is None:  # keep until deleted
            continue
        cutoff = now - timedelta(days=col.retention_days)
        with store.engine.connect() as conn:
            ids = [int(x) for x in conn.scalars(select(Image.id).where(
                Image.collection_id == col.id, Image.ingested_at < cutoff))]
        done = erase_images(settings, store, ids) if ids else Erasure(0, 0, 0)
        total += done
        per.append({"collection": col.name, "retention_days": col.retention_days,
                    "cutoff": cutoff.isoformat(), "image_ids": ids, **done.as_dict()})
    probes = purge_kept_probes(settings, now)
    report = {"now": now.isoformat(), "collections": per, "erased": total.as_dict(), "expired_probes": probes}
    log.record(PURGE, actor=actor, collections=[p["collection"] for p in per if p["images"]],
               results={"erased": total.as_dict(), "expired_probes": probes,
                        "per_collection": [{k: v for k, v in p.items()} for p in per if p["images"]]},
               details={"now": report["now"]})
    return report


# Doctor -----------------------------------------------------------------------------------------
CHECKS = ("index_ids_without_row", "rows_without_index_entry", "thumbnails_without_face", "faces_without_image",
          "faces_without_thumbnail", "index_files_without_collection", "uploads_without_image",
          "faces_matching_optout")


def doctor(settings: Settings, store: Store, fix: bool = False) -> dict[str, Any]:
    """Scan for orphans in every direction; with fix, repair what can be repaired from the rows."""
    found: dict[str, list[Any]] = {k: [] for k in CHECKS}
    cols = store.collections_by_id()
    for col in cols.values():
        index = open_index(settings.index_dir, col.id, col.dim)
        in_index = index.ids()
        rows = store.face_ids(col.id)
        extra = np.setdiff1d(in_index, rows)
        missing = np.setdiff1d(rows, in_index)
        found["index_ids_without_row"].extend(f"{col.name}:{int(i)}" for i in extra)
        found["rows_without_index_entry"].extend(f"{col.name}:{int(i)}" for i in missing)
        if fix and (len(extra) or len(missing)):
            from .index import reconcile

            reconcile(index, store, col.id)
            index.save()
    if settings.index_dir.is_dir():
        for f in sorted(settings.index_dir.iterdir()):
            m = _INDEX_FILE.match(f.name)
            if m and int(m.group(1)) not in cols:
                found["index_files_without_collection"].append(f.name)
                if fix:
                    f.unlink()
    with store.engine.connect() as conn:
        thumbs = {str(t) for t in conn.scalars(select(Face.thumbnail))}
        orphan_faces = [int(x) for x in conn.scalars(
            select(Face.id).outerjoin(Image, Image.id == Face.image_id).where(Image.id.is_(None)))]
        paths = {str(p) for p in conn.scalars(select(Image.path).where(Image.path.is_not(None)))}
    found["faces_without_image"].extend(orphan_faces)
    if fix and orphan_faces:
        erase_faces(settings, store, orphan_faces)
    if settings.thumbs_dir.is_dir():
        for dirpath, dirnames, filenames in os.walk(settings.thumbs_dir):
            dirnames[:] = [d for d in dirnames if d != ".tmp"]
            for name in filenames:
                rel = Path(dirpath, name).relative_to(settings.thumbs_dir).as_posix()
                if rel not in thumbs:
                    found["thumbnails_without_face"].append(rel)
                    if fix:
                        Path(dirpath, name).unlink(missing_ok=True)
    found["faces_without_thumbnail"].extend(t for t in sorted(thumbs) if not (settings.thumbs_dir / t).is_file())
    uploads = settings.home / "uploads"
    if uploads.is_dir():
        for f in sorted(uploads.glob("*/*")):
            if f.is_file() and str(f) not in paths and str(f.resolve()) not in paths:
                found["uploads_without_image"].append(str(f))
                if fix:
                    f.unlink()
    for pack in _packs_in_use(store):
        tmpl = templates(store, pack)
        if len(tmpl):
            threshold, _ = optout_threshold(settings, pack)
            hits = [fid for fid, _ in _gallery_matches(settings, store, pack, tmpl, threshold)]
            found["faces_matching_optout"].extend(hits)
            if fix and hits:
                erase_faces(settings, store, hits)
    counts = {k: len(v) for k, v in found.items()}
    return {"ok": not any(counts.values()), "orphans": sum(counts.values()), "counts": counts,
            "examples": {k: v[:20] for k, v in found.items() if v}, "fixed": fix,
            "collections": len(cols), "faces": sum(store.face_id_stats(c)[0] for c in cols)}
