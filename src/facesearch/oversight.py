"""Oversight of searching: the kill switch, allowed purposes, per-user limits, two-person confirmation of
leads, and the case disclosure report.

Everything here reads the audit log as the record of what was searched: a case report is rebuilt from it,
never from a second copy that could disagree with it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import defaultdict, deque
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from .errors import FacesearchError
from .store import Store
from .store.accounts import AuditEntry
from .store.governance_tables import Proposal, Purpose, SystemFlag

if TYPE_CHECKING:
    from .audit import AuditLog
    from .config import Settings

STAMP = "investigative lead — not an identification"
STATUSES = ("lead", "proposed", "confirmed", "rejected")
SUSPEND_KEY = "search_suspended"
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

# Audit actions of this area.
SEARCH_SUSPEND = "search_suspend"
SEARCH_RESUME = "search_resume"
PURPOSE_ADD = "purpose_add"
PURPOSE_RETIRE = "purpose_retire"
PROPOSE = "lead_propose"
CONFIRM = "lead_confirm"
REJECT = "lead_reject"
CASE_REPORT = "case_report"
VIEW_SEARCH = "view_search"


class SearchSuspended(FacesearchError):
    """An admin has suspended all searching."""


class PurposeError(FacesearchError):
    def __init__(self, message: str, allowed: list[dict[str, str]]) -> None:
        self.allowed = allowed
        super().__init__(message)


class LimitExceeded(FacesearchError):
    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ReviewError(FacesearchError):
    """A proposal or decision that the two-person rule does not allow; `status` is the HTTP status."""

    def __init__(self, message: str, status: int = 409) -> None:
        self.status = status
        super().__init__(message)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


# Kill switch ------------------------------------------------------------------------------------
def suspension(store: Store) -> dict[str, Any] | None:
    with store.session() as s:
        row = s.get(SystemFlag, SUSPEND_KEY)
    if row is None or not row.value or not row.value.get("suspended"):
        return None
    return dict(row.value)


def check_not_suspended(store: Store) -> None:
    st = suspension(store)
    if st:
        raise SearchSuspended(f"searching is suspended (by {st.get('by')} at {st.get('at')}"
                              f"{': ' + st['reason'] if st.get('reason') else ''}); an admin resumes it "
                              "with `facesearch search-resume`")


def set_suspended(store: Store, suspended: bool, *, actor: str, role: str | None = None, ip: str | None = None,
                  reason: str = "", audit: AuditLog) -> dict[str, Any]:
    value = {"suspended": suspended, "by": actor, "at": _now().isoformat(timespec="seconds"), "reason": reason}
    with store.session.begin() as s:
        s.merge(SystemFlag(key=SUSPEND_KEY, value=value, updated_at=_now(), updated_by=actor))
    audit.record(SEARCH_SUSPEND if suspended else SEARCH_RESUME, actor=actor, role=role, ip=ip,
                 details={"reason": reason})
    return value


# Purposes ---------------------------------------------------------------------------------------
def purpose_dict(p: Purpose) -> dict[str, Any]:
    return {"code": p.code, "description": p.description, "active": p.retired_at is None,
            "created_at": _iso(p.created_at), "created_by": p.created_by, "retired_at": _iso(p.retired_at),
            "retired_by": p.retired_by}


def list_purposes(store: Store, include_retired: bool = True) -> list[dict[str, Any]]:
    with store.session() as s:
        stmt = select(Purpose).order_by(Purpose.code)
        if not include_retired:
            stmt = stmt.where(Purpose.retired_at.is_(None))
        return [purpose_dict(p) for p in s.scalars(stmt)]


def add_purpose(store: Store, code: str, description: str, *, actor: str, role: str | None = None,
                ip: str | None = None, audit: AuditLog) -> dict[str, Any]:
    code = code.strip()
    if not _CODE.match(code):
        raise FacesearchError("a purpose code is 1-64 letters, digits and . _ : - (e.g. LE-ART10)")
    if not description.strip():
        raise FacesearchError("a purpose needs a description (e.g. the legal provision it rests on)")
    with store.session.begin() as s:
        if s.get(Purpose, code) is not None:
            raise FacesearchError(f"purpose {code!r} already exists (retired codes are not reused, so old "
                                  "audit entries keep their meaning)")
        row = Purpose(code=code, description=description.strip(), created_by=actor)
        s.add(row)
    audit.record(PURPOSE_ADD, actor=actor, role=role, ip=ip, purpose=code, details={"description": description})
    return purpose_dict(row)


def retire_purpose(store: Store, code: str, *, actor: str, role: str | None = None, ip: str | None = None,
                   audit: AuditLog) -> dict[str, Any]:
    with store.session.begin() as s:
        row = s.get(Purpose, code)
        if row is None:
            raise FacesearchError(f"no purpose {code!r}")
        if row.retired_at is not None:
            raise FacesearchError(f"purpose {code!r} is already retired")
        row.retired_at, row.retired_by = _now(), actor
    audit.record(PURPOSE_RETIRE, actor=actor, role=role, ip=ip, purpose=code)
    return purpose_dict(row)


def check_purpose(store: Store, purpose: str) -> str:
    """The purpose code if it is on the active list, else PurposeError carrying the allowed ones."""
    allowed = [{"code": p["code"], "description": p["description"]} for p in list_purposes(store, False)]
    code = purpose.strip()
    if any(a["code"] == code for a in allowed):
        return code
    if not allowed:
        msg = ("no search purposes are defined yet: an admin adds them "
               "(`facesearch purposes add CODE --description TEXT`)")
    else:
        msg = f"purpose {code!r} is not on the list of allowed purposes: " + ", ".join(a["code"] for a in allowed)
    raise PurposeError(msg, allowed)


# Limits -----------------------------------------------------------------------------------------
class SearchLimiter:
    """Per-user searches per minute (in memory, per process) and per UTC day (counted in the audit log,
    so a restart does not reset a quota)."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, store: Store, user: str, per_minute: int, per_day: int) -> None:
        now = time.monotonic()
        if per_minute > 0:
            with self._lock:
                q = self._recent[user]
                while q and now - q[0] >= 60:
                    q.popleft()
                if len(q) >= per_minute:
                    raise LimitExceeded(f"rate limit: at most {per_minute} searches per minute per user "
                                        "(FACESEARCH_SEARCH_RATE_PER_MINUTE)", int(60 - (now - q[0])) + 1)
                q.append(now)
        if per_day > 0:
            day = _now().replace(hour=0, minute=0, second=0, microsecond=0).isoformat(timespec="microseconds")
            with store.session() as s:
                n = s.scalar(select(func.count(AuditEntry.seq)).where(
                    AuditEntry.actor == user, AuditEntry.action.in_(("search", "verify")), AuditEntry.ts >= day,
                    AuditEntry.outcome != "refused")) or 0
            if n >= per_day:
                raise LimitExceeded(f"daily quota reached: {per_day} searches per user per day "
                                    "(FACESEARCH_SEARCH_DAILY_QUOTA)", 3600)


# Two-person confirmation ------------------------------------------------------------------------
def _entry(store: Store, seq: int) -> dict[str, Any] | None:
    from .audit import entry_dict

    with store.session() as s:
        row = s.get(AuditEntry, seq)
    return entry_dict(row) if row is not None else None


def search_entry(store: Store, search_id: int) -> dict[str, Any]:
    e = _entry(store, search_id)
    if e is None or e["action"] != "search" or e["outcome"] == "refused":
        raise ReviewError(f"no search with id {search_id}", 404)
    return e


def candidates_of(entry: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for f in entry.get("results") or []:
        for m in f.get("matches", []):
            out.append({"probe_face": f.get("face", 0), **m})
    return out


def proposal_dict(p: Proposal) -> dict[str, Any]:
    return {"id": p.id, "search_id": p.search_id, "probe_face": p.probe_face, "face_id": p.face_id,
            "case_ref": p.case_ref, "status": p.status, "proposed_by": p.proposed_by,
            "proposed_at": _iso(p.proposed_at), "note": p.note, "decided_by": p.decided_by,
            "decided_at": _iso(p.decided_at), "decision_note": p.decision_note, "candidate": p.candidate}


def proposals_for(store: Store, search_ids: list[int]) -> dict[tuple[int, int, int], list[dict[str, Any]]]:
    """Proposal history per (search, probe face, gallery face), oldest first."""
    out: dict[tuple[int, int, int], list[dict[str, Any]]] = defaultdict(list)
    if not search_ids:
        return out
    with store.session() as s:
        for p in s.scalars(select(Proposal).where(Proposal.search_id.in_(search_ids)).order_by(Proposal.id)):
            out[(p.search_id, p.probe_face, p.face_id)].append(proposal_dict(p))
    return out


def status_of(history: list[dict[str, Any]]) -> str:
    return history[-1]["status"] if history else "lead"


def annotate(result: dict[str, Any], store: Store | None = None, search_id: int | None = None) -> None:
    """Put the review status and, where unconfirmed, the stamp on every candidate of a search answer."""
    hist = proposals_for(store, [search_id]) if store is not None and search_id is not None else {}
    for f in result.get("faces", []):
        for m in f.get("matches", []):
            status = status_of(hist.get((search_id or 0, f.get("face", 0), m["face_id"]), []))
            m["status"] = status
            m["stamp"] = None if status == "confirmed" else STAMP


def propose(store: Store, search_id: int, face_id: int, note: str, *, actor: str, role: str | None = None,
            probe_face: int = 0, ip: str | None = None, audit: AuditLog) -> dict[str, Any]:
    entry = search_entry(store, search_id)
    if not note.strip():
        raise ReviewError("a proposal needs a note: why is this candidate the probe's person?", 422)
    cand = next((c for c in candidates_of(entry) if c["face_id"] == face_id and c["probe_face"] == probe_face), None)
    if cand is None:
        raise ReviewError(f"face {face_id} is not a candidate of search {search_id} (probe face {probe_face})", 404)
    with store.session.begin() as s:
        prior = list(s.scalars(select(Proposal).where(Proposal.search_id == search_id, Proposal.face_id == face_id,
                                                      Proposal.probe_face == probe_face).order_by(Proposal.id)))
        if prior and prior[-1].status in ("proposed", "confirmed"):
            raise ReviewError(f"this candidate is already {prior[-1].status} (proposal {prior[-1].id})")
        row = Proposal(search_id=search_id, probe_face=probe_face, face_id=face_id, seq=len(prior) + 1,
                       case_ref=entry["case_ref"], candidate=cand, status="proposed", proposed_by=actor,
                       note=note.strip())
        s.add(row)
        s.flush()
        out = proposal_dict(row)
    audit.record(PROPOSE, actor=actor, role=role, ip=ip, case_ref=entry["case_ref"], purpose=entry["purpose"],
                 results={"proposal": out["id"], "search_id": search_id, "face_id": face_id,
                          "probe_face": probe_face, "score": cand.get("score"), "fmr": cand.get("fmr")},
                 details={"note": out["note"]})
    return out


def decide(store: Store, proposal_id: int, decision: str, note: str, *, actor: str, role: str | None = None,
           ip: str | None = None, audit: AuditLog) -> dict[str, Any]:
    if decision not in ("confirmed", "rejected"):
        raise ReviewError("a decision is confirmed or rejected", 422)
    with store.session.begin() as s:
        row = s.get(Proposal, proposal_id)
        if row is None:
            raise ReviewError(f"no proposal {proposal_id}", 404)
        if row.proposed_by == actor:
            outcome = "refused"
        elif row.status != "proposed":
            raise ReviewError(f"proposal {proposal_id} is already {row.status}")
        else:
            outcome = "ok"
            row.status, row.decided_by, row.decided_at = decision, actor, _now()
            row.decision_note = note.strip()
        out = proposal_dict(row)
    action = CONFIRM if decision == "confirmed" else REJECT
    audit.record(action, actor=actor, role=role, ip=ip, case_ref=out["case_ref"], outcome=outcome,
                 results={"proposal": proposal_id, "search_id": out["search_id"], "face_id": out["face_id"],
                          "status": out["status"]},
                 details={"note": note.strip(), "proposed_by": out["proposed_by"]})
    if outcome == "refused":
        raise ReviewError("self-confirmation refused: a second, different examiner must confirm or reject "
                          "a proposal", 403)
    return out


def list_proposals(store: Store, case_ref: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    with store.session() as s:
        stmt = select(Proposal).order_by(Proposal.id.desc())
        if case_ref:
            stmt = stmt.where(Proposal.case_ref == case_ref)
        if status:
            stmt = stmt.where(Proposal.status == status)
        return [proposal_dict(p) for p in s.scalars(stmt.limit(1000))]


# Case report ------------------------------------------------------------------------------------
def case_entries(store: Store, case_ref: str) -> list[dict[str, Any]]:
    from .audit import entry_dict

    with store.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.case_ref == case_ref,
                                                  AuditEntry.action.in_(("search", "verify")))
                         .order_by(AuditEntry.seq)).all()
    return [entry_dict(r) for r in rows]


def may_read_case(store: Store, case_ref: str, name: str, role: str) -> bool:
    """Auditors read every case; an examiner the cases they have searched in."""
    if role == "auditor":
        return True
    if role != "examiner":
        return False
    with store.session() as s:
        return s.scalar(select(AuditEntry.seq).where(AuditEntry.case_ref == case_ref, AuditEntry.actor == name,
                                                     AuditEntry.action.in_(("search", "verify"))).limit(1)) is not None


def model_limitations(settings: Settings, pack: str, threshold: float | None) -> dict[str, Any]:
    from .calibration import load_table

    try:
        table = load_table(pack, settings.home / "calibration")
    except FacesearchError as exc:
        return {"model": pack, "error": str(exc)}
    at: dict[str, Any] = {}
    if threshold is not None:
        fnmr = table.fnmr_at(threshold)
        at = {"threshold": threshold, "fmr": float(table.fmr_at(threshold)), "fnmr": fnmr,
              "true_match_rate": 1 - fnmr, "worst_group_fmr": table.worst_group_fmr_at(threshold)}
    return {
        "model": pack, "model_version": table.model_version, "calibration_dataset": table.dataset,
        "method": table.method, "genuine_pairs": table.n_genuine, "impostor_pairs": table.n_impostor,
        "lowest_measurable_fmr": table.fmr_floor, "policy": table.policy, "at_threshold": at,
        "groups": table.groups or {}, "groups_source": table.groups_source,
        "known_flaws": [
            "Accuracy was measured on LFW (mostly frontal, well-lit news photos of adults); low light, "
            "blur, occlusion, strong pose, children and aged photos give more misses and more false matches.",
            "Error rates differ between demographic groups; groups with too few measured pairs are marked "
            "not measurable and their rates are unknown.",
            "In a 1:N search the expected number of false candidates grows with the gallery size "
            "(about FMR x gallery faces per search).",
            "A candidate above the threshold is a lead for a human examiner, never an identification.",
        ],
    }


def case_report(settings: Settings, store: Store, case_ref: str) -> dict[str, Any]:
    entries = case_entries(store, case_ref)
    hist = proposals_for(store, [e["seq"] for e in entries if e["action"] == "search"])
    existing = set(store.face_details(sorted({c["face_id"] for e in entries for c in candidates_of(e)})))
    searches: list[dict[str, Any]] = []
    models: dict[str, float | None] = {}
    counts = {"searches": 0, "verifies": 0, "no_candidates": 0, "candidates": 0, "proposed": 0, "confirmed": 0,
              "rejected": 0, "refused": 0}
    for e in entries:
        d = e.get("details") or {}
        th: dict[str, Any] = d["threshold"] if isinstance(d.get("threshold"), dict) else {}
        item: dict[str, Any] = {
            "search_id": e["seq"], "kind": e["action"], "ts": e["ts"], "actor": e["actor"], "role": e["role"],
            "purpose": e["purpose"], "outcome": e["outcome"], "probe_sha256": e["probe_sha256"],
            "collections": e["collections"], "model": e["model"], "threshold": e["threshold"],
            "threshold_fmr": th.get("fmr"), "threshold_reason": th.get("reason") or d.get("threshold_reason"),
            "gallery_size": d.get("gallery_size"), "candidates": [], "probe_faces": [],
        }
        if e["outcome"] == "refused":
            counts["refused"] += 1
            item["refusal"] = d.get("reason")
        if e["action"] == "verify":
            counts["verifies"] += 1
            item["verify"] = e.get("results")
            item["quality"] = d.get("quality")
            item["model_version"] = d.get("model_version")
        else:
            counts["searches"] += 1
            for f in e.get("results") or []:
                item["probe_faces"].append({"face": f.get("face"), "quality": f.get("quality"),
                                            "quality_reasons": f.get("quality_reasons"), "skipped": f.get("skipped"),
                                            "model": f.get("model"), "model_version": f.get("model_version")})
                for m in f.get("matches", []):
                    h = hist.get((e["seq"], f.get("face", 0), m["face_id"]), [])
                    status = status_of(h)
                    counts["candidates"] += 1
                    if status in counts:
                        counts[status] += 1
                    item["candidates"].append({
                        **m, "probe_face": f.get("face", 0), "status": status,
                        "stamp": None if status == "confirmed" else STAMP, "history": h,
                        "erased": m["face_id"] not in existing,
                        "thumbnail_url": (f"/api/v1/faces/{m['face_id']}/thumbnail"
                                          if m["face_id"] in existing else None)})
            if item["outcome"] != "refused" and not item["candidates"]:
                counts["no_candidates"] += 1
            item["no_candidates"] = item["outcome"] != "refused" and not item["candidates"]
        for pack in (e["model"] or "").split(","):
            if pack:
                models.setdefault(pack, e["threshold"])
        searches.append(item)
    return {
        "case_ref": case_ref, "generated_at": _now().isoformat(timespec="seconds"), "stamp": STAMP,
        "summary": counts, "searches": searches,
        "limitations": [model_limitations(settings, p, t) for p, t in sorted(models.items())],
        "notice": ("Every candidate not confirmed by two different examiners is an investigative lead, not an "
                   "identification. Searches that returned no candidate and refused searches are listed too."),
    }


def _thumb_data(settings: Settings, store: Store, face_ids: list[int]) -> dict[int, str]:
    out = {}
    for fid, d in store.face_details(face_ids).items():
        path = Path(settings.thumbs_dir / d["thumbnail"])
        if path.is_file():
            out[fid] = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
    return out


def render_case_html(settings: Settings, store: Store, report: dict[str, Any]) -> str:
    """A self-contained HTML page (styles inline, thumbnails as data URIs, no script), printable, with the
    stamp repeated on every printed page while any candidate is unconfirmed."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "web" / "templates"),
                      autoescape=select_autoescape(["html"]))
    ids = [c["face_id"] for s in report["searches"] for c in s["candidates"]]
    unconfirmed = any(c["status"] != "confirmed" for s in report["searches"] for c in s["candidates"])
    return env.get_template("case_report.html").render(
        r=report, thumbs=_thumb_data(settings, store, ids), unconfirmed=unconfirmed,
        dumps=lambda v: json.dumps(v, ensure_ascii=False))


# Reports per purpose and per case ---------------------------------------------------------------
def usage_report(store: Store, by: str = "purpose") -> list[dict[str, Any]]:
    """Per purpose (or case): searches, by whom, searches without candidates, leads proposed/confirmed."""
    if by not in ("purpose", "case"):
        raise FacesearchError("report by purpose or case")
    col = AuditEntry.purpose if by == "purpose" else AuditEntry.case_ref
    groups: dict[str, dict[str, Any]] = {}
    key_of: dict[int, str] = {}
    with store.session() as s:
        rows = s.execute(select(AuditEntry.seq, col, AuditEntry.actor, AuditEntry.action, AuditEntry.outcome)
                         .where(AuditEntry.action.in_(("search", "verify")))).all()
        props = s.execute(select(Proposal.search_id, Proposal.status)).all()
    for seq, key, actor, action, outcome in rows:
        # Purposes are entered as CODE or 'CODE: note'; reports count them by code.
        k: str = (str(key).split(":", 1)[0].strip() if by == "purpose" and key else key) or "(none)"
        key_of[seq] = k
        g = groups.setdefault(k, {by: k, "searches": 0, "verifies": 0, "refused": 0, "users": {},
                                  "no_candidates": 0, "proposed": 0, "confirmed": 0, "rejected": 0})
        if outcome == "refused":
            g["refused"] += 1
            continue
        g["searches" if action == "search" else "verifies"] += 1
        g["users"][actor or "?"] = g["users"].get(actor or "?", 0) + 1
        if outcome == "no_candidates":
            g["no_candidates"] += 1
    for search_id, status in props:
        group = key_of.get(search_id)
        if group is not None and status in ("proposed", "confirmed", "rejected"):
            groups[group][status] += 1
    return sorted(groups.values(), key=lambda g: str(g[by]))
