"""People pages of the browser UI: the grid of people, a person's faces, photos and corrections, the
correction tools (name, merge, split, move, "not this person", undo), and "who appears with whom" (a search:
case reference and purpose). Plain server-side forms; every action is one use case of `app.people`, which
holds the rules and writes the audit entries.

Browsing people is a search: the grid and a person's page ask for a case reference and a purpose first, and
keep them for the browser session in a cookie (`fs_people_case`, HttpOnly, SameSite=Strict, this path only),
so corrections and links need not carry them. Each page view passes the search gate again with them and is
audited under the case; a refusal (suspended, purpose withdrawn, limit) shows the form with the reason."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from ..app import people, purposes, suspension
from ..app.context import Actor, Context
from ..app.errors import KINDS, Invalid, NotFound
from ..app.roles import roles_of
from ..errors import FacesearchError
from ..http.deps import Caller, context
from .rendering import notice_url, render, signed_notices

router = APIRouter(include_in_schema=False)

ID_MAX = 2**63 - 1
SUGGESTIONS = 1000  # pairs looked at for a person page's "may be the same person" marks
PersonId = Annotated[int, Path(ge=1, le=ID_MAX)]


CASE_COOKIE = "fs_people_case"
GATE_KINDS = ("case_required", "purpose_not_allowed", "suspended", "limit", "forbidden", "invalid")


def _browsing(request: Request, case_ref: str | None, purpose: str | None) -> tuple[str | None, str | None, bool]:
    """The case and purpose this browsing names: the query's, else the session cookie's; and whether the query
    gave new ones (then the cookie is set)."""
    if case_ref is not None or purpose is not None:  # given (empty ones too: "Change" clears them)
        return (case_ref or "").strip() or None, (purpose or "").strip() or None, True
    kept = request.cookies.get(CASE_COOKIE, "")
    case, _, why = kept.partition("\n")
    return case or None, why or None, False


def _keep_case(response: Response, ctx: Context, case_ref: str | None, purpose: str | None) -> Response:
    response.set_cookie(
        CASE_COOKIE,
        f"{case_ref or ''}\n{purpose or ''}",
        httponly=True,
        secure=ctx.settings.cookie_secure,
        samesite="strict",
        path="/people",
    )
    return response


def _ask_case(
    request: Request, ctx: Context, actor: Actor, action: str, case_ref: str | None, purpose: str | None, exc: Any
) -> Response:
    """The form asking for the case and purpose, with the refusal (and the status the API gives it)."""
    status, error = 200, None
    if exc is not None:
        status, title, _ = KINDS.get(getattr(exc, "kind", "invalid"), KINDS["invalid"])
        error = f"{title}: {exc}" if case_ref or purpose else None
        status = status if error else 200
    return render(
        request,
        "people_case.html",
        status=status,
        action=action,
        case_ref=case_ref,
        purpose=purpose,
        error=error,
        purposes=purposes.active_purposes(ctx, actor),
    )


def _redirect(
    actor: Actor, path: str, msg: str | None = None, error: str | None = None, see: int | None = None
) -> Response:
    """Back to a page with a notice signed for this user and page (`rendering.notice_url`)."""
    return RedirectResponse(notice_url(actor.name, path, msg, error, see=see), status_code=303)


def _id(value: str, what: str) -> int:
    """A person or face id typed into a form: a clear refusal instead of a validation error page."""
    text = value.strip().removeprefix("#")
    if not text.isdigit() or not 1 <= int(text) <= ID_MAX:
        raise Invalid(f"give the {what} as a number (for example 12)")
    return int(text)


def _done(actor: Actor, person_id: int, msg: str, see: int | None = None) -> Response:
    return _redirect(actor, f"/people/{person_id}", msg=msg, see=see)


def _refused(actor: Actor, person_id: int, exc: FacesearchError, back: str = "") -> Response:
    return _redirect(actor, "/people" if back == "list" else f"/people/{person_id}", error=str(exc))


# The grid ------------------------------------------------------------------------------------------
@router.get("/people")
def people_page(
    request: Request,
    msg: str | None = None,
    error: str | None = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
    min_faces: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    see: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    case_ref: Annotated[str | None, Query(max_length=200)] = None,
    purpose: Annotated[str | None, Query(max_length=1000)] = None,
    actor: Actor = Depends(Caller(people.list_people, people.suggestions)),
    ctx: Context = Depends(context),
) -> Response:
    msg, error = signed_notices(actor.name, "/people", msg, error, sig)
    case_ref, purpose, new = _browsing(request, case_ref, purpose)
    try:
        listed = people.list_people(ctx, actor, min_faces=min_faces, case_ref=case_ref, purpose=purpose).people
        suggested = people.suggestions(ctx, actor, case_ref=case_ref, purpose=purpose).suggestions
    except FacesearchError as exc:
        if getattr(exc, "kind", "") not in GATE_KINDS:
            raise
        return _ask_case(request, ctx, actor, "/people", case_ref, purpose, exc)
    cards = [
        {
            "id": p.id,
            "name": p.name,
            "face_count": p.face_count,
            "photos": len({f.image.id for f in p.faces}),
            "cover": p.faces[0].face_id if p.faces else None,
        }
        for p in listed
    ]
    page = render(
        request,
        "people.html",
        people=cards,
        suggestions=suggested,
        min_faces=min_faces,
        msg=msg,
        error=error,
        see=see,
        may_cluster=actor.role in roles_of(people.cluster),
        browsing={"case_ref": case_ref, "purpose": purpose},
    )
    return _keep_case(page, ctx, case_ref, purpose) if new else page


@router.post("/people/cluster")
def people_cluster(
    full: Annotated[str, Form(max_length=10)] = "",
    actor: Actor = Depends(Caller(people.cluster)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        res = people.cluster(ctx, actor, full=full == "1")
    except FacesearchError as exc:
        return _redirect(actor, "/people", error=str(exc))
    done = ", ".join(f"{p.model}: {p.faces} face(s) into {p.people} people" for p in res.passes)
    what = "Full pass" if full == "1" else "New faces grouped"
    return _redirect(actor, "/people", msg=f"{what}: {done or 'nothing to do'}.")


# A person ------------------------------------------------------------------------------------------
def _person_page(
    request: Request, ctx: Context, actor: Actor, person_id: int, status: int = 200, **page: Any
) -> Response:
    query = request.query_params
    case_ref, purpose, new = _browsing(request, query.get("case_ref"), query.get("purpose"))
    try:
        person = people.show_person(ctx, actor, person_id, case_ref=case_ref, purpose=purpose)
        alike = people.suggestions(ctx, actor, limit=SUGGESTIONS, case_ref=case_ref, purpose=purpose).suggestions
    except FacesearchError as exc:
        if getattr(exc, "kind", "") not in GATE_KINDS:
            raise
        return _ask_case(request, ctx, actor, f"/people/{person_id}", case_ref, purpose, exc)
    photos: dict[int, dict[str, Any]] = {}
    for f in person.faces:
        img = f.image
        file = PurePath(img.path).name if img.path else f"image {img.id}"
        photos.setdefault(
            img.id, {"id": img.id, "path": img.path, "collection": img.collection, "file": file, "faces": 0}
        )["faces"] += 1
    # Pairs within the pack's verify threshold ("may be the same person"), marked among the most alike.
    suggested = {x.b.id if x.a.id == person_id else x.a.id for x in alike if person_id in (x.a.id, x.b.id)}
    response = render(
        request,
        "people_person.html",
        status=status,
        person=person,
        photos=list(photos.values()),
        suggested=suggested,
        purposes=purposes.active_purposes(ctx, actor),
        suspension=suspension.current_suspension(ctx, actor),
        may_together=actor.role in roles_of(people.together),
        browsing={"case_ref": case_ref, "purpose": purpose},
        **page,
    )
    return _keep_case(response, ctx, case_ref, purpose) if new else response


@router.get("/people/{person_id}")
def person_page(
    request: Request,
    person_id: PersonId,
    msg: str | None = None,
    error: str | None = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
    see: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    actor: Actor = Depends(Caller(people.show_person, people.suggestions)),
    ctx: Context = Depends(context),
) -> Response:
    msg, error = signed_notices(actor.name, f"/people/{person_id}", msg, error, sig)
    try:
        return _person_page(request, ctx, actor, person_id, msg=msg, error=error, see=see)
    except NotFound:
        if msg is None and error is None:
            raise
        # Back from a correction that took this person's last face (a move, an undone split): say so.
        gone = f"Person {person_id} has no faces left."
        return _redirect(
            actor, "/people", msg=f"{msg} {gone}" if msg else None, error=f"{error} {gone}" if error else None, see=see
        )


@router.post("/people/{person_id}/name")
def person_name(
    person_id: PersonId,
    name: Annotated[str, Form(max_length=1000)] = "",
    actor: Actor = Depends(Caller(people.name_person)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        res = people.name_person(ctx, actor, person_id, name)
    except FacesearchError as exc:
        return _refused(actor, person_id, exc)
    new, cid = res.correction.name, res.correction.id
    return _done(
        actor,
        person_id,
        f"Named person {person_id} “{new}” (correction {cid})."
        if new
        else f"Cleared the name of person {person_id} (correction {cid}).",
    )


@router.post("/people/{person_id}/merge")
def person_merge(
    person_id: PersonId,
    other: Annotated[str, Form(max_length=30)] = "",
    back: Annotated[str, Form(max_length=10)] = "",
    actor: Actor = Depends(Caller(people.merge_people)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        other_id = _id(other, "other person's id")
        res = people.merge_people(ctx, actor, person_id, other_id)
    except FacesearchError as exc:
        return _refused(actor, person_id, exc, back)
    msg = f"Merged person {other_id} into person {person_id} (correction {res.correction.id})."
    return _redirect(actor, "/people", msg=msg, see=person_id) if back == "list" else _done(actor, person_id, msg)


@router.post("/people/{person_id}/split")
def person_split(
    person_id: PersonId,
    face_ids: Annotated[list[str] | None, Form()] = None,
    actor: Actor = Depends(Caller(people.split_person)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        if not face_ids:
            raise Invalid("tick the faces to split off into a new person first")
        res = people.split_person(ctx, actor, person_id, [_id(f, "face id") for f in face_ids])
    except FacesearchError as exc:
        return _refused(actor, person_id, exc)
    new = res.new_person
    return _done(
        actor,
        person_id,
        f"Split {len(res.correction.faces)} face(s) off into a new person {new} (correction {res.correction.id}).",
        see=new,
    )


@router.post("/people/{person_id}/reject/{face_id}")
def person_reject(
    person_id: PersonId,
    face_id: PersonId,
    actor: Actor = Depends(Caller(people.reject_face)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        res = people.reject_face(ctx, actor, person_id, face_id)
    except FacesearchError as exc:
        return _refused(actor, person_id, exc)
    new = res.new_person
    return _done(
        actor,
        person_id,
        f"Face {face_id} is not person {person_id}: it is person {new} for now (correction {res.correction.id}).",
        see=new,
    )


@router.post("/people/{person_id}/move/{face_id}")
def person_move(
    person_id: PersonId,
    face_id: PersonId,
    to: Annotated[str, Form(max_length=30)] = "",
    actor: Actor = Depends(Caller(people.move_face)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        target = _id(to, "person id to move the face to")
        res = people.move_face(ctx, actor, face_id, target)
    except FacesearchError as exc:
        return _refused(actor, person_id, exc)
    return _done(
        actor, person_id, f"Moved face {face_id} to person {target} (correction {res.correction.id}).", see=target
    )


@router.post("/people/{person_id}/undo/{correction_id}")
def person_undo(
    person_id: PersonId,
    correction_id: PersonId,
    actor: Actor = Depends(Caller(people.undo)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        res = people.undo(ctx, actor, correction_id)
    except FacesearchError as exc:
        return _refused(actor, person_id, exc)
    return _done(actor, person_id, f"Undid correction {correction_id} ({res.correction.kind}).")


@router.post("/people/{person_id}/together")
def person_together(
    request: Request,
    person_id: PersonId,
    case_ref: Annotated[str, Form(max_length=200)] = "",
    purpose: Annotated[str, Form(max_length=1000)] = "",
    actor: Actor = Depends(Caller(people.together)),
    ctx: Context = Depends(context),
) -> Response:
    form = {"case_ref": case_ref, "purpose": purpose}
    try:
        res = people.together(ctx, actor, person_id, case_ref=case_ref.strip() or None, purpose=purpose.strip() or None)
    except FacesearchError as exc:
        # The refusal is shown in the panel, with the status the API gives the same refusal.
        status, title, _ = KINDS.get(getattr(exc, "kind", "invalid"), KINDS["invalid"])
        return _person_page(request, ctx, actor, person_id, status=status, form=form, together_error=f"{title}: {exc}")
    return _person_page(request, ctx, actor, person_id, form=form, together=res)
