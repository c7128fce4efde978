"""The opt-out registry: a person's face templates (never their photos), used to erase their faces now,
keep them out of later ingests (before anything is written) and hide any left over from every search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from ..calibration.tables import CalibrationTable, load_table
from ..calibration.wording import fmr_text
from ..config import Settings
from ..errors import FacesearchError, ProbeError
from ..models import get_entry, is_installed
from ..pipeline import imaging
from ..pipeline.video.formats import is_video
from ..services.clips import Clip
from ..services.engine import Engine
from ..services.hiding import Hidden, HideFilter, matching
from ..services.uploads import Photo, decode
from ..store import NewImage, Store, videos
from ..store import optouts as registry
from ..store.optouts import optouts_without_templates as optouts_without_templates
from ..store.optouts import templates as templates
from ..store.schema import Collection
from ..vocabulary import Action
from .auditing import record
from .context import Actor, Context, system_actor
from .erasure import Erasure, ErasureCounts, erase_faces, kept_probe_files
from .errors import NotFound
from .optout_reach import person_reach
from .roles import allowed

if TYPE_CHECKING:
    from ..store.schema import Collection


class OptOutPack(ErasureCounts):
    """One model pack's part of an opt-out: the thresholds it used, what it erased, how likely a miss is."""

    threshold: float = Field(description="Strict threshold: faces at or above it were erased.")
    threshold_reason: str
    review_threshold: float = Field(
        description="Looser threshold: faces from it up to the strict one are listed in `to_review`, not erased."
    )
    review_threshold_reason: str
    to_review: int = Field(description="How many faces of this pack are listed in `to_review`.")
    miss_rate: float = Field(
        description="The pack table's false non-match rate at the strict threshold: the "
        "share of photos of the same person that score below it."
    )
    miss_text: str = Field(description="`miss_rate` in words.")


class OptOutReviewFace(BaseModel):
    """A gallery face that may be the opted-out person's (between the review and the strict threshold)."""

    face_id: int
    image_id: int
    collection: str
    model: str
    path: str | None
    source_url: str | None
    score: float = Field(description="Best score against the opt-out photos (or, `via` person, the erased faces).")
    fmr: float
    fmr_text: str
    via: str | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="`person`: a face of the same person (by clustering) as an erased face, compared with the "
        "erased faces and below the strict threshold: listed, never erased on the grouping alone.",
    )


class OptOutResult(BaseModel):
    """A registered opt-out: what it erased now, per pack and in all, and the faces left for an operator."""

    optout_id: int
    reference: str
    photos: int
    packs: dict[str, OptOutPack] = Field(
        description="Per model pack: thresholds used, what was erased, how likely a miss is."
    )
    erased: ErasureCounts
    to_review: list[OptOutReviewFace] = Field(
        description="Faces between the review and the strict threshold, "
        "best first: NOT erased; an operator decides (`facesearch optout "
        "erase-face`, or DELETE /api/v1/images/{id})."
    )


class OptOutFaceErased(BaseModel):
    """One face an operator erased as an opted-out person's, and whether its template joined the opt-out."""

    face_id: int
    image_id: int
    collection: str
    optout_id: int | None
    template_added: bool
    erased: ErasureCounts


class OptOutInfo(BaseModel):
    """A registered opt-out as listed: its reference and counts, never its templates."""

    id: int
    reference: str
    photos: int
    templates: int
    created_at: str | None
    created_by: str | None


def optout_threshold(settings: Settings, pack: str) -> tuple[float, str]:
    """The strict score at or above which a face counts as an opted-out person's, and why."""
    table = load_table(pack, settings.home / "calibration")
    t = table.threshold_for_fmr(settings.optout_fmr)
    return t, (
        f"FMR {settings.optout_fmr:g} (FACESEARCH_OPTOUT_FMR) on {table.dataset}, "
        f"pack {pack}; about {table.fnmr_at(t):.1%} of same-person pairs score below it"
    )


def review_threshold(settings: Settings, pack: str) -> tuple[float, str]:
    """The looser score from which a face is shown to an operator as perhaps the opted-out person's (never
    erased automatically), and why. Never above the strict threshold."""
    table = load_table(pack, settings.home / "calibration")
    strict, _ = optout_threshold(settings, pack)
    t = min(table.threshold_for_fmr(settings.optout_review_fmr), strict)
    return t, (f"FMR {settings.optout_review_fmr:g} (FACESEARCH_OPTOUT_REVIEW_FMR) on {table.dataset}, pack {pack}")


def miss_text(fnmr: float) -> str:
    """How likely an opt-out misses a photo of the person, in words."""
    share = f"about {fnmr:.0%}" if fnmr >= 0.095 else f"about {fnmr:.1%}"
    if fnmr < 0.0005:
        share = "fewer than 0.1%"
    return f"{share} of photos of the same person score below this threshold and are not erased automatically"


def drop_optout_faces(
    ctx: Context, col: Collection, images: list[NewImage], result: Any = None, job_id: int | None = None
) -> tuple[int, int]:
    """Ingest hook, before rows or index entries are written: remove faces that match an opt-out
    template (and their thumbnails, already written by the workers). An image whose every face was
    removed is not stored at all. Returns (faces dropped, images dropped). Video ingest hands each track
    as an image of its own faces, and keeps out a track any of whose faces went (a track is one person)."""
    settings = ctx.settings
    tmpl = templates(ctx.store, col.model)
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
        hit = matching(np.stack([f.embedding for f in img.faces]), tmpl, threshold)
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
        record(
            ctx,
            system_actor("ingest"),
            Action.OPTOUT_BLOCK,
            collections=[col.name],
            model=col.model,
            threshold=threshold,
            results={"faces_not_stored": faces_dropped, "images_not_stored": dropped_images},
            details={"ingest_job_id": job_id},
        )
    return faces_dropped, dropped_images


def hide_opted_out(ctx: Context) -> HideFilter:
    """The search filter, built before the search: the opt-out templates of every pack in use, with each
    pack's strict threshold. The engine compares its candidates with them in memory (faces stored before the
    opt-out, or by an older version), denies the matching ones inside the index and searches again, so the
    list keeps its length; `record_hidden` then logs what it hid."""
    loaded = {pack: templates(ctx.store, pack) for pack in packs_in_use(ctx.store)}
    kept = {pack: tmpl for pack, tmpl in loaded.items() if len(tmpl)}
    return HideFilter(kept, {pack: optout_threshold(ctx.settings, pack)[0] for pack in kept})


def opted_out_faces(ctx: Context, face_ids: Sequence[int], view: str) -> set[int]:
    """Of these gallery faces, those a search would hide (matching an opt-out template at the strict
    threshold of their pack): what browsing by person or by id never shows either. What it hid is logged
    like a search's (`optout_hide`), never shown to the caller."""
    store = ctx.store
    cols = {c.name: c for c in store.list_collections()}
    loaded = {pack: templates(store, pack) for pack in {c.model for c in cols.values()}}
    if not face_ids or not any(len(t) for t in loaded.values()):
        return set()  # no opt-out for any pack in use: nothing to compare
    details = store.face_details([int(f) for f in face_ids])
    by_col: dict[str, list[int]] = {}
    for fid, d in details.items():
        by_col.setdefault(d["collection"], []).append(int(fid))
    hidden: set[int] = set()
    for name, fids in by_col.items():
        col = cols.get(name)
        if col is None:
            continue
        tmpl = loaded[col.model]
        if not len(tmpl):
            continue
        threshold, _ = optout_threshold(ctx.settings, col.model)
        hit = matching(store.embeddings(fids, col.dim), tmpl, threshold)
        found = [f for f, h in zip(fids, hit) if h]
        if found:
            hidden.update(found)
            record(
                ctx,
                system_actor("people"),
                Action.OPTOUT_HIDE,
                model=col.model,
                threshold=threshold,
                results={"faces_hidden": len(found), "face_ids": found},
                details={"view": view},
            )
    return hidden


def record_hidden(ctx: Context, hide: HideFilter, hidden: Sequence[Hidden]) -> None:
    """One entry per round of a search that hid faces. Logged for the data-protection officer (these faces
    should have been erased: `doctor --fix`), never shown to the searcher: the answer must not reveal that
    someone was hidden."""
    for h in hidden:
        record(
            ctx,
            system_actor("search"),
            Action.OPTOUT_HIDE,
            model=h.pack,
            threshold=hide.thresholds[h.pack],
            results={"faces_hidden": len(h.face_ids), "face_ids": list(h.face_ids)},
        )


def gallery_matches(store: Store, pack: str, queries: np.ndarray, threshold: float) -> list[tuple[int, float]]:
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


def packs_in_use(store: Store) -> list[str]:
    return sorted({c.model for c in store.list_collections()})


def embed_largest(engine: Engine, pack: str, image: np.ndarray, label: str) -> np.ndarray:
    fs = engine.analyze_probe(pack, image)
    if len(fs) == 0:
        raise ProbeError(
            f"no face found in {label} (model pack {pack}); use a photo where the person's face is clearly visible"
        )
    return np.asarray(fs.embeddings[0], np.float32)  # the largest face: the photo is of this person


def _template(pack: str, vector: np.ndarray, dim: int | None = None) -> registry.Template:
    info = get_entry(pack).info
    return registry.Template(pack, info.version, info.dim if dim is None else dim, vector)


@allowed("operator", "admin")
def add_optout(ctx: Context, actor: Actor, photos: Sequence[Photo], reference: str) -> OptOutResult:
    """Register a person's opt-out from their photos and erase every gallery face that matches any of them
    at the strict threshold. Faces between the looser review threshold and the strict one are returned as
    `to_review` (not erased: an operator decides, `erase_face`). The opt-out reaches the person: the other
    faces of the people (by clustering) of the erased faces are compared with the erased faces, erased at the
    same strict threshold and otherwise listed in `to_review` (`via: person`), never erased on the grouping
    alone (`person_reach`). Each pack's answer says how likely a miss
    is (the table's FNMR at the strict threshold). Templates are made with every pack that has
    collections, and the default pack."""
    settings, store = ctx.settings, ctx.store
    reference = reference.strip()
    if not reference:
        raise FacesearchError("an opt-out needs a reference (the request's ticket or letter number)")
    if not photos:
        raise FacesearchError("an opt-out needs at least one photo of the person")
    loaded = [decode(settings, p) for p in photos]
    packs = packs_in_use(store)
    if settings.model not in packs and is_installed(settings.model, settings):
        packs.append(settings.model)
    made: dict[str, list[np.ndarray]] = {}
    with ctx.engine_lock:
        for pack in packs:  # every photo is checked with every pack before anything is written
            made[pack] = [embed_largest(ctx.engine, pack, d.image, d.label) for d in loaded]
    optout_id = registry.add_optout(
        store, reference, actor.name, len(photos), [_template(pack, v) for pack, vecs in made.items() for v in vecs]
    )
    record(
        ctx,
        actor,
        Action.OPTOUT_ADD,
        details={
            "optout_id": optout_id,
            "reference": reference,
            "photos": len(photos),
            "photo_sha256": [d.sha256 for d in loaded],
            "packs": packs,
            "templates": sum(len(v) for v in made.values()),
        },
    )
    erased = Erasure(0, 0, 0)
    per_pack: dict[str, OptOutPack] = {}
    to_review: list[OptOutReviewFace] = []
    with ctx.engine_lock:  # never erase under a running search
        for pack, vecs in made.items():
            table = load_table(pack, settings.home / "calibration")
            threshold, reason = optout_threshold(settings, pack)
            looser, looser_reason = review_threshold(settings, pack)
            found = gallery_matches(store, pack, np.stack(vecs), looser)
            hits = [(fid, score) for fid, score in found if score >= threshold]
            # The opt-out reaches the person: faces grouped with the matched ones, compared with them.
            reach, reach_review = person_reach(store, pack, [fid for fid, _ in hits], threshold)
            hits.extend(reach)
            # A video's track is one person: one face of it matching erases the whole track.
            erased_ids = videos.track_mates(store, [fid for fid, _ in hits])
            gone = set(erased_ids)
            review = _review_rows(store, table, pack, [(f, sc) for f, sc in found if sc < threshold and f not in gone])
            listed = {r.face_id for r in review}
            via_person = [(f, sc) for f, sc in reach_review if f not in gone and f not in listed]
            review.extend(_review_rows(store, table, pack, via_person, via="person"))
            done = erase_faces(settings, store, erased_ids)
            done.probes += _erase_matching_probes(settings, ctx.engine, pack, np.stack(vecs), threshold)
            erased += done
            to_review.extend(review)
            fnmr = table.fnmr_at(threshold)
            per_pack[pack] = OptOutPack(
                threshold=round(threshold, 6),
                threshold_reason=reason,
                **done.as_dict(),
                review_threshold=round(looser, 6),
                review_threshold_reason=looser_reason,
                to_review=len(review),
                miss_rate=round(fnmr, 6),
                miss_text=miss_text(fnmr),
            )
            record(
                ctx,
                actor,
                Action.OPTOUT_ERASE,
                model=pack,
                threshold=threshold,
                results={
                    "face_ids": erased_ids,
                    **done.as_dict(),
                    "to_review_face_ids": [r.face_id for r in review],
                    "person_reach_face_ids": [fid for fid, _ in reach],
                },
                details={
                    "optout_id": optout_id,
                    "reference": reference,
                    "threshold_reason": reason,
                    "review_threshold": looser,
                    "miss_rate": fnmr,
                },
            )
        for c in store.list_collections():  # cached indexes pick up the erasure
            ctx.engine.forget_index(c.id)
    return OptOutResult(
        optout_id=optout_id,
        reference=reference,
        photos=len(photos),
        packs=per_pack,
        erased=erased.counts(),
        to_review=to_review,
    )


def _review_rows(
    store: Store, table: CalibrationTable, pack: str, found: list[tuple[int, float]], via: str | None = None
) -> list[OptOutReviewFace]:
    """The faces an operator should look at, best score first: where they are and how strong the match is."""
    details = store.face_details([fid for fid, _ in found])
    rows: list[OptOutReviewFace] = []
    for fid, score in sorted(found, key=lambda h: -h[1]):
        d = details.get(fid)
        if d is None:
            continue
        fmr = float(table.fmr_at(score))
        rows.append(
            OptOutReviewFace(
                face_id=fid,
                image_id=d["image_id"],
                collection=d["collection"],
                model=pack,
                path=d["path"],
                source_url=d["source_url"],
                score=round(score, 6),
                fmr=fmr,
                fmr_text=fmr_text(fmr, table.fmr_floor),
                via=via,
            )
        )
    return rows


@allowed("operator", "admin")
def erase_face(ctx: Context, actor: Actor, face_id: int, optout_id: int | None = None) -> OptOutFaceErased:
    """Erase one gallery face an operator judged to be an opted-out person's (a face the opt-out listed to
    review), with the other faces of its track when it comes from a video (a track is one person). The image
    goes too when no other face is left on it. With `optout_id`, the face's template is
    added to that opt-out, so a later ingest of the same photo keeps it out and searches hide it.
    Audit-logged as an opt-out erasure."""
    store = ctx.store
    details = store.face_details([face_id]).get(face_id)
    if details is None:
        raise NotFound(f"no face with id {face_id}")
    col = next((c for c in store.list_collections() if c.name == details["collection"]), None)
    reference = None
    if optout_id is not None:
        reference = registry.optout_reference(store, optout_id)
        if reference is None:
            raise NotFound(f"no opt-out with id {optout_id}")
    with ctx.engine_lock:
        if optout_id is not None and col is not None:
            vec = store.embeddings([face_id], col.dim)[0]
            registry.add_template(store, optout_id, _template(col.model, vec, dim=col.dim))
        erased_ids = videos.track_mates(store, [face_id])
        done = erase_faces(ctx.settings, store, erased_ids)
        if col is not None:
            ctx.engine.forget_index(col.id)
    record(
        ctx,
        actor,
        Action.OPTOUT_ERASE,
        collections=[details["collection"]],
        model=col.model if col else None,
        results={"face_ids": erased_ids, **done.as_dict()},
        details={
            "optout_id": optout_id,
            "reference": reference,
            "decided_by": "operator review",
            "image_id": details["image_id"],
            "template_added": optout_id is not None,
        },
    )
    return OptOutFaceErased(
        face_id=face_id,
        image_id=details["image_id"],
        collection=details["collection"],
        optout_id=optout_id,
        template_added=optout_id is not None and col is not None,
        erased=done.counts(),
    )


def _erase_matching_probes(settings: Settings, engine: Engine, pack: str, tmpl: np.ndarray, threshold: float) -> int:
    """Kept probes (when FACESEARCH_KEEP_PROBES is on) showing an opted-out person go too: a photo, or a clip
    any of whose tracks is them."""
    n = 0
    for path in kept_probe_files(settings):
        try:
            if is_video(path):
                fs = engine.analyze_clip(pack, Clip(path, path.stem, path.name)).faces
            else:
                image = imaging.decode_image(path.read_bytes(), settings.max_pixels, settings.max_decode_bytes)
                fs = engine.analyze_probe(pack, image)
        except Exception:  # an unreadable kept probe is not evidence of anyone; leave it to retention
            continue
        if len(fs) and matching(fs.embeddings, tmpl, threshold).any():
            path.unlink(missing_ok=True)
            n += 1
    return n


@allowed("operator", "admin")
def list_optouts(ctx: Context, actor: Actor) -> list[OptOutInfo]:
    """References and counts only, never templates."""
    return [
        OptOutInfo(
            id=o.id,
            reference=o.reference,
            photos=o.photos,
            templates=o.templates,
            created_at=o.created_at.isoformat() if o.created_at else None,
            created_by=o.created_by,
        )
        for o in registry.list_optouts(ctx.store)
    ]
