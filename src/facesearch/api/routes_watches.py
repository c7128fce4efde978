"""Standing searches (watches), their hits, and the authorisations cases rest on.

Watches are the examiner's: adding one is gated and logged like a search (`watches.add_watch`), each sees and
stops their own (auditors read every watch, admins may stop any), and a hit is proposed into the two-person
review like a search candidate. Authorisations are recorded by admins and read by whoever may read the case's
report; admins add examiners to a case and take them off it (`case_access`: once a case has an owner, only
its owner and members work under it). The yearly report of uses per purpose is the auditors' and admins'.
Reviewers are assigned by a proposal's author (or an admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from pydantic import BaseModel, Field

from ..app import authorisations, case_access, review, watches
from ..app.context import Actor
from ..http.deps import Caller
from ..http.uploads import read_photo, takes_uploads
from .common import ID_MAX, Ctx, Id, names
from .watch_models import (
    AuthorisationInfo,
    AuthorisationList,
    HitList,
    ProposalInfo,
    PurposeYearReport,
    Unseen,
    WatchInfo,
    WatchList,
)

router = APIRouter(prefix="/api/v1", tags=["watches"])


# Watches ---------------------------------------------------------------------------------------
@router.post("/watches", status_code=201, response_model=WatchInfo, summary="Add a standing search (examiner)")
@takes_uploads(1)
def post_watch(
    ctx: Ctx,
    probe: Annotated[UploadFile, File(description="A photo of the person to watch for.")],
    case_ref: Annotated[str | None, Form(description="Case reference (required, 1-200 characters).")] = None,
    purpose: Annotated[str | None, Form(description="An allowed purpose code, or `CODE: note` (required).")] = None,
    until: Annotated[
        str | None,
        Form(description="Last day it runs (YYYY-MM-DD, UTC) or an ISO date-time; at most FACESEARCH_WATCH_MAX_DAYS."),
    ] = None,
    face: Annotated[int, Form(ge=0, le=1000, description="Which probe face, 0 = largest.")] = 0,
    threshold: Annotated[
        float | None, Form(description="Score at or above which a face is a hit (default: the search's decision).")
    ] = None,
    collections: Annotated[
        list[str] | None, Form(description="Collections to watch (default all); repeated or comma-separated.")
    ] = None,
    webhook: Annotated[
        str | None,
        Form(max_length=2000, description="URL told of each hit (ids only), under FACESEARCH_WATCH_WEBHOOK_HOSTS."),
    ] = None,
    force: Annotated[bool, Form(description="Watch for a probe face below the quality bar.")] = False,
    actor: Actor = Depends(Caller(watches.add_watch)),
) -> WatchInfo:
    req = watches.WatchRequest(
        case_ref=case_ref,
        purpose=purpose,
        until=until,
        face=face,
        threshold=threshold,
        collections=names(collections),
        force=force,
        webhook=webhook,
    )
    return watches.add_watch(ctx, actor, read_photo(probe, ctx.settings, "probe"), req)


@router.get("/watches", response_model=WatchList, summary="Your watches (auditors and admins: all), newest first")
def get_watches(
    ctx: Ctx,
    status: Annotated[str | None, Query(pattern="^(active|stopped|expired)$")] = None,
    actor: Actor = Depends(Caller(watches.list_watches)),
) -> WatchList:
    return WatchList(watches=watches.list_watches(ctx, actor, status=status))


@router.get("/watches/hits", response_model=HitList, summary="The hits of your watches (logged)")
def get_hits(
    ctx: Ctx,
    watch: Annotated[int | None, Query(ge=1, le=ID_MAX, description="One watch (default: all of yours).")] = None,
    actor: Actor = Depends(Caller(watches.list_hits)),
) -> HitList:
    return HitList(hits=watches.list_hits(ctx, actor, watch))


@router.get("/watches/hits/unseen", response_model=Unseen, summary="How many of your watches' hits you have not seen")
def get_unseen(ctx: Ctx, actor: Actor = Depends(Caller(watches.unseen_count))) -> Unseen:
    return Unseen(unseen=watches.unseen_count(ctx, actor))


@router.get("/watches/{watch_id}", response_model=WatchInfo, summary="One watch")
def get_watch(watch_id: Id, ctx: Ctx, actor: Actor = Depends(Caller(watches.show_watch))) -> WatchInfo:
    return watches.show_watch(ctx, actor, watch_id)


class StopWatch(BaseModel):
    reason: str = Field(default="", max_length=1000)


class RenewWatch(BaseModel):
    until: str = Field(min_length=1, max_length=40, description="The new last day (YYYY-MM-DD) or ISO date-time.")


@router.post("/watches/{watch_id}/stop", response_model=WatchInfo, summary="Stop a watch (its owner, or an admin)")
def post_stop(watch_id: Id, body: StopWatch, ctx: Ctx, actor: Actor = Depends(Caller(watches.stop_watch))) -> WatchInfo:
    return watches.stop_watch(ctx, actor, watch_id, body.reason)


@router.post("/watches/{watch_id}/renew", response_model=WatchInfo, summary="Move a watch's end (its owner)")
def post_renew(
    watch_id: Id, body: RenewWatch, ctx: Ctx, actor: Actor = Depends(Caller(watches.renew_watch))
) -> WatchInfo:
    return watches.renew_watch(ctx, actor, watch_id, body.until)


class HitProposal(BaseModel):
    note: str = Field(min_length=1, max_length=4000)
    reviewer: str | None = Field(default=None, max_length=100, description="The examiner who alone may decide it.")


@router.post(
    "/watches/{watch_id}/hits/{face_id}/proposals",
    status_code=201,
    response_model=ProposalInfo,
    summary="Propose a hit as the probe's person (a second examiner decides)",
)
def post_hit_proposal(
    watch_id: Id, face_id: Id, body: HitProposal, ctx: Ctx, actor: Actor = Depends(Caller(watches.propose_hit))
) -> ProposalInfo:
    return watches.propose_hit(ctx, actor, watch_id, face_id, body.note, body.reviewer)


# Reviewer assignment ---------------------------------------------------------------------------
class Assignment(BaseModel):
    reviewer: str = Field(min_length=1, max_length=100)


@router.post(
    "/proposals/{proposal_id}/assign",
    response_model=ProposalInfo,
    summary="Assign a proposal to the reviewer who alone may decide it (its author, or an admin)",
)
def post_assign(
    proposal_id: Id, body: Assignment, ctx: Ctx, actor: Actor = Depends(Caller(review.assign_reviewer))
) -> ProposalInfo:
    return review.assign_reviewer(ctx, actor, proposal_id, body.reviewer)


# Case authorisations ---------------------------------------------------------------------------
@router.post(
    "/cases/{case_ref}/authorisations",
    status_code=201,
    response_model=AuthorisationInfo,
    summary="Record a case's authorisation (admin)",
)
@takes_uploads(1)
def post_authorisation(
    case_ref: str,
    ctx: Ctx,
    authority: Annotated[str, Form(min_length=1, max_length=1000, description="Who granted it.")],
    reference: Annotated[str, Form(min_length=1, max_length=1000, description="The decision's reference.")],
    granted: Annotated[str, Form(min_length=1, max_length=40, description="In force from (YYYY-MM-DD, UTC).")],
    expires: Annotated[str, Form(min_length=1, max_length=40, description="Last day in force (YYYY-MM-DD, UTC).")],
    document: Annotated[UploadFile | None, File(description="The decision itself (optional).")] = None,
    actor: Actor = Depends(Caller(authorisations.authorise)),
) -> AuthorisationInfo:
    doc = None
    if document is not None and document.filename:
        data = read_photo(document, ctx.settings, "document").data or b""
        doc = authorisations.Document(document.filename, data)
    return authorisations.authorise(
        ctx, actor, case_ref, authority=authority, reference=reference, granted=granted, expires=expires, document=doc
    )


@router.get(
    "/cases/{case_ref}/authorisations",
    response_model=AuthorisationList,
    summary="A case's authorisations (as its report: examiners on their own cases)",
)
def get_authorisations(
    case_ref: str, ctx: Ctx, actor: Actor = Depends(Caller(authorisations.case_authorisations))
) -> AuthorisationList:
    return AuthorisationList(authorisations=authorisations.case_authorisations(ctx, actor, case_ref))


class Membership(BaseModel):
    examiner: str = Field(min_length=1, max_length=100, description="The examiner to add to the case.")


@router.post(
    "/cases/{case_ref}/members",
    status_code=201,
    response_model=case_access.CaseMember,
    summary="Add an examiner to a case: they may then search under it and read its report (admin)",
)
def post_member(
    case_ref: str, body: Membership, ctx: Ctx, actor: Actor = Depends(Caller(case_access.add_member))
) -> case_access.CaseMember:
    return case_access.add_member(ctx, actor, case_ref, body.examiner)


@router.delete(
    "/cases/{case_ref}/members/{examiner}",
    response_model=case_access.CaseMemberRemoved,
    summary="Take an examiner off a case: they may no longer search under it nor read its report (admin)",
)
def delete_member(
    case_ref: str,
    examiner: str,
    ctx: Ctx,
    actor: Actor = Depends(Caller(case_access.remove_member)),
) -> case_access.CaseMemberRemoved:
    return case_access.remove_member(ctx, actor, case_ref, examiner)


@router.get(
    "/reports/purposes",
    response_model=PurposeYearReport,
    summary="Uses per purpose in a year, with and without an authorisation (auditors, admins)",
)
def get_year_report(
    ctx: Ctx,
    year: Annotated[int, Query(ge=1970, le=9999)],
    actor: Actor = Depends(Caller(authorisations.purpose_year_report)),
) -> PurposeYearReport:
    return authorisations.purpose_year_report(ctx, actor, year)
