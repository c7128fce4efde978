"""Case authorisations: the judicial or administrative decision a case's searches rest on, recorded by an admin
(authority, reference, validity, the document's hash), and the rule that needs it.

A purpose added with `requires_authorisation` refuses every search, verify, co-appearance search and watch of a
case without an authorisation in force (kind `forbidden`: HTTP 403, exit 4), unless its `urgent_hours` allow
the use before the authorisation is recorded: the window runs from the case's first urgent use of the purpose,
and every such use is flagged in the case report until an authorisation covering it is recorded. A watch stops
when its case's authorisation lapses (`watches.check`). The yearly report counts the uses of every purpose with
and without an authorisation, as the reporting these rules require asks."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from pydantic import BaseModel, Field

from ..fsutil import write_atomic
from ..pipeline.imaging import sha256_bytes
from ..store import authorisations as rows
from ..store.watch_tables import CaseAuthorisation
from ..vocabulary import Action
from .auditing import record
from .case_access import may_read_case
from .context import Actor, Context
from .errors import Forbidden, Invalid
from .roles import allowed
from .when import iso, parse_when, utc

TEXT_MAX = 1000
CASE_MAX = 200
DOCUMENTS = "authorisations"  # folder of the home that keeps the documents, named by their SHA-256
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
# Uses counted by the yearly report: everything that compares faces under a purpose.
USES = (
    Action.SEARCH.value,
    Action.VERIFY.value,
    Action.PEOPLE_TOGETHER.value,
    Action.WATCH_ADD.value,
    Action.WATCH_HIT.value,
)


class AuthorisationRequired(Forbidden):
    """A use under a purpose that requires an authorisation, without one in force for its case."""


@dataclass(frozen=True)
class Document:
    """The authorisation's document as given: a name (kept as provenance, never used as a path) and its bytes."""

    name: str
    data: bytes


class AuthorisationDocument(BaseModel):
    """The authorisation's document: its name as given and its SHA-256 (the file is kept in the home)."""

    name: str
    sha256: str


class AuthorisationInfo(BaseModel):
    """A recorded authorisation of a case, and whether it is in force now."""

    id: int
    case_ref: str
    authority: str = Field(description="Who granted it (a court, a prosecutor, an administrative authority).")
    reference: str = Field(description="The decision's reference.")
    granted: str = Field(description="In force from (ISO 8601, UTC).")
    expires: str = Field(description="In force until, exclusive (ISO 8601, UTC).")
    document: AuthorisationDocument | None
    recorded_by: str
    recorded_at: str | None
    live: bool = Field(description="In force now.")


class PurposeYear(BaseModel):
    """One purpose's uses in a year: by kind, and with or without an authorisation of their case."""

    purpose: str
    requires_authorisation: bool
    uses: int = Field(description="Searches, verifies, co-appearance searches, watches added and watch hits.")
    searches: int
    verifies: int
    together: int
    watches: int
    watch_hits: int
    with_authorisation: int = Field(description="Uses covered by an authorisation of their case.")
    without_authorisation: int
    urgent_pending: int = Field(
        description="Of those without: urgent uses whose authorisation is not recorded (yet): flagged in reports."
    )
    refused: int


class PurposeYearReport(BaseModel):
    year: int
    purposes: list[PurposeYear]


# Rules -------------------------------------------------------------------------------------------
def check_authorisation(ctx: Context, actor: Actor, case_ref: str, code: str) -> None:
    """Part of the search gate: refuse a use under a purpose that requires an authorisation when none is in
    force for the case, unless the purpose's urgent window (from the case's first urgent use) is still open."""
    urgent = rows.purpose_rules(ctx.store, [code])
    if code not in urgent:
        return
    now = utc(ctx.now())
    if rows.live_cases(ctx.store, [case_ref], now):
        return
    hours = urgent[code]
    command = f"`facesearch cases authorise {case_ref} --authority ... --reference ... --granted ... --expires ...`"
    if hours:
        started = utc(rows.start_urgent(ctx.store, case_ref, code, now, actor.name))
        if now < started + timedelta(hours=hours):
            return
        raise AuthorisationRequired(
            f"purpose {code} requires an authorisation of case {case_ref}: none is in force, and the {hours} "
            f"hours of urgent use since {started.isoformat(timespec='seconds')} are over; an admin records it "
            f"with {command}",
            reason="authorisation_required",
        )
    raise AuthorisationRequired(
        f"purpose {code} requires an authorisation of case {case_ref}, and none is in force; an admin records it "
        f"with {command}",
        reason="authorisation_required",
    )


def may_run(ctx: Context, pairs: Iterable[tuple[str, str]], now: datetime) -> set[tuple[str, str]]:
    """Of these (case, purpose code) pairs, those a use may run under now: the purpose needs no authorisation,
    the case has one in force, or its urgent window is open. Reads only (a watch that runs starts no window)."""
    wanted = set(pairs)
    needs = rows.purpose_rules(ctx.store, {code for _, code in wanted})
    gated = [(c, p) for c, p in wanted if p in needs]
    if not gated:
        return wanted
    live = rows.live_cases(ctx.store, [c for c, _ in gated], now)
    started = rows.urgent_started(ctx.store, [c for c, _ in gated])
    out = {pair for pair in wanted if pair[1] not in needs}
    for case, code in gated:
        began = started.get((case, code))
        hours = needs[code]
        if case in live or (hours and began is not None and now < utc(began) + timedelta(hours=hours)):
            out.add((case, code))
    return out


@dataclass(frozen=True)
class Basis:
    """What a use rested on: `authorised` (an authorisation in force then), `authorised_after` (an urgent use
    that an authorisation granted within the urgent window covers), `urgent` (no such authorisation recorded
    yet: flagged), or `none`."""

    kind: str
    authorisation: CaseAuthorisation | None = None

    @property
    def covered(self) -> bool:
        return self.kind in ("authorised", "authorised_after")

    def text(self) -> str:
        a = self.authorisation
        named = f"authorisation #{a.id} ({a.authority}, {a.reference})" if a is not None else ""
        return {
            "authorised": named,
            "authorised_after": f"urgent use, then {named} granted within the urgent window",
            "urgent": "URGENT USE: no authorisation of the case recorded for it yet",
            "none": "no authorisation of the case recorded",
        }[self.kind]


def basis(ts: str | datetime, urgent_hours: int | None, case_auths: Sequence[CaseAuthorisation]) -> Basis:
    """The basis of a use at `ts` of a case with these authorisations, under a purpose whose urgent window is
    `urgent_hours` (None: no urgency)."""
    when = utc(ts if isinstance(ts, datetime) else datetime.fromisoformat(ts))
    for a in case_auths:
        if utc(a.granted_at) <= when < utc(a.expires_at):
            return Basis("authorised", a)
    if urgent_hours:
        for a in case_auths:
            if when <= utc(a.granted_at) <= when + timedelta(hours=urgent_hours):
                return Basis("authorised_after", a)
        return Basis("urgent")
    return Basis("none")


def purpose_rules(ctx: Context) -> dict[str, int | None]:
    """Purposes that require an authorisation: code -> urgent hours (None: no urgent use)."""
    return rows.purpose_rules(ctx.store)


def case_auths(ctx: Context, case_refs: Sequence[str]) -> dict[str, list[CaseAuthorisation]]:
    out: dict[str, list[CaseAuthorisation]] = defaultdict(list)
    for a in rows.authorisations(ctx.store, case_refs):
        out[a.case_ref].append(a)
    return out


def info(a: CaseAuthorisation, now: datetime) -> AuthorisationInfo:
    document = (
        AuthorisationDocument(name=a.document_name or "", sha256=a.document_sha256) if a.document_sha256 else None
    )
    return AuthorisationInfo(
        id=a.id,
        case_ref=a.case_ref,
        authority=a.authority,
        reference=a.reference,
        granted=iso(a.granted_at) or "",
        expires=iso(a.expires_at) or "",
        document=document,
        recorded_by=a.recorded_by,
        recorded_at=iso(a.recorded_at),
        live=utc(a.granted_at) <= now < utc(a.expires_at),
    )


def _text(value: str | None, name: str, limit: int = TEXT_MAX) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid(f"an authorisation needs its {name}", field=name)
    if len(value) > limit:
        raise Invalid(f"the {name} is longer than {limit} characters", field=name)
    return value


# Use cases ---------------------------------------------------------------------------------------
@allowed("admin")
def authorise(
    ctx: Context,
    actor: Actor,
    case_ref: str,
    *,
    authority: str,
    reference: str,
    granted: str | date | datetime,
    expires: str | date | datetime,
    document: Document | None = None,
) -> AuthorisationInfo:
    """Record a case's authorisation: who granted it, its reference, from when and until when it is in force
    (a bare date: that whole day, UTC), and optionally its document (kept in the home under its SHA-256, which
    the audit entry and the reports name). Logged."""
    case = _text(case_ref, "case reference", CASE_MAX)
    who, ref = _text(authority, "authority"), _text(reference, "reference")
    start, end = parse_when(granted, "granted"), parse_when(expires, "expires", end=True)
    if end <= start:
        raise Invalid("an authorisation expires after it is granted", field="expires")
    name = sha = None
    if document is not None:
        if len(document.data) > ctx.settings.max_upload_bytes:
            raise Invalid(
                f"the document is larger than {ctx.settings.max_upload_bytes} bytes (FACESEARCH_MAX_UPLOAD_BYTES)",
                field="document",
            )
        if not document.data:
            raise Invalid("the document is empty", field="document")
        sha = sha256_bytes(document.data)
        name = (_UNSAFE.sub("_", document.name.replace("\\", "/").rsplit("/", 1)[-1]).strip(". ") or "document")[:200]
        path = ctx.settings.home / DOCUMENTS / sha
        if not path.exists():
            write_atomic(path, document.data)
    row = rows.add_authorisation(
        ctx.store,
        case_ref=case,
        authority=who,
        reference=ref,
        granted_at=start,
        expires_at=end,
        document_name=name,
        document_sha256=sha,
        recorded_by=actor.name,
        recorded_at=utc(ctx.now()),
    )
    record(
        ctx,
        actor,
        Action.CASE_AUTHORISE,
        case_ref=case,
        results={"authorisation": row.id},
        details={
            "authority": who,
            "reference": ref,
            "granted": start.isoformat(),
            "expires": end.isoformat(),
            "document_sha256": sha,
            "document_name": name,
        },
    )
    return info(row, utc(ctx.now()))


@allowed("admin", "auditor", "examiner")
def case_authorisations(ctx: Context, actor: Actor, case_ref: str) -> list[AuthorisationInfo]:
    """A case's authorisations, oldest first: admins and auditors any case, an examiner the cases they took
    part in (as for the case report)."""
    if not may_read_case(ctx, case_ref, actor):
        raise Forbidden("examiners read the authorisations of cases they took part in")
    now = utc(ctx.now())
    return [info(a, now) for a in rows.authorisations(ctx.store, [case_ref])]


@allowed("admin")
def recent_authorisations(ctx: Context, actor: Actor, limit: int = 50) -> list[AuthorisationInfo]:
    """The newest authorisations of every case (the admin's case page)."""
    now = utc(ctx.now())
    return [info(a, now) for a in reversed(rows.authorisations(ctx.store)[-max(1, limit) :])]


@allowed("auditor", "admin")
def purpose_year_report(ctx: Context, actor: Actor, year: int) -> PurposeYearReport:
    """Per purpose, the uses of a calendar year (UTC) by kind, with and without an authorisation of their case
    (read from the audit log and the recorded authorisations): the yearly report of these uses."""
    if not 1970 <= year <= 9999:
        raise Invalid("a year between 1970 and 9999")
    since = datetime(year, 1, 1, tzinfo=timezone.utc).isoformat(timespec="microseconds")
    until = datetime(year + 1, 1, 1, tzinfo=timezone.utc).isoformat(timespec="microseconds")
    uses = rows.uses_between(ctx.store, USES, since, until)
    rules = rows.purpose_rules(ctx.store)
    auths = case_auths(ctx, sorted({u.case_ref for u in uses if u.case_ref}))
    kinds = {
        Action.SEARCH.value: "searches",
        Action.VERIFY.value: "verifies",
        Action.PEOPLE_TOGETHER.value: "together",
        Action.WATCH_ADD.value: "watches",
        Action.WATCH_HIT.value: "watch_hits",
    }
    groups: dict[str, dict[str, int]] = {}
    for u in uses:
        code = (u.purpose or "").split(":", 1)[0].strip() or "(none)"
        g = groups.setdefault(code, dict.fromkeys(PurposeYear.model_fields, 0))
        if u.outcome == "refused":
            g["refused"] += 1
            continue
        g[kinds[u.action]] += 1
        g["uses"] += 1
        b = basis(u.ts, rules.get(code), auths.get(u.case_ref or "", []))
        if b.covered:
            g["with_authorisation"] += 1
        else:
            g["without_authorisation"] += 1
            g["urgent_pending"] += b.kind == "urgent"
    return PurposeYearReport(
        year=year,
        purposes=[
            PurposeYear.model_validate({**g, "purpose": code, "requires_authorisation": code in rules})
            for code, g in sorted(groups.items())
        ],
    )
