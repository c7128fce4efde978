"""Case disclosure reports (every search and verify of a case, every candidate with its review history,
the model's known limitations) and usage reports per purpose or per case. Both are rebuilt from the audit
log, never from a second copy that could disagree with it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..calibration.tables import load_table
from ..calibration.wording import decision_text, fmr_text, threshold_text
from ..config import Settings
from ..errors import FacesearchError
from ..store import Store
from ..store.accounts import AuditEntry
from ..store.audit import CASE_REPORT, PEOPLE_TOGETHER, SEARCH, VERIFY, entry_dict
from ..store.governance_tables import Proposal
from .context import Actor, Context
from .errors import Forbidden, Invalid
from .review import STAMP, candidates_of, proposals_for, status_of
from .roles import allowed

TEMPLATES = Path(__file__).resolve().parent / "templates"


def case_entries(store: Store, case_ref: str) -> list[dict[str, Any]]:
    with store.session() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.case_ref == case_ref, AuditEntry.action.in_((SEARCH, VERIFY)))
            .order_by(AuditEntry.seq)
        ).all()
    return [entry_dict(r) for r in rows]


def together_entries(store: Store, case_ref: str) -> list[dict[str, Any]]:
    """The case's "who appears with whom" searches (`people together`), refusals included."""
    with store.session() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.case_ref == case_ref, AuditEntry.action == PEOPLE_TOGETHER)
            .order_by(AuditEntry.seq)
        ).all()
    out = []
    for e in (entry_dict(r) for r in rows):
        r = e.get("results") or {}
        d = e.get("details") or {}
        out.append(
            {
                "search_id": e["seq"],
                "kind": PEOPLE_TOGETHER,
                "ts": e["ts"],
                "actor": e["actor"],
                "role": e["role"],
                "purpose": e["purpose"],
                "outcome": e["outcome"],
                "collections": e["collections"],
                "model": e["model"],
                "person": r.get("person", d.get("person")),
                "photos": r.get("photos"),
                "together": r.get("together", []),
                "refusal": d.get("reason"),
            }
        )
    return out


def may_read_case(store: Store, case_ref: str, name: str, role: str) -> bool:
    """Auditors and admins read every case; an examiner the cases they have searched in. A refused search or
    verify makes no one a participant: anyone can be refused under any case reference."""
    if role in ("auditor", "admin"):
        return True
    if role != "examiner":
        return False
    with store.session() as s:
        return (
            s.scalar(
                select(AuditEntry.seq)
                .where(
                    AuditEntry.case_ref == case_ref,
                    AuditEntry.actor == name,
                    AuditEntry.action.in_((SEARCH, VERIFY, PEOPLE_TOGETHER)),
                    AuditEntry.outcome != "refused",
                )
                .limit(1)
            )
            is not None
        )


def model_limitations(settings: Settings, pack: str, threshold: float | None) -> dict[str, Any]:
    try:
        table = load_table(pack, settings.home / "calibration")
    except FacesearchError as exc:
        return {"model": pack, "error": str(exc)}
    at: dict[str, Any] = {}
    if threshold is not None:
        fnmr = table.fnmr_at(threshold)
        at = {
            "threshold": threshold,
            "fmr": float(table.fmr_at(threshold)),
            "fnmr": fnmr,
            "true_match_rate": 1 - fnmr,
            "worst_group_fmr": table.worst_group_fmr_at(threshold),
        }
    return {
        "model": pack,
        "model_version": table.model_version,
        "calibration_dataset": table.dataset,
        "method": table.method,
        "genuine_pairs": table.n_genuine,
        "impostor_pairs": table.n_impostor,
        "lowest_measurable_fmr": table.fmr_floor,
        "policy": table.policy,
        "at_threshold": at,
        "groups": table.groups or {},
        "groups_source": table.groups_source,
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


def build_case_report(settings: Settings, store: Store, case_ref: str, now: str) -> dict[str, Any]:
    entries = case_entries(store, case_ref)
    hist = proposals_for(store, [e["seq"] for e in entries if e["action"] == "search"])
    existing = set(store.face_details(sorted({c["face_id"] for e in entries for c in candidates_of(e)})))
    searches: list[dict[str, Any]] = []
    models: dict[str, float | None] = {}
    counts = {
        "searches": 0,
        "verifies": 0,
        "no_candidates": 0,
        "candidates": 0,
        "proposed": 0,
        "confirmed": 0,
        "rejected": 0,
        "refused": 0,
    }
    for e in entries:
        d = e.get("details") or {}
        th: dict[str, Any] = d["threshold"] if isinstance(d.get("threshold"), dict) else {}
        item: dict[str, Any] = {
            "search_id": e["seq"],
            "kind": e["action"],
            "ts": e["ts"],
            "actor": e["actor"],
            "role": e["role"],
            "purpose": e["purpose"],
            "outcome": e["outcome"],
            "probe_sha256": e["probe_sha256"],
            "collections": e["collections"],
            "model": e["model"],
            "threshold": e["threshold"],
            "threshold_fmr": th.get("fmr"),
            "threshold_reason": th.get("reason") or d.get("threshold_reason"),
            "gallery_size": d.get("gallery_size"),
            "candidates": [],
            "probe_faces": [],
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
            single_pack = "," not in (e["model"] or "")
            for f in e.get("results") or []:
                item["probe_faces"].append(
                    {
                        "face": f.get("face"),
                        "quality": f.get("quality"),
                        "quality_reasons": f.get("quality_reasons"),
                        "skipped": f.get("skipped"),
                        "model": f.get("model"),
                        "model_version": f.get("model_version"),
                    }
                )
                # Each probe face has its pack's threshold; entries written before that was kept have only
                # the search's threshold, which is right when one pack was searched.
                face_threshold = f.get("threshold", e["threshold"] if single_pack else None)
                for m in f.get("matches", []):
                    h = hist.get((e["seq"], f.get("face", 0), m["face_id"]), [])
                    status = status_of(h)
                    counts["candidates"] += 1
                    if status in counts:
                        counts[status] += 1
                    item["candidates"].append(
                        {
                            **m,
                            "probe_face": f.get("face", 0),
                            "status": status,
                            "stamp": None if status == "confirmed" else STAMP,
                            "history": h,
                            "erased": m["face_id"] not in existing,
                            "decision": (
                                decision_text(bool(m["above_threshold"]))
                                if "above_threshold" in m
                                else threshold_text(m["score"], face_threshold)
                                if face_threshold is not None and m.get("score") is not None
                                else None
                            ),
                        }
                    )
            if item["outcome"] != "refused" and not item["candidates"]:
                counts["no_candidates"] += 1
            item["no_candidates"] = item["outcome"] != "refused" and not item["candidates"]
        for pack in (e["model"] or "").split(","):
            if pack:
                models.setdefault(pack, e["threshold"])
        searches.append(item)
    together = together_entries(store, case_ref)
    counts["together"] = len(together)
    return {
        "case_ref": case_ref,
        "generated_at": now,
        "stamp": STAMP,
        "summary": counts,
        "searches": searches,
        "together": together,
        "limitations": [model_limitations(settings, p, t) for p, t in sorted(models.items())],
        "notice": (
            "Every candidate not confirmed by two different examiners is an investigative lead, not an "
            "identification. Searches that returned no candidate and refused searches are listed too."
        ),
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

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    ids = [c["face_id"] for s in report["searches"] for c in s["candidates"]]
    unconfirmed = any(c["status"] != "confirmed" for s in report["searches"] for c in s["candidates"])
    return env.get_template("case_report.html").render(
        r=report,
        thumbs=_thumb_data(settings, store, ids),
        unconfirmed=unconfirmed,
        dumps=lambda v: json.dumps(v, ensure_ascii=False),
        fmr_text=fmr_text,
        threshold_text=threshold_text,
    )


@allowed("auditor", "admin")
def usage_report(ctx: Context, actor: Actor, by: str = "purpose") -> list[dict[str, Any]]:
    """Per purpose (or case): searches, by whom, searches without candidates, leads proposed/confirmed."""
    store = ctx.store
    if by not in ("purpose", "case"):
        raise Invalid("report by purpose or case")
    col = AuditEntry.purpose if by == "purpose" else AuditEntry.case_ref
    groups: dict[str, dict[str, Any]] = {}
    key_of: dict[int, str] = {}
    with store.session() as s:
        rows = s.execute(
            select(AuditEntry.seq, col, AuditEntry.actor, AuditEntry.action, AuditEntry.outcome).where(
                AuditEntry.action.in_((SEARCH, VERIFY))
            )
        ).all()
        props = s.execute(select(Proposal.search_id, Proposal.status)).all()
    for seq, key, who, action, outcome in rows:
        # Purposes are entered as CODE or 'CODE: note'; reports count them by code.
        k: str = (str(key).split(":", 1)[0].strip() if by == "purpose" and key else key) or "(none)"
        key_of[seq] = k
        g = groups.setdefault(
            k,
            {
                by: k,
                "searches": 0,
                "verifies": 0,
                "refused": 0,
                "users": {},
                "no_candidates": 0,
                "proposed": 0,
                "confirmed": 0,
                "rejected": 0,
            },
        )
        if outcome == "refused":
            g["refused"] += 1
            continue
        g["searches" if action == "search" else "verifies"] += 1
        g["users"][who or "?"] = g["users"].get(who or "?", 0) + 1
        if outcome == "no_candidates":
            g["no_candidates"] += 1
    for search_id, status in props:
        group = key_of.get(search_id)
        if group is not None and status in ("proposed", "confirmed", "rejected"):
            groups[group][status] += 1
    return sorted(groups.values(), key=lambda g: str(g[by]))


@allowed("examiner", "auditor", "admin")
def case_report(ctx: Context, actor: Actor, case_ref: str, fmt: str = "json") -> tuple[dict[str, Any], str]:
    """The disclosure report of a case, as data and as text in `fmt` (json, or html: self-contained and
    printable). Auditors read every case; an examiner the cases they have searched in. Logged."""
    if fmt not in ("json", "html"):
        raise Invalid("format must be json or html")
    if not may_read_case(ctx.store, case_ref, actor.name, actor.role):
        raise Forbidden("examiners read the reports of cases they have searched in; ask an auditor for this one")
    report = build_case_report(ctx.settings, ctx.store, case_ref, ctx.now().isoformat(timespec="seconds"))
    text = (
        json.dumps(report, indent=1, ensure_ascii=False)
        if fmt == "json"
        else render_case_html(ctx.settings, ctx.store, report)
    )
    ctx.audit.record(
        CASE_REPORT,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        case_ref=case_ref,
        details={"format": fmt, "searches": len(report["searches"])},
    )
    return report, text
