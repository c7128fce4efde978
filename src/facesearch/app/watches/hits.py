"""A watch's hits as its owner sees them (the hits page, `watch hits`, the count in the web header), and the
first step of their review: proposing a hit as the probe's person, which a second examiner then confirms or
rejects like any search candidate (`review.decide`).

Reading hits shows faces and images: it is logged (`watch_view`), the faces count as seen by the reader (their
thumbnails may then be fetched), and for the owner the hits are no longer unseen. Owners read their watches'
hits; auditors every watch's. To anyone else a watch does not exist."""

from __future__ import annotations

from ...calibration.wording import decision_text
from ...services.search_results import VideoTime
from ...store import watches as rows
from ...store.watch_tables import Watch, WatchHit
from ...vocabulary import Action
from ..auditing import record
from ..context import Actor, Context
from ..errors import NotFound
from ..review import ProposalInfo, proposals_for, propose, status_of
from ..roles import allowed
from ..when import iso, utc
from .manage import end_lapsed
from .results import HitImage, HitReview
from .results import WatchHit as HitAnswer


def _watches(ctx: Context, actor: Actor, watch_id: int | None) -> list[Watch]:
    if watch_id is not None:
        w = rows.get_watch(ctx.store, watch_id)
        if w is None or (actor.role != "auditor" and w.owner != actor.name):
            raise NotFound(f"no watch {watch_id}")
        return [w]
    return rows.list_watches(ctx.store, owner=None if actor.role == "auditor" else actor.name)


def _reviews(ctx: Context, watches: list[Watch], found: list[WatchHit]) -> list[HitReview]:
    by_id = {w.id: w for w in watches}
    details = ctx.store.face_details([h.face_id for h in found])
    history = proposals_for(ctx, [h.lead_id for h in found if h.lead_id is not None])
    out: list[HitReview] = []
    for h in found:
        d = details.get(h.face_id)
        if d is None or h.lead_id is None:  # erased since (its row goes with it a moment later)
            continue
        # A face from a video carries its time and track (the store's `video`), as a search candidate does.
        video = VideoTime(**d["video"]) if d.get("video") else None
        answer = HitAnswer(
            watch=h.watch_id,
            case=by_id[h.watch_id].case_ref,
            face_id=h.face_id,
            image=HitImage(id=h.image_id, path=d["path"], source_url=d["source_url"]),
            score=h.score,
            decision=decision_text(True),
            fmr=h.fmr,
            ingest_job=h.ingest_job,
            at=iso(h.at) or "",
            video=video,
        )
        status = status_of(history.get((h.lead_id, 0, h.face_id), []))
        out.append(HitReview(hit=answer, lead_id=h.lead_id, status=status, thumbnail=d["thumbnail"]))
    return out


@allowed("examiner", "auditor")
def hit_reviews(ctx: Context, actor: Actor, watch_id: int | None = None) -> list[HitReview]:
    """The hits of the actor's watches (one watch's with `watch_id`; every watch's for an auditor), oldest
    first, each with its lead and where its review stands. Logged as a view; the owner has now seen them."""
    end_lapsed(ctx)
    watches = _watches(ctx, actor, watch_id)
    found = rows.hits(ctx.store, [w.id for w in watches])
    reviews = _reviews(ctx, watches, found)
    if reviews:
        record(
            ctx,
            actor,
            Action.WATCH_VIEW,
            results={"watches": sorted({r.hit.watch for r in reviews}), "face_ids": [r.hit.face_id for r in reviews]},
            details={"watch": watch_id},
        )
        ctx.seen.add(actor.name, "face", [r.hit.face_id for r in reviews])
        ctx.seen.add(actor.name, "image", [r.hit.image.id for r in reviews])
        own = {w.id for w in watches if w.owner == actor.name}
        rows.mark_seen(ctx.store, [h.id for h in found if h.watch_id in own], utc(ctx.now()))
    return reviews


@allowed("examiner", "auditor")
def list_hits(ctx: Context, actor: Actor, watch_id: int | None = None) -> list[HitAnswer]:
    """The hits as `watch hits --json` prints them (see `hit_reviews`)."""
    return [r.hit for r in hit_reviews(ctx, actor, watch_id)]


@allowed("examiner")
def unseen_count(ctx: Context, actor: Actor) -> int:
    """How many hits of the actor's watches they have not seen: the count in the web header. Not logged: a
    number shows nobody."""
    return rows.unseen_count(ctx.store, actor.name)


@allowed("examiner")
def propose_hit(
    ctx: Context, actor: Actor, watch_id: int, face_id: int, note: str, reviewer: str | None = None
) -> ProposalInfo:
    """Propose that a hit of one's watch is the probe's person: a proposal on the hit's lead, which a different
    examiner (the named reviewer, when one is given) confirms or rejects."""
    w = rows.get_watch(ctx.store, watch_id)
    if w is None or w.owner != actor.name:
        raise NotFound(f"no watch {watch_id}")
    hit = rows.hit_of(ctx.store, watch_id, face_id)
    if hit is None or hit.lead_id is None:
        raise NotFound(f"face {face_id} is not a hit of watch {watch_id}")
    return propose(ctx, actor, hit.lead_id, face_id, note, 0, reviewer=reviewer)
