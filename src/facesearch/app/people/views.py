"""Looking at people: the list (most faces first), one person (faces, photos, corrections, the people most
like them), and suggestions (pairs of people that may be one person).

Browsing people is a search by other means (who is in the gallery, who resembles whom, who appears with
whom), so each view passes the search gate (case reference, allowed purpose, kill switch, per-user limits,
the case's authorisation) and is audited with its case and purpose (`people_view`, refusals included); the
faces a search hides (opt-outs) are never listed, and a person with such a face is never offered as similar
or as a suggestion. The gate is per view, not per browsing session: every page names its case and purpose.
Every view of faces is remembered in the "seen" cache, so the thumbnails and photos shown may then be
fetched. Each use case first brings people up to date with their faces (`tidy`)."""

from __future__ import annotations

import numpy as np

from ...calibration.tables import load_table
from ...errors import FacesearchError
from ...services import clustering
from ...services.people_upkeep import tidy
from ...store import Store
from ...store import people as rows
from ...vocabulary import Action
from ..auditing import record, refusal_recorded
from ..context import Actor, Context
from ..errors import NotFound
from ..optout import opted_out_faces
from ..policy import search_gate
from ..roles import allowed
from .corrections import corrections_about, kept_apart
from .lookup import collections, person
from .results import (
    Correction,
    FaceImage,
    ImageRef,
    PeopleList,
    PersonFaceRef,
    PersonSummary,
    PersonView,
    ShownFace,
    SimilarPerson,
    SuggestedPerson,
    Suggestion,
    Suggestions,
)

SIMILAR = 5  # people shown as most like a person


@allowed("examiner", "operator")
def list_people(
    ctx: Context,
    actor: Actor,
    *,
    model: str | None = None,
    collection: str | None = None,
    min_faces: int = 1,
    limit: int | None = None,
    case_ref: str | None = None,
    purpose: str | None = None,
) -> PeopleList:
    """Every person (most faces first) with their faces and photos, through the search gate."""
    store = ctx.store
    with refusal_recorded(ctx, actor, Action.PEOPLE_VIEW, case_ref=case_ref, purpose=purpose, details={"view": "list"}):
        case, why = search_gate(ctx, actor, case_ref, purpose)
        allowed_cols = {c.name for c in collections(store, [collection] if collection else None)}
    tidy(store)
    people = rows.people_by_id(store)
    members = rows.members(store, model)
    every = [f for fs in members.values() for f in fs]
    hidden = opted_out_faces(ctx, every, "people list")
    info = {f: d for f, d in store.face_details(every).items() if f not in hidden}
    out: list[PersonSummary] = []
    for pid, fids in members.items():
        p = people.get(pid)
        # Best face first: the one a grid shows for the person.
        shown = sorted(
            (f for f in fids if f in info and info[f]["collection"] in allowed_cols),
            key=lambda f: (-float(info[f]["quality"] or 0.0), f),
        )
        if p is None or len(shown) < max(1, min_faces):
            continue
        faces = [PersonFaceRef(face_id=f, image=ImageRef(id=info[f]["image_id"], path=info[f]["path"])) for f in shown]
        out.append(PersonSummary(id=pid, name=p.name, model=p.model, face_count=len(faces), faces=faces))
    out.sort(key=lambda d: (-d.face_count, d.id))
    if limit is not None:
        out = out[: max(0, limit)]
    record(
        ctx,
        actor,
        Action.PEOPLE_VIEW,
        case_ref=case,
        purpose=why,
        collections=sorted(allowed_cols),
        results={"people": [d.id for d in out], "faces": sum(d.face_count for d in out)},
        details={"view": "list"},
    )
    ctx.seen.add(actor.name, "face", [f.face_id for d in out for f in d.faces])
    return PeopleList(people=out)


@allowed("examiner", "operator")
def show_person(
    ctx: Context, actor: Actor, person_id: int, *, case_ref: str | None = None, purpose: str | None = None
) -> PersonView:
    """A person's faces (best quality first), photos, corrections, and the people most like them, through the
    search gate. Faces a search hides are left out; a person with only such faces does not exist here."""
    store = ctx.store
    with refusal_recorded(
        ctx,
        actor,
        Action.PEOPLE_VIEW,
        case_ref=case_ref,
        purpose=purpose,
        details={"view": "person", "person": person_id},
    ):
        case, why = search_gate(ctx, actor, case_ref, purpose)
        tidy(store)
        p = person(store, person_id)
        every = rows.faces_of(store, p.id)
        hidden = opted_out_faces(ctx, every, "person")
        fids = [f for f in every if f not in hidden]
        if every and not fids:
            raise NotFound(f"no person with id {person_id}")
    info = store.face_details(fids)
    faces = sorted(
        (
            ShownFace(
                face_id=f,
                quality=info[f]["quality"],
                box=info[f]["box"],
                thumbnail=info[f]["thumbnail"],
                image=FaceImage(id=info[f]["image_id"], path=info[f]["path"], collection=info[f]["collection"]),
            )
            for f in fids
            if f in info
        ),
        key=lambda d: (-(d.quality or 0), d.face_id),
    )
    corrections = [Correction.of(c) for c in corrections_about(store, fids)]
    similar = _similar(ctx, p.model, p.id)
    record(
        ctx,
        actor,
        Action.PEOPLE_VIEW,
        case_ref=case,
        purpose=why,
        collections=sorted({f.image.collection for f in faces}),
        results={"person": p.id, "face_ids": [f.face_id for f in faces], "similar": [d.person for d in similar]},
        details={"view": "person"},
    )
    ctx.seen.add(actor.name, "face", [f.face_id for f in faces])
    ctx.seen.add(actor.name, "image", [f.image.id for f in faces])
    return PersonView(
        id=p.id,
        name=p.name,
        model=p.model,
        face_count=len(faces),
        photos=len({f.image.id for f in faces}),
        faces=faces,
        corrections=corrections,
        similar=similar,
    )


def _with_hidden_faces(ctx: Context, members: dict[int, list[int]], view: str) -> set[int]:
    """People with a face a search hides: never offered as similar or as a suggestion."""
    hidden = opted_out_faces(ctx, [f for fs in members.values() for f in fs], view)
    return {pid for pid, fs in members.items() if hidden.intersection(fs)}


def _similar(ctx: Context, model: str, person_id: int, limit: int = SIMILAR) -> list[SimilarPerson]:
    """The people of the pack whose templates are most like this person's, most alike first (never one with
    a face a search hides)."""
    store: Store = ctx.store
    pids, tmpl = rows.templates(store, model)
    where = np.flatnonzero(pids == person_id)
    if not len(where) or len(pids) < 2:
        return []
    members = rows.members(store, model)
    sims = tmpl @ tmpl[where[0]]
    ranked = [int(j) for j in np.argsort(-sims) if j != where[0]]
    picked: list[int] = []
    for start in range(0, len(ranked), 4 * limit):  # only as many people as needed are compared with opt-outs
        chunk = ranked[start : start + 4 * limit]
        skip = _with_hidden_faces(ctx, {int(pids[j]): members.get(int(pids[j]), []) for j in chunk}, "similar")
        picked.extend(j for j in chunk if int(pids[j]) not in skip)
        if len(picked) >= limit:
            break
    order = np.array(picked[:limit], dtype=np.int64)
    names = rows.names_of(store, pids[order].tolist())
    return [
        SimilarPerson(
            person=int(pids[j]),
            name=names.get(int(pids[j])),
            score=round(float(sims[j]), 6),
            face_count=len(members.get(int(pids[j]), [])),
        )
        for j in order
    ]


@allowed("examiner", "operator")
def suggestions(
    ctx: Context, actor: Actor, *, limit: int = 20, case_ref: str | None = None, purpose: str | None = None
) -> Suggestions:
    """Pairs of people that may be one person: templates within the pack's verify threshold (FACESEARCH_VERIFY_FMR),
    never two people sharing a photo or kept apart by a correction, never a person with a face a search hides.
    Most similar first. Through the search gate, audited."""
    store = ctx.store
    with refusal_recorded(
        ctx, actor, Action.PEOPLE_VIEW, case_ref=case_ref, purpose=purpose, details={"view": "suggestions"}
    ):
        case, why = search_gate(ctx, actor, case_ref, purpose)
    tidy(store)
    out: list[Suggestion] = []
    people = rows.people_by_id(store)
    for model in sorted({p.model for p in people.values()}):
        pids, tmpl = rows.templates(store, model)
        if len(pids) < 2:
            continue
        try:
            t = load_table(model, ctx.settings.home / "calibration").threshold_for_fmr(ctx.settings.verify_fmr)
        except FacesearchError:
            continue
        sims, idx = clustering.knn(tmpl, k=min(5, len(pids) - 1))
        members = rows.members(store, model)
        imgs = rows.images_of(store, [f for fs in members.values() for f in fs])
        apart = kept_apart(store, members)
        skip = _with_hidden_faces(ctx, members, "suggestions")
        seen: set[tuple[int, int]] = set()
        for i in range(len(pids)):
            for s_, j in zip(sims[i].tolist(), idx[i].tolist()):
                if j < 0 or s_ < t:
                    continue
                a, b = sorted((int(pids[i]), int(pids[j])))
                if (a, b) in seen or (a, b) in apart or a in skip or b in skip:
                    continue
                seen.add((a, b))
                if {imgs[f] for f in members.get(a, [])} & {imgs[f] for f in members.get(b, [])}:
                    continue
                out.append(
                    Suggestion(
                        a=SuggestedPerson(id=a, name=people[a].name, face_count=len(members.get(a, []))),
                        b=SuggestedPerson(id=b, name=people[b].name, face_count=len(members.get(b, []))),
                        score=round(float(s_), 6),
                    )
                )
    out.sort(key=lambda d: -d.score)
    out = out[:limit]
    record(
        ctx,
        actor,
        Action.PEOPLE_VIEW,
        case_ref=case,
        purpose=why,
        results={"pairs": [[d.a.id, d.b.id] for d in out]},
        details={"view": "suggestions"},
    )
    return Suggestions(suggestions=out)
