"""Pages of standing searches: an examiner's watches (add, stop, renew) and their hits (propose one into the
two-person review); the case page's authorisations (admins record them). Plain server-side forms; the same use
cases as the API and the command line."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from ..app import authorisations, purposes, watches
from ..app import collection as collections
from ..app.context import Actor, Context
from ..errors import FacesearchError
from ..http.deps import Caller, context
from ..http.uploads import read_photo
from .rendering import notice_url, render, signed_notices

router = APIRouter(include_in_schema=False)
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _redirect(actor: Actor, path: str, msg: str) -> Response:
    """Back to a page with a notice signed for this user and page (`rendering.notice_url`)."""
    return RedirectResponse(notice_url(actor.name, path, msg), status_code=303)


# Watches ----------------------------------------------------------------------------------------
@router.get("/watches")
def watches_page(
    request: Request,
    msg: str | None = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
    actor: Actor = Depends(Caller(watches.add_watch)),
    ctx: Context = Depends(context),
) -> Response:
    msg, _ = signed_notices(actor.name, "/watches", msg, None, sig)
    return render(
        request,
        "watches.html",
        watches=watches.list_watches(ctx, actor),
        purposes=purposes.active_purposes(ctx, actor),
        collections=collections.list_collections(ctx, actor),
        max_days=ctx.settings.watch_max_days,
        msg=msg,
    )


@router.post("/watches/new")
def watch_new(
    probe: Annotated[UploadFile, File()],
    ctx: Context = Depends(context),
    case_ref: Annotated[str, Form(max_length=200)] = "",
    purpose: Annotated[str, Form(max_length=1000)] = "",
    until: Annotated[str, Form(max_length=40)] = "",
    threshold: Annotated[str, Form(max_length=20)] = "",
    collection: Annotated[list[str] | None, Form()] = None,
    actor: Actor = Depends(Caller(watches.add_watch)),
) -> Response:
    try:
        value = float(threshold) if threshold.strip() else None
    except ValueError:
        return _redirect(
            actor, "/watches", "the threshold is a number between -1 and 1 (or empty: the search's decision)"
        )
    req = watches.WatchRequest(
        case_ref=case_ref,
        purpose=purpose,
        until=until or None,
        threshold=value,
        collections=[c for c in collection or [] if c] or None,
    )
    try:
        w = watches.add_watch(ctx, actor, read_photo(probe, ctx.settings, "probe"), req)
    except FacesearchError as exc:
        return _redirect(actor, "/watches", str(exc))
    return _redirect(actor, "/watches", f"Watch {w.id} added: case {w.case}, until {(w.until or '')[:10]}.")


@router.post("/watches/{watch_id}/stop")
def watch_stop(
    watch_id: Id,
    reason: Annotated[str, Form(max_length=1000)] = "",
    actor: Actor = Depends(Caller(watches.stop_watch)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        watches.stop_watch(ctx, actor, watch_id, reason)
        msg = f"Watch {watch_id} stopped."
    except FacesearchError as exc:
        msg = str(exc)
    return _redirect(actor, "/watches", msg)


@router.post("/watches/{watch_id}/renew")
def watch_renew(
    watch_id: Id,
    until: Annotated[str, Form(max_length=40)] = "",
    actor: Actor = Depends(Caller(watches.renew_watch)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        w = watches.renew_watch(ctx, actor, watch_id, until)
        msg = f"Watch {watch_id} renewed until {(w.until or '')[:10]}."
    except FacesearchError as exc:
        msg = str(exc)
    return _redirect(actor, "/watches", msg)


@router.get("/watches/hits")
def hits_page(
    request: Request,
    msg: str | None = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
    actor: Actor = Depends(Caller(watches.hit_reviews)),
    ctx: Context = Depends(context),
) -> Response:
    msg, _ = signed_notices(actor.name, "/watches/hits", msg, None, sig)
    # Read before the hits are marked seen, so the page says which ones are new.
    unseen = watches.unseen_count(ctx, actor) if actor.role == "examiner" else 0
    reviews = watches.hit_reviews(ctx, actor)
    return render(request, "watch_hits.html", hits=list(reversed(reviews)), new=unseen, msg=msg, unseen=0)


@router.post("/watches/{watch_id}/hits/{face_id}/propose")
def hit_propose(
    watch_id: Id,
    face_id: Id,
    note: Annotated[str, Form(max_length=4000)] = "",
    reviewer: Annotated[str, Form(max_length=100)] = "",
    actor: Actor = Depends(Caller(watches.propose_hit)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        p = watches.propose_hit(ctx, actor, watch_id, face_id, note, reviewer.strip() or None)
        msg = f"Proposed (#{p.id}): a second examiner confirms or rejects it on the review page."
    except FacesearchError as exc:
        msg = str(exc)
    return _redirect(actor, "/watches/hits", msg)


# Case authorisations ------------------------------------------------------------------------------
@router.post("/cases/authorise")
def case_authorise(
    ctx: Context = Depends(context),
    case_ref: Annotated[str, Form(max_length=200)] = "",
    authority: Annotated[str, Form(max_length=1000)] = "",
    reference: Annotated[str, Form(max_length=1000)] = "",
    granted: Annotated[str, Form(max_length=40)] = "",
    expires: Annotated[str, Form(max_length=40)] = "",
    document: Annotated[UploadFile | None, File()] = None,
    actor: Actor = Depends(Caller(authorisations.authorise)),
) -> Response:
    try:
        doc = None
        if document is not None and document.filename:
            doc = authorisations.Document(document.filename, read_photo(document, ctx.settings, "document").data or b"")
        a = authorisations.authorise(
            ctx,
            actor,
            case_ref,
            authority=authority,
            reference=reference,
            granted=granted,
            expires=expires,
            document=doc,
        )
    except FacesearchError as exc:
        return _redirect(actor, "/cases", str(exc))
    return _redirect(actor, "/cases", f"Authorisation {a.id} of case {a.case_ref} recorded.")
