"""Response models of the JSON API: kill switch, purposes, opt-outs, data-subject access, doctor, purge,
two-person review and case reports.

They are the use cases' own result types (`app.*`), or derived from them where the API answers with more (the
URLs of thumbnails) or less (a case report's co-appearance searches stay with the HTML page and the CLI).
Field names are the API's contract; see the `api` package for the rules all response models follow."""

from __future__ import annotations

from pydantic import BaseModel, computed_field

from ..app.authorisations import AuthorisationInfo
from ..app.case_watches import CaseWatch
from ..app.cases import (
    CaseDisclosure,
    CaseProbeFace,
    CaseSummary,
    DisclosedCandidate,
    DisclosedSearch,
    ModelLimitations,
    UsageRow,
)
from ..app.doctor import DoctorReport
from ..app.erasure import ErasureCounts
from ..app.optout import OptOutInfo, OptOutPack, OptOutResult, OptOutReviewFace
from ..app.purposes import PurposeInfo
from ..app.retention import PurgedCollection, PurgeReport
from ..app.review import PastSearch, ProposalInfo, RecordedCandidate
from ..app.subjects import SubjectMatch, SubjectReport, SubjectThreshold
from ..app.suspension import SearchStatus, Suspension
from .common import thumbnail_url

__all__ = [
    "CaseCandidate",
    "CaseProbeFace",
    "CaseReport",
    "CaseSearch",
    "CaseSummary",
    "DoctorReport",
    "ErasureCounts",
    "ModelLimitations",
    "OptOutInfo",
    "OptOutList",
    "OptOutPack",
    "OptOutResult",
    "OptOutReviewFace",
    "ProposalInfo",
    "ProposalList",
    "PurgeReport",
    "PurgedCollection",
    "PurposeInfo",
    "PurposeList",
    "RecordedCandidate",
    "ReviewCandidate",
    "SearchStatus",
    "SearchView",
    "SubjectMatch",
    "SubjectReport",
    "SubjectThreshold",
    "Suspension",
    "UsageReport",
    "UsageRow",
]


# Lists -------------------------------------------------------------------------------------------
class PurposeList(BaseModel):
    purposes: list[PurposeInfo]


class UsageReport(BaseModel):
    by: str
    rows: list[UsageRow]


class OptOutList(BaseModel):
    optouts: list[OptOutInfo]


class ProposalList(BaseModel):
    proposals: list[ProposalInfo]


# Two-person review --------------------------------------------------------------------------------
class ReviewCandidate(RecordedCandidate):
    @computed_field  # type: ignore[prop-decorator]
    @property
    def thumbnail_url(self) -> str:
        return thumbnail_url(self.face_id)


class SearchView(PastSearch):
    candidates: list[ReviewCandidate]  # type: ignore[assignment]

    @classmethod
    def of(cls, view: PastSearch) -> SearchView:
        """The API's view of a past search: each candidate with the URL of its thumbnail."""
        return cls.model_validate(view.model_dump(exclude_unset=True))


# Case report ---------------------------------------------------------------------------------------
class CaseCandidate(DisclosedCandidate):
    @computed_field  # type: ignore[prop-decorator]
    @property
    def thumbnail_url(self) -> str | None:
        """None once the face is erased (there is no thumbnail then)."""
        return None if self.erased else thumbnail_url(self.face_id)


class CaseSearch(DisclosedSearch):
    candidates: list[CaseCandidate]  # type: ignore[assignment]


class CaseReport(BaseModel):
    """A case's disclosure report as the API answers it (its co-appearance searches are in the HTML page)."""

    case_ref: str
    generated_at: str
    stamp: str
    summary: CaseSummary
    searches: list[CaseSearch]
    limitations: list[ModelLimitations]
    notice: str
    authorisations: list[AuthorisationInfo] | None = None  # only when the case has any
    watches: list[CaseWatch] | None = None  # only when the case has any

    @classmethod
    def of(cls, report: CaseDisclosure) -> CaseReport:
        """The API's view of a report: the keys each entry has, each candidate with its thumbnail's URL."""
        return cls.model_validate(report.model_dump(exclude_unset=True))
