"""Searches by person: `together` ("who appears with whom") and `search_people` (a face search whose
candidates are also ranked as people).

Both are searches like any other: the search gate (case reference, allowed purpose, kill switch, limits),
only the collections searched, never a person with a face that matches an opt-out, and an audit entry
whatever the outcome (`together` is listed in case reports)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel

from ...services.hiding import matching
from ...services.people_upkeep import tidy
from ...services.uploads import Photo
from ...store import Store, videos
from ...store import people as rows
from ...vocabulary import Action
from ..auditing import record, refusal_recorded
from ..context import Actor, Context
from ..errors import NotFound
from ..optout import optout_threshold
from ..optout import templates as optout_templates
from ..policy import search_gate
from ..roles import allowed
from ..searching import Lead, LeadFace, SearchAnswer, SearchRequest, search
from . import lookup
from .results import ImageRef, TogetherMoment, TogetherPerson, TogetherResult


class PersonLead(BaseModel):
    """A person among a search's candidates: once, at their best face's score."""

    person: int
    name: str | None
    score: float
    fmr: float
    best_face: Lead  # the search's candidate, as the search gave it
    images: list[ImageRef]  # the person's photos in the searched collections


class PeopleSearch(SearchAnswer[LeadFace]):
    """A search, as `searching.search` answered it, and its candidates ranked as people."""

    people: list[PersonLead]


def _opted_out_people(ctx: Context, model: str, people: Iterable[int], members: dict[int, list[int]]) -> set[int]:
    """People with any face that matches an opt-out template (faces stored before the opt-out, or left
    for review): never returned by a search."""
    store = ctx.store
    tmpl = optout_templates(store, model)
    wanted = [int(p) for p in people]
    if not len(tmpl) or not wanted:
        return set()
    dim = rows.pack_dim(store, model)
    threshold, _ = optout_threshold(ctx.settings, model)
    out: set[int] = set()
    for pid in wanted:
        fids = members.get(pid, [])
        if fids and dim and matching(store.embeddings(fids, dim), tmpl, threshold).any():
            out.add(pid)
    return out


@dataclass(frozen=True)
class _Moment:
    image_id: int
    start: float
    end: float
    track: int
    other_track: int


def _seen_together(store: Store, face_ids: list[int], person_id: int) -> dict[int, list[_Moment]]:
    """Person id -> the moments of these video faces' tracks at which they were on screen in the same frame
    (both tracks followed: the overlap of their spans), for every person but this one."""
    mine = set(videos.tracks_of_faces(store, face_ids).values())
    if not mine:
        return {}
    company = videos.seen_together(store, mine)
    own = videos.tracks(store, mine)
    others = {o.id: o for found in company.values() for o in found}
    faces = videos.faces_of_tracks(store, others)
    owner = rows.persons_of(store, (f for fs in faces.values() for f in fs))
    out: dict[int, dict[tuple[int, int, int], _Moment]] = {}
    for tid, found in company.items():
        a = own[tid]
        for b in found:
            for pid in {owner[f] for f in faces.get(b.id, []) if f in owner} - {person_id}:
                key = (a.image_id, a.track, b.track)
                moment = _Moment(a.image_id, max(a.start, b.start), min(a.end, b.end), a.track, b.track)
                out.setdefault(pid, {})[key] = moment
    return {pid: sorted(ms.values(), key=lambda m: (m.image_id, m.start)) for pid, ms in out.items()}


def _together_person(
    pid: int, name: str | None, images: set[int], moments: list[_Moment], paths: dict[int, str | None]
) -> TogetherPerson:
    return TogetherPerson(
        person=pid,
        name=name,
        photos=len(images),
        images=[ImageRef(id=i, path=paths.get(i)) for i in sorted(images)],
        videos=len({m.image_id for m in moments}) if moments else None,
        moments=[
            TogetherMoment(
                image=ImageRef(id=m.image_id, path=paths.get(m.image_id)),
                start=m.start,
                end=m.end,
                track=m.track,
                other_track=m.other_track,
            )
            for m in moments
        ]
        if moments
        else None,
    )


@allowed("examiner")
def together(
    ctx: Context,
    actor: Actor,
    person_id: int,
    *,
    case_ref: str | None,
    purpose: str | None,
    collections: list[str] | None = None,
) -> TogetherResult:
    """The other people in the same photos as this person: how many photos they share, and the photos; and
    in videos, those on screen in the same frame (a video counts only so: being in one video at different times
    is not being together), with the moments (most shared first). A search: case reference, allowed purpose,
    kill switch and limits first; only the collections the caller may search; opted-out people never;
    audit-logged whatever the outcome."""
    store = ctx.store
    with refusal_recorded(
        ctx,
        actor,
        Action.PEOPLE_TOGETHER,
        case_ref=case_ref,
        purpose=purpose,
        collections=collections,
        details={"person": person_id},
    ):
        case, why = search_gate(ctx, actor, case_ref, purpose)
        tidy(store)
        p = lookup.person(store, person_id)
        cols = [c for c in lookup.collections(store, collections) if c.model == p.model]
        members = rows.members(store, p.model)
        if p.id in _opted_out_people(ctx, p.model, [p.id], members):
            raise NotFound(f"no person with id {p.id}")
        photos = rows.photos_of(store, members.get(p.id, []), [c.id for c in cols])
        shared = rows.others_in_photos(store, photos, p.id)
        on_screen = _seen_together(store, rows.video_faces_of(store, members.get(p.id, []), [c.id for c in cols]), p.id)
        hidden = _opted_out_people(ctx, p.model, set(shared) | set(on_screen), members)
        paths = rows.image_paths(
            store, {i for s in shared.values() for i in s} | {m.image_id for ms in on_screen.values() for m in ms}
        )
        names = rows.names_of(store, set(shared) | set(on_screen))
    found = sorted(
        (
            _together_person(pid, names.get(pid), shared.get(pid, set()), on_screen.get(pid, []), paths)
            for pid in set(shared) | set(on_screen)
            if pid not in hidden
        ),
        key=lambda d: (-(d.photos + (d.videos or 0)), d.person),
    )
    entry = record(
        ctx,
        actor,
        Action.PEOPLE_TOGETHER,
        outcome="ok" if found else "no_candidates",
        case_ref=case,
        purpose=why,
        collections=[c.name for c in cols],
        model=p.model,
        results={
            "person": p.id,
            "photos": len(photos),
            "together": [
                {
                    "person": d.person,
                    "photos": d.photos,
                    "image_ids": [i.id for i in d.images],
                    **(
                        {"videos": d.videos, "video_ids": sorted({m.image.id for m in d.moments or []})}
                        if d.videos
                        else {}
                    ),
                }
                for d in found
            ],
        },
        details={"searched": [c.name for c in cols], "person_name": p.name},
    )
    ctx.seen.add(actor.name, "image", [i.id for d in found for i in d.images])
    ctx.seen.add(actor.name, "image", [m.image.id for d in found for m in d.moments or []])
    return TogetherResult(
        person=p.id,
        name=p.name,
        together=found,
        photos=len(photos),
        together_id=entry,
        case_ref=case,
        purpose=why,
    )


@allowed("examiner")
def search_people(ctx: Context, actor: Actor, probe: Photo, req: SearchRequest) -> PeopleSearch:
    """A search (`searching.search`: same gate, same audit entry) whose candidates are also ranked as people:
    each person once, at their best face's score, with that face and the person's photos in the searched
    collections. The photos shown beyond the candidates are logged as a view of the search's people."""
    result = search(ctx, actor, probe, req)
    leads = [m for f in result.faces for m in f.matches]
    searched = set(result.collections)
    store = ctx.store
    tidy(store)
    owner = rows.persons_of(store, [m.face_id for m in leads])
    best: dict[int, Lead] = {}
    for m in sorted(leads, key=lambda m: -m.score):
        pid = owner.get(m.face_id)
        if pid is not None and pid not in best:
            best[int(pid)] = m
    members = rows.members(store)
    info = store.face_details([f for pid in best for f in members.get(pid, [])])
    names = rows.names_of(store, best)
    people: list[PersonLead] = []
    for pid, m in sorted(best.items(), key=lambda kv: -kv[1].score):
        imgs = {
            info[f]["image_id"]: info[f]["path"]
            for f in members.get(pid, [])
            if f in info and info[f]["collection"] in searched
        }
        people.append(
            PersonLead(
                person=pid,
                name=names.get(pid),
                score=m.score,
                fmr=m.fmr,
                best_face=m,
                images=[ImageRef(id=i, path=pth) for i, pth in sorted(imgs.items())],
            )
        )
    if people:
        record(
            ctx,
            actor,
            Action.PEOPLE_VIEW,
            case_ref=result.case_ref,
            purpose=result.purpose,
            collections=sorted(searched),
            results={
                "search_id": result.search_id,
                "people": [{"person": d.person, "image_ids": [i.id for i in d.images]} for d in people],
            },
            details={"view": "search_people"},
        )
        ctx.seen.add(actor.name, "image", [i.id for d in people for i in d.images])
    return PeopleSearch(**dict(result), people=people)
