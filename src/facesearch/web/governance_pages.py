"""Governance pages of the browser UI: review of proposed leads (examiners), case reports (examiners and
auditors), collections with their provenance (operators), purposes, the kill switch and deleting a
collection (admins), data protection (operators). Plain server-side forms; no script needed."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from ..app import authorisations, cases, doctor, optout, purposes, retention, review, subjects, suspension
from ..app import collection as collections
from ..app.context import Actor, Context
from ..app.errors import Refused
from ..errors import FacesearchError
from ..http.deps import Caller, context
from ..http.uploads import read_photo
from ..services.uploads import Photo
from .rendering import notice_url, render, signed_notices

router = APIRouter(include_in_schema=False)


def _redirect(actor: Actor, path: str, msg: str) -> Response:
    """Back to a page with a notice signed for this user and page (`rendering.notice_url`)."""
    return RedirectResponse(notice_url(actor.name, path, msg), status_code=303)


# Review of leads --------------------------------------------------------------------------------
@router.get("/review")
def review_page(
    request: Request,
    msg: str | None = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
    actor: Actor = Depends(Caller(review.decide)),
    ctx: Context = Depends(context),
) -> Response:
    msg, _ = signed_notices(actor.name, "/review", msg, None, sig)
    return render(
        request,
        "review.html",
        open=review.list_proposals(ctx, actor, status="proposed"),
        recent=review.list_proposals(ctx, actor)[:50],
        msg=msg,
        stamp=review.STAMP,
    )


@router.post("/review/{proposal_id}/{decision}")
def review_decide(
    proposal_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    decision: str,
    note: Annotated[str, Form(max_length=4000)] = "",
    actor: Actor = Depends(Caller(review.decide)),
    ctx: Context = Depends(context),
) -> Response:
    status = {"confirm": "confirmed", "reject": "rejected"}.get(decision, "")
    try:
        review.decide(ctx, actor, proposal_id, status, note)
        msg = f"Proposal {proposal_id} {status}."
    except Refused as exc:
        msg = str(exc)
    return _redirect(actor, "/review", msg)


# Collections ------------------------------------------------------------------------------------
@router.post("/collections/new")
def collection_new(
    name: Annotated[str, Form(max_length=200)],
    source: Annotated[str, Form(max_length=2000)],
    legal_basis: Annotated[str, Form(max_length=64)],
    legal_basis_note: Annotated[str, Form(max_length=2000)] = "",
    retention_days: Annotated[str, Form(max_length=10)] = "",
    model: Annotated[str, Form(max_length=64)] = "",
    actor: Actor = Depends(Caller(collections.create_collection)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        days = int(retention_days) if retention_days.strip() else None
    except ValueError:
        return _redirect(
            actor, "/ingest", "the retention period is a whole number of days (or empty: keep until deleted)"
        )
    try:
        col = collections.create_collection(
            ctx,
            actor,
            name.strip(),
            source=source,
            legal_basis=legal_basis,
            retention_days=days,
            keep=days is None,
            model=model.strip() or None,
            legal_basis_note=legal_basis_note.strip() or None,
        )
    except FacesearchError as exc:
        return _redirect(actor, "/ingest", str(exc))
    return _redirect(actor, "/ingest", f"Created collection {col.name} (model pack {col.model})")


# Case reports -----------------------------------------------------------------------------------
@router.get("/cases")
def cases_page(
    request: Request,
    ref: Annotated[str | None, Query(max_length=200)] = None,
    msg: Annotated[str | None, Query(max_length=2000)] = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
    actor: Actor = Depends(Caller(cases.case_report)),
    ctx: Context = Depends(context),
) -> Response:
    msg, _ = signed_notices(actor.name, "/cases", msg, None, sig)
    if ref and ref.strip():
        return RedirectResponse(f"/api/v1/cases/{quote(ref.strip(), safe='')}/report?format=html", status_code=303)
    # Admins record authorisations here and see the newest; the report of a case lists its own.
    recent = authorisations.recent_authorisations(ctx, actor) if actor.role == "admin" else []
    return render(request, "cases.html", authorisations=recent, msg=msg)


# Purposes and the kill switch -------------------------------------------------------------------
@router.get("/admin/governance")
def governance_page(
    request: Request,
    msg: str | None = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
    actor: Actor = Depends(Caller(purposes.add_purpose)),
    ctx: Context = Depends(context),
) -> Response:
    msg, _ = signed_notices(actor.name, "/admin/governance", msg, None, sig)
    return render(
        request,
        "governance.html",
        purposes=purposes.list_purposes(ctx, actor),
        suspension=suspension.current_suspension(ctx, actor),
        collections=collections.list_collections(ctx, actor),
        msg=msg,
    )


@router.post("/admin/collections/{name}/delete")
def collection_delete(
    name: Annotated[str, Path(max_length=200)],
    confirm: Annotated[str, Form(max_length=200)] = "",
    actor: Actor = Depends(Caller(collections.delete_collection)),
    ctx: Context = Depends(context),
) -> Response:
    """Delete a collection once its name is typed again (nothing is erased on a slip of the mouse)."""
    if confirm.strip() != name:
        return _redirect(actor, "/admin/governance", f"Type the collection's name, {name}, to delete it.")
    try:
        r = collections.delete_collection(ctx, actor, name)
    except FacesearchError as exc:
        return _redirect(actor, "/admin/governance", str(exc))
    return _redirect(
        actor,
        "/admin/governance",
        f"Collection {r.collection} deleted: erased {r.images} image(s) and {r.faces} face(s) with their thumbnails.",
    )


@router.post("/admin/governance/{action}")
def governance_act(
    action: str,
    code: Annotated[str, Form(max_length=64)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    requires_authorisation: Annotated[bool, Form()] = False,
    urgent_hours: Annotated[str, Form(max_length=5)] = "",
    actor: Actor = Depends(Caller(suspension.set_suspended, purposes.add_purpose, purposes.retire_purpose)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        if action == "suspend":
            suspension.set_suspended(ctx, actor, True, reason=reason)
            msg = "Searching suspended."
        elif action == "resume":
            suspension.set_suspended(ctx, actor, False)
            msg = "Searching resumed."
        elif action == "add-purpose":
            hours = int(urgent_hours) if urgent_hours.strip().isdigit() else None
            purposes.add_purpose(
                ctx, actor, code, description, requires_authorisation=requires_authorisation, urgent_hours=hours
            )
            msg = f"Purpose {code} added."
        elif action == "retire-purpose":
            purposes.retire_purpose(ctx, actor, code)
            msg = f"Purpose {code} retired."
        else:
            msg = "Unknown action."
    except FacesearchError as exc:
        msg = str(exc)
    return _redirect(actor, "/admin/governance", msg)


# Data protection: opt-out, subject access, doctor, purge ----------------------------------------
def _privacy(request: Request, ctx: Context, actor: Actor, **page: Any) -> Response:
    return render(request, "privacy.html", optouts=optout.list_optouts(ctx, actor), **page)


@router.get("/privacy")
def privacy_page(
    request: Request, actor: Actor = Depends(Caller(optout.add_optout)), ctx: Context = Depends(context)
) -> Response:
    return _privacy(request, ctx, actor)


def _photo(ctx: Context, upload: UploadFile, n: int) -> Photo:
    return read_photo(upload, ctx.settings, upload.filename or f"photo {n}")


@router.post("/privacy/optout")
def privacy_optout(
    request: Request,
    reference: Annotated[str, Form(max_length=200)],
    photos: Annotated[list[UploadFile], File()],
    actor: Actor = Depends(Caller(optout.add_optout)),
    ctx: Context = Depends(context),
) -> Response:
    chosen = [_photo(ctx, f, n) for n, f in enumerate((f for f in photos if f.filename), start=1)]
    try:
        res = optout.add_optout(ctx, actor, chosen, reference)
    except FacesearchError as exc:
        return _privacy(request, ctx, actor, error=str(exc))
    return _privacy(
        request,
        ctx,
        actor,
        optout_result=res,
        done=f"Opt-out {res.reference} registered from {res.photos} photo(s): "
        f"erased {res.erased.faces} face(s) and {res.erased.images} image(s); "
        f"{len(res.to_review)} face(s) to review.",
    )


@router.post("/privacy/subject")
def privacy_subject(
    request: Request,
    photo: Annotated[UploadFile, File()],
    reference: Annotated[str, Form(max_length=1000)] = "",
    actor: Actor = Depends(Caller(subjects.subject_report)),
    ctx: Context = Depends(context),
) -> Response:
    if not photo.filename:
        return _privacy(request, ctx, actor, error="choose a photo")
    try:
        rep = subjects.subject_report(ctx, actor, _photo(ctx, photo, 1), reference)
    except FacesearchError as exc:
        return _privacy(request, ctx, actor, error=str(exc))
    return _privacy(request, ctx, actor, subject=rep)


@router.post("/privacy/doctor")
def privacy_doctor(
    request: Request, actor: Actor = Depends(Caller(doctor.doctor)), ctx: Context = Depends(context)
) -> Response:
    return _privacy(request, ctx, actor, doctor=doctor.doctor(ctx, actor))


@router.post("/privacy/purge")
def privacy_purge(
    request: Request, actor: Actor = Depends(Caller(retention.purge)), ctx: Context = Depends(context)
) -> Response:
    rep = retention.purge(ctx, actor)
    return _privacy(
        request,
        ctx,
        actor,
        done=f"Purge done: erased {rep.erased.images} image(s), {rep.erased.faces} face(s); "
        f"{rep.expired_probes} expired probe(s).",
    )
