"""Search, verify and probe detection: the examiner's routes. The use cases check the case reference,
purpose, kill switch and limits and write the audit log; these routes count the searches, and their response
models (`search_models`) add the URLs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from ..app import searching
from ..app.context import Actor
from ..app.searching import SearchRequest
from ..errors import FacesearchError
from ..http.deps import Caller
from ..http.uploads import read_photo, takes_uploads
from .common import Ctx, names
from .search_models import DetectResult, SearchResult, VerifyResult

router = APIRouter(prefix="/api/v1", tags=["search"])


@router.post(
    "/search",
    response_model=SearchResult,
    summary="Search the gallery with a probe photo",
)
@takes_uploads(1)
def search(
    request: Request,
    ctx: Ctx,
    probe: Annotated[UploadFile, File(description="The probe photo.")],
    case_ref: Annotated[
        str | None, Form(description="Case reference this search is made for (required, 1-200 characters).")
    ] = None,
    purpose: Annotated[
        str | None, Form(description="Why this search is made (required): an allowed purpose code, or `CODE: note`.")
    ] = None,
    top_k: Annotated[int, Form(ge=1, le=200)] = 10,
    collections: Annotated[
        list[str] | None,
        Form(description="Collections to search (default all); repeat the field or separate names by commas."),
    ] = None,
    threshold: Annotated[float | None, Form(description="Score threshold (default: calibrated).")] = None,
    face: Annotated[int | None, Form(description="Which probe face, 0 = largest (default).")] = None,
    all_faces: Annotated[bool, Form()] = False,
    force: Annotated[bool, Form(description="Search a probe face below the quality bar.")] = False,
    actor: Actor = Depends(Caller(searching.search)),
) -> SearchResult:
    photo = read_photo(probe, ctx.settings, "probe")
    req = SearchRequest(
        case_ref=case_ref,
        purpose=purpose,
        top_k=top_k,
        collections=names(collections),
        face=face,
        all_faces=all_faces,
        threshold=threshold,
        force=force,
    )
    metrics = getattr(request.app.state, "metrics", None)
    try:
        result = searching.search(ctx, actor, photo, req)
    except FacesearchError:
        if metrics is not None:
            metrics.searches.labels("refused").inc()
        raise
    if metrics is not None:
        metrics.searches.labels("ok").inc()
        metrics.search_seconds.observe(result.seconds)
    return SearchResult.of(result)


@router.post("/verify", response_model=VerifyResult, summary="Compare two photos: same person?")
@takes_uploads(2)
def verify(
    ctx: Ctx,
    a: Annotated[UploadFile, File(description="First photo.")],
    b: Annotated[UploadFile, File(description="Second photo.")],
    case_ref: Annotated[str | None, Form(description="Case reference (required).")] = None,
    purpose: Annotated[str | None, Form(description="Why this comparison is made (required).")] = None,
    model: Annotated[str | None, Form()] = None,
    threshold: Annotated[float | None, Form()] = None,
    force: Annotated[bool, Form()] = False,
    face_a: Annotated[int, Form(ge=0, le=10_000, description="Which face of the first photo, 0 = largest.")] = 0,
    face_b: Annotated[int, Form(ge=0, le=10_000, description="Which face of the second photo, 0 = largest.")] = 0,
    actor: Actor = Depends(Caller(searching.verify)),
) -> VerifyResult:
    first = read_photo(a, ctx.settings, "first photo")
    second = read_photo(b, ctx.settings, "second photo")
    return VerifyResult.of(
        searching.verify(
            ctx,
            actor,
            first,
            second,
            case_ref=case_ref,
            purpose=purpose,
            model=model,
            threshold=threshold,
            force=force,
            face_a=face_a,
            face_b=face_b,
        )
    )


@router.post(
    "/detect", response_model=DetectResult, summary="Find the faces in a probe before searching (nothing is searched)"
)
@takes_uploads(1)
def detect(
    ctx: Ctx,
    probe: Annotated[UploadFile, File()],
    collections: Annotated[list[str] | None, Form()] = None,
    model: Annotated[
        str | None, Form(description="Detect with this pack (a photo to compare); default: the collections' pack.")
    ] = None,
    actor: Actor = Depends(Caller(searching.detect)),
) -> DetectResult:
    photo = read_photo(probe, ctx.settings, "probe")
    return DetectResult.of(searching.detect(ctx, actor, photo, names(collections), model=model))
