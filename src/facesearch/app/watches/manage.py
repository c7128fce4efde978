"""Adding, listing, stopping and renewing standing searches.

Adding a watch is a search in all but its timing: it passes the search gate (role, case reference, allowed
purpose, kill switch, limits, and the case's authorisation where the purpose requires one), is counted by the
limits and written to the audit log whatever its outcome. The probe's face is embedded with each model pack the
watch covers and kept as templates under the case (never the photo: only its SHA-256 is logged) until the watch
ends; a watch runs until its `until`, at most FACESEARCH_WATCH_MAX_DAYS ahead, and renewing it passes the gate
again. A watch reports only faces stored after it was added (`from_face_id`)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from ...config import Settings
from ...errors import ProbeError
from ...models import get_entry, is_installed
from ...pipeline.imaging import sha256_bytes
from ...services.uploads import Photo, decode
from ...store import purposes as purpose_rows
from ...store import watches as rows
from ...store.watch_tables import Watch
from ...vocabulary import Action
from ..auditing import record, refusal_recorded
from ..authorisations import may_run
from ..context import Actor, Context, system_actor
from ..errors import Forbidden, Invalid, NotFound
from ..optout import packs_in_use
from ..policy import purpose_code, search_gate
from ..roles import allowed
from ..searching import check_threshold
from ..when import iso, parse_when, utc
from .results import WatchInfo

URL_MAX = 2000


@dataclass(frozen=True)
class WatchRequest:
    case_ref: str | None
    purpose: str | None
    until: str | date | datetime | None
    face: int = 0
    threshold: float | None = None
    collections: list[str] | None = None
    force: bool = False
    webhook: str | None = None


def fingerprint(url: str) -> str:
    """What logs and audit entries say of a webhook: a hash of its URL, never the URL (it may carry a token)."""
    return "sha256:" + hashlib.sha256(url.encode()).hexdigest()[:16]


def _until(ctx: Context, value: str | date | datetime | None) -> datetime:
    """A watch's end: after now, at most FACESEARCH_WATCH_MAX_DAYS ahead (a bare date: that whole day, UTC)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Invalid("a watch needs --until: the date it stops", field="until")
    until = parse_when(value, "until", end=True)
    now = utc(ctx.now())
    most = ctx.settings.watch_max_days
    if until <= now:
        raise Invalid(f"--until {until.isoformat()} is not in the future", field="until")
    if until > now + timedelta(days=most):
        raise Invalid(
            f"a watch runs at most {most} days (FACESEARCH_WATCH_MAX_DAYS): --until is after "
            f"{(now + timedelta(days=most)).isoformat(timespec='seconds')}; renew it before it ends instead",
            field="until",
        )
    return until


def webhook_allowed(settings: Settings, url: str | None) -> str | None:
    """A watch's own webhook: only under a prefix the deployment allows (FACESEARCH_WATCH_WEBHOOK_HOSTS,
    compared by scheme, host, port and path, never as text), only with a signing key set, never with
    credentials in it."""
    if url is None or not url.strip():
        return None
    url = url.strip()
    if len(url) > URL_MAX:
        raise Invalid(f"the webhook URL is longer than {URL_MAX} characters", field="webhook")
    if settings.watch_webhook_secret is None:
        raise Invalid("webhooks are signed: the deployment sets FACESEARCH_WATCH_WEBHOOK_SECRET first", field="webhook")
    given = urlsplit(url)
    if given.scheme not in ("https", "http") or not given.hostname or given.username or given.password:
        raise Invalid("a webhook is an http(s) URL without credentials", field="webhook")
    for prefix in settings.watch_webhook_hosts:
        p = urlsplit(prefix)
        if (
            (p.scheme, p.hostname, p.port) == (given.scheme, given.hostname, given.port)
            and given.path.startswith(p.path or "/")
            and not given.username
        ):
            return url
    raise Forbidden(
        "this webhook is not under a prefix the deployment allows (FACESEARCH_WATCH_WEBHOOK_HOSTS)", field="webhook"
    )


def info(w: Watch, packs: list[str], counts: tuple[int, int]) -> WatchInfo:
    return WatchInfo(
        id=w.id,
        case=w.case_ref,
        purpose=w.purpose,
        owner=w.owner,
        created_at=iso(w.created_at),
        until=iso(w.until),
        status=w.status,
        ended_at=iso(w.ended_at),
        ended_by=w.ended_by,
        end_reason=w.end_reason,
        threshold=w.threshold,
        collections=w.collections,
        face=w.face,
        probe_sha256=w.probe_sha256,
        models=packs,
        webhook=w.webhook_url is not None,
        hits=counts[0],
        unseen=counts[1],
    )


def infos(ctx: Context, watches: list[Watch]) -> list[WatchInfo]:
    ids = [w.id for w in watches]
    packs, counts = rows.template_packs(ctx.store, ids), rows.hit_counts(ctx.store, ids)
    return [info(w, packs.get(w.id, []), counts.get(w.id, (0, 0))) for w in watches]


def _packs(ctx: Context, collections: list[str] | None) -> list[str]:
    """The packs a watch needs templates of: its collections' (they must exist), or every pack in use and the
    deployment's default (collections made later with it are covered too)."""
    if collections:
        known = {c.name: c for c in ctx.store.list_collections()}
        missing = [n for n in collections if n not in known]
        if missing:
            raise Invalid(f"unknown collection(s): {', '.join(missing)}", field="collections")
        return sorted({known[n].model for n in collections})
    packs = packs_in_use(ctx.store)
    if ctx.settings.model not in packs and is_installed(ctx.settings.model, ctx.settings):
        packs.append(ctx.settings.model)
    if not packs:
        raise Invalid("no collection to watch yet: create one first", field="collections")
    return sorted(packs)


def end_lapsed(ctx: Context) -> list[rows.ActiveWatch]:
    """Housekeeping every watch read and check runs first: a watch past its `until` expires; a watch whose
    purpose was retired, or whose case no longer has the authorisation its purpose requires, stops. Each is
    logged, acted by the system. Returns the watches still active."""
    now = utc(ctx.now())
    who = system_actor("watch")
    for w in rows.due_watches(ctx.store, now):
        _end(ctx, who, w.id, w.case_ref, w.purpose, w.owner, "expired", f"its end ({iso(w.until)}) passed")
    active = rows.active_watches(ctx.store, now)
    if not active:
        return []
    runnable = may_run(ctx, {(w.case_ref, purpose_code(w.purpose)) for w in active}, now)
    allowed_now = {p.code for p in purpose_rows.list_purposes(ctx.store, include_retired=False)}
    kept: list[rows.ActiveWatch] = []
    for a in active:
        code = purpose_code(a.purpose)
        if code not in allowed_now:
            _end(ctx, who, a.id, a.case_ref, a.purpose, a.owner, "stopped", f"its purpose {code} was retired")
        elif (a.case_ref, code) not in runnable:
            reason = "the authorisation of its case is no longer in force (its purpose requires one)"
            _end(ctx, who, a.id, a.case_ref, a.purpose, a.owner, "stopped", reason)
        else:
            kept.append(a)
    return kept


def _end(ctx: Context, who: Actor, watch_id: int, case: str, purpose: str, owner: str, status: str, why: str) -> None:
    if rows.end_watch(ctx.store, watch_id, status, who.name, why, utc(ctx.now())) is not None:
        record(
            ctx,
            who,
            Action.WATCH_EXPIRE if status == "expired" else Action.WATCH_STOP,
            case_ref=case,
            purpose=purpose,
            results={"watch": watch_id, "status": status},
            details={"reason": why, "owner": owner},
        )


def _owned(ctx: Context, actor: Actor, watch_id: int) -> Watch:
    """The watch, if this actor may see it: its owner; auditors and admins any. NotFound otherwise (ids reveal
    nothing)."""
    w = rows.get_watch(ctx.store, watch_id)
    if w is None or (actor.role not in ("auditor", "admin") and w.owner != actor.name):
        raise NotFound(f"no watch {watch_id}")
    return w


# Use cases -----------------------------------------------------------------------------------------
@allowed("examiner")
def add_watch(ctx: Context, actor: Actor, probe: Photo, req: WatchRequest) -> WatchInfo:
    """Register a standing search: every later ingest compares its new faces with the probe's face, and a face
    at or above the threshold becomes a lead under the case (`check.check_new_faces`)."""
    with refusal_recorded(
        ctx,
        actor,
        Action.WATCH_ADD,
        case_ref=req.case_ref,
        purpose=req.purpose,
        collections=req.collections,
        threshold=req.threshold if isinstance(req.threshold, (int, float)) and math.isfinite(req.threshold) else None,
        details={"face": req.face, "until": str(req.until)[:40]},
    ) as attempt:
        check_threshold(req.threshold)
        if not 0 <= req.face <= 1000:
            raise Invalid("--face is a probe face number, 0 = largest", field="face")
        data = probe.read(ctx.settings)
        sha = attempt.probe_sha256 = sha256_bytes(data)
        until = _until(ctx, req.until)
        webhook = webhook_allowed(ctx.settings, req.webhook)
        attempt.details["webhook"] = fingerprint(webhook) if webhook else None
        case, why = search_gate(ctx, actor, req.case_ref, req.purpose)
        packs = _packs(ctx, req.collections)
        decoded = decode(ctx.settings, Photo(data, probe.label))
        made: list[rows.NewTemplate] = []
        with ctx.engine_lock:
            for pack in packs:
                fs = ctx.engine.analyze_probe(pack, decoded.image)
                if len(fs) == 0:
                    raise ProbeError(f"no face found in the probe photo (model pack {pack})")
                if req.face >= len(fs):
                    raise ProbeError(
                        f"--face {req.face} is out of range: the probe has {len(fs)} face(s), numbered from 0 "
                        "(the largest)"
                    )
                if not req.force and fs.quality[req.face] < ctx.settings.probe_min_quality:
                    raise ProbeError(
                        f"the probe face is too poor to watch for (quality {fs.quality[req.face]:.2f}); use a "
                        "better photo, or --force",
                        fs.reasons[req.face],
                    )
                pack_info = get_entry(pack).info
                made.append(rows.NewTemplate(pack, pack_info.version, pack_info.dim, fs.embeddings[req.face]))
        row = rows.add_watch(
            ctx.store,
            {
                "case_ref": case,
                "purpose": why,
                "owner": actor.name,
                "created_at": utc(ctx.now()),
                "until": until,
                "threshold": req.threshold,
                "collections": req.collections,
                "face": req.face,
                "probe_sha256": sha,
                "from_face_id": rows.max_face_id(ctx.store),
                "status": "active",
                "webhook_url": webhook,
            },
            made,
        )
    try:
        record(
            ctx,
            actor,
            Action.WATCH_ADD,
            case_ref=case,
            purpose=why,
            collections=req.collections,
            model=",".join(packs),
            threshold=req.threshold,
            probe_sha256=sha,
            results={"watch": row.id},
            details={
                "until": until.isoformat(),
                "face": req.face,
                "from_face_id": row.from_face_id,
                "force": req.force,
                "webhook": fingerprint(webhook) if webhook else None,
            },
        )
    except BaseException:
        rows.delete_watch(ctx.store, row.id)  # a watch that cannot be logged must not run
        raise
    return info(row, packs, (0, 0))


@allowed("examiner", "auditor", "admin")
def list_watches(ctx: Context, actor: Actor, *, status: str | None = None) -> list[WatchInfo]:
    """Watches, newest first: an examiner's own; every watch for auditors and admins."""
    if status is not None and status not in ("active", "stopped", "expired"):
        raise Invalid("status is active, stopped or expired")
    end_lapsed(ctx)
    owner = actor.name if actor.role == "examiner" else None
    return infos(ctx, rows.list_watches(ctx.store, owner=owner, status=status))


@allowed("examiner", "auditor", "admin")
def show_watch(ctx: Context, actor: Actor, watch_id: int) -> WatchInfo:
    end_lapsed(ctx)
    return infos(ctx, [_owned(ctx, actor, watch_id)])[0]


@allowed("examiner", "admin")
def stop_watch(ctx: Context, actor: Actor, watch_id: int, reason: str = "") -> WatchInfo:
    """Stop a watch now (its owner, or an admin): it never runs again and its templates are erased. Logged."""
    end_lapsed(ctx)
    w = _owned(ctx, actor, watch_id)
    why = reason.strip()[:1000] or f"stopped by {actor.name}"
    with refusal_recorded(ctx, actor, Action.WATCH_STOP, case_ref=w.case_ref, purpose=w.purpose) as attempt:
        attempt.details["watch"] = w.id
        ended = rows.end_watch(ctx.store, w.id, "stopped", actor.name, why, utc(ctx.now()))
        if ended is None:
            raise Invalid(f"watch {w.id} is {w.status} already")
    record(
        ctx,
        actor,
        Action.WATCH_STOP,
        case_ref=w.case_ref,
        purpose=w.purpose,
        results={"watch": w.id, "status": "stopped"},
        details={"reason": why, "owner": w.owner},
    )
    return infos(ctx, [ended])[0]


@allowed("examiner")
def renew_watch(ctx: Context, actor: Actor, watch_id: int, until: str | date | datetime | None) -> WatchInfo:
    """Move an active watch's end (its owner): the search gate again (the purpose still allowed, the case's
    authorisation in force, searching not suspended), the same maximum from now. Logged."""
    end_lapsed(ctx)
    w = _owned(ctx, actor, watch_id)
    with refusal_recorded(ctx, actor, Action.WATCH_RENEW, case_ref=w.case_ref, purpose=w.purpose) as attempt:
        attempt.details["watch"] = w.id
        if w.status != "active":
            raise Invalid(f"watch {w.id} is {w.status}: add a new watch instead (its templates are erased)")
        new_until = _until(ctx, until)
        search_gate(ctx, actor, w.case_ref, w.purpose)
        renewed = rows.renew_watch(ctx.store, w.id, new_until)
        if renewed is None:
            raise Invalid(f"watch {w.id} ended meanwhile")
    record(
        ctx,
        actor,
        Action.WATCH_RENEW,
        case_ref=w.case_ref,
        purpose=w.purpose,
        results={"watch": w.id},
        details={"until": new_until.isoformat(), "was": iso(w.until)},
    )
    return infos(ctx, [renewed])[0]
