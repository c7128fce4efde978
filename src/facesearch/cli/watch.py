"""`facesearch watch`: standing searches. A watch compares every later ingest's new faces with a probe's face
and turns each face at or above its threshold into a lead under its case (`watch hits`), which a second
examiner confirms or rejects like a search candidate (`watch propose`, then `review confirm|reject`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .actor import call
from .output import emit

if TYPE_CHECKING:
    from ..app import watches

watch_app = typer.Typer(no_args_is_help=True, help="Standing searches: new material checked for a case's subject.")


def _show_watch(w: watches.WatchInfo) -> None:
    ended = f", {w.status} {w.ended_at} ({w.end_reason})" if w.status != "active" else ""
    typer.echo(
        f"watch {w.id}: case {w.case}, purpose {w.purpose}, {w.status} until {w.until}{ended}; "
        f"threshold {w.threshold if w.threshold is not None else 'the search default'}; "
        f"collections {', '.join(w.collections) if w.collections else 'all'}; {w.hits} hit(s), {w.unseen} unseen"
    )


def _show_watches(rows: list[watches.WatchInfo]) -> None:
    if not rows:
        typer.echo("no watches")
    for w in rows:
        typer.echo(
            f"{w.id:>5}  {w.status:<8} {w.case:<20} {w.purpose:<16} until {(w.until or '')[:19]}  "
            f"{w.hits} hit(s), {w.unseen} unseen  by {w.owner}"
        )


@watch_app.command("add")
def add(
    probe: Path = typer.Argument(..., exists=True, dir_okay=False, help="A photo of the person to watch for."),
    case_ref: str | None = typer.Option(None, "--case", help="Case reference (required)."),
    purpose: str | None = typer.Option(None, "--purpose", help="An allowed purpose code, or 'CODE: note'."),
    until: str | None = typer.Option(
        None,
        "--until",
        help="Last day it runs (YYYY-MM-DD, UTC) or an ISO date-time; at most FACESEARCH_WATCH_MAX_DAYS.",
    ),
    face: int = typer.Option(0, "--face", help="Which face of the probe (0 = largest)."),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Score at or above which a new face is a hit (default: the search's 1:N decision)."
    ),
    collection: list[str] | None = typer.Option(
        None, "--collection", help="Collection to watch (repeatable; default: all, including later ones)."
    ),
    webhook: str | None = typer.Option(
        None, "--webhook", help="URL told of each hit (ids only), under a prefix in FACESEARCH_WATCH_WEBHOOK_HOSTS."
    ),
    force: bool = typer.Option(False, "--force", help="Watch for a probe face below the quality gate."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Watch every later ingest for the probe's person, under a case and purpose (gated and logged like a
    search)."""
    from ..app import watches
    from ..services.uploads import Photo

    req = watches.WatchRequest(
        case_ref=case_ref,
        purpose=purpose,
        until=until,
        face=face,
        threshold=threshold,
        collections=collection or None,
        force=force,
        webhook=webhook,
    )
    emit(call(watches.add_watch, Photo.from_path(probe), req, as_json=as_json), as_json, _show_watch)


@watch_app.command("list")
def list_(
    status: str | None = typer.Option(None, "--status", help="active, stopped or expired."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Your watches (every watch for auditors and admins), newest first."""
    from ..app import watches

    emit(call(watches.list_watches, status=status, as_json=as_json), as_json, _show_watches)


@watch_app.command("show")
def show(watch_id: int = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """One watch."""
    from ..app import watches

    emit(call(watches.show_watch, watch_id, as_json=as_json), as_json, _show_watch)


@watch_app.command("stop")
def stop(
    watch_id: int = typer.Argument(...),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Stop a watch now: it never runs again and its templates are erased. Logged."""
    from ..app import watches

    emit(call(watches.stop_watch, watch_id, reason, as_json=as_json), as_json, _show_watch)


@watch_app.command("renew")
def renew(
    watch_id: int = typer.Argument(...),
    until: str = typer.Option(..., "--until", help="The new last day (at most FACESEARCH_WATCH_MAX_DAYS from now)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Move an active watch's end (the search gate again). Logged."""
    from ..app import watches

    emit(call(watches.renew_watch, watch_id, until, as_json=as_json), as_json, _show_watch)


@watch_app.command("hits")
def hits(
    watch_id: int | None = typer.Argument(None, metavar="[WATCH]", help="One watch (default: all of yours)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The hits of your watches, oldest first: leads until two examiners confirm them. Logged."""
    from ..app import watches

    found = call(watches.hit_reviews, watch_id, as_json=as_json)
    emit([r.hit for r in found], as_json, lambda _: _show_hits(found))


def _show_hits(found: list[watches.HitReview]) -> None:
    if not found:
        typer.echo("no hits")
    for r in found:
        h = r.hit
        typer.echo(
            f"watch {h.watch:>4} case {h.case:<16} face {h.face_id:>7} image {h.image.id:>7} score {h.score:.3f} "
            f"fmr {h.fmr:.2g} {r.status:<9} job {h.ingest_job} {h.at[:19]}  {h.image.path or h.image.source_url or ''}"
            + (f" @ {h.video.moment()}" if h.video is not None else "")
        )


@watch_app.command("propose")
def propose(
    watch_id: int = typer.Argument(..., metavar="WATCH"),
    face_id: int = typer.Argument(..., help="The hit's face."),
    note: str = typer.Option(..., "--note", help="Why this face is the probe's person."),
    reviewer: str | None = typer.Option(None, "--reviewer", help="The examiner who alone may decide it."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Propose a hit as the probe's person; a different examiner confirms or rejects it (`facesearch review`)."""
    from ..app import watches

    out = call(watches.propose_hit, watch_id, face_id, note, reviewer, as_json=as_json)
    emit(
        out, as_json, lambda p: typer.echo(f"proposal {p.id}: face {face_id} of watch {watch_id}, awaiting a reviewer")
    )


def register(app: typer.Typer) -> None:
    app.add_typer(watch_app, name="watch")
