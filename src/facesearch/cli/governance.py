"""CLI commands of governance: collections with their legal basis, opt-outs, data-subject reports, doctor,
purge, the kill switch, purposes and case reports. Each calls one use case, which writes the audit entry."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .actor import call
from .actor import fail as _fail
from .output import emit

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..app import authorisations, cases, optout, purposes, retention, subjects
    from ..app import collection as collections
    from ..app import doctor as doctor_uc

collections_app = typer.Typer(
    no_args_is_help=True, help="Collections with their source, legal basis, owner and retention."
)
optout_app = typer.Typer(no_args_is_help=True, help="The opt-out registry: people who asked to be removed.")
subject_app = typer.Typer(no_args_is_help=True, help="Data-subject access: where does a person appear?")
purposes_app = typer.Typer(no_args_is_help=True, help="Allowed search purposes (admin).")
case_app = typer.Typer(no_args_is_help=True, help="Case disclosure reports.")


# Collections ------------------------------------------------------------------------------------
@collections_app.command("create")
def collections_create(
    name: str = typer.Argument(..., help="Collection name."),
    source: str = typer.Option(..., "--source", help="Where the photos come from."),
    legal_basis: str = typer.Option(
        ...,
        "--legal-basis",
        help="consent, contract, legal_obligation, "
        "vital_interests, public_task, legitimate_interests or law_enforcement.",
    ),
    retention_days: int | None = typer.Option(
        None, "--retention-days", help="Erase images this many days after ingest."
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep images until they are deleted (no retention period)."),
    legal_basis_note: str | None = typer.Option(
        None, "--legal-basis-note", help="Free text: the provision, contract or assessment the basis rests on."
    ),
    owner: str | None = typer.Option(None, "--owner", help="Who is responsible (default: you)."),
    model: str | None = typer.Option(None, "--model", help="Model pack (default FACESEARCH_MODEL)."),
    description: str | None = typer.Option(None, "--description"),
    as_json: bool = typer.Option(False, "--json", help="Print the new collection as JSON."),
) -> None:
    """Create a collection with its provenance; ingest refuses collections without it."""
    from ..app import collection as collections

    col = call(
        collections.create_collection,
        name,
        source=source,
        legal_basis=legal_basis,
        owner=owner,
        retention_days=retention_days,
        keep=keep,
        model=model,
        legal_basis_note=legal_basis_note,
        description=description,
        as_json=as_json,
    )

    def show(col: collections.CollectionFields) -> None:
        typer.echo(
            f"collection {col.name} created (model {col.model}, legal basis {col.legal_basis}, "
            f"{'kept until deleted' if retention_days is None else f'retention {retention_days} days'})"
        )

    emit(col, as_json, show)


def _print_collections(rows: list[collections.CollectionInfo]) -> None:
    for r in rows:
        keep = "keep until deleted" if r.retention_days is None else f"{r.retention_days} days"
        flag = f"  [lacks {', '.join(r.problems)}]" if r.problems else ""
        typer.echo(
            f"{r.name:<24} {r.model:<11} {r.legal_basis or '-':<21} {keep:<19} "
            f"{r.images:>7} images  owner {r.owner or '-'}  source: {r.source or '-'}{flag}"
        )


@collections_app.command("list")
def collections_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Collections with their provenance, retention and size."""
    from ..app import collection as collections

    emit(call(collections.list_collections), as_json, _print_collections)


@collections_app.command("delete")
def collections_delete(
    name: str = typer.Argument(..., help="Collection name."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Delete a collection (admin): every image erased as retention erases it (rows, index entries,
    thumbnails, uploaded copies, kept probes), then the collection, its ingest runs and its index. Refused
    while a lead found in it awaits its second examiner. Logged."""
    from ..app import collection as collections

    if not yes and not as_json and sys.stdin.isatty():
        typer.confirm(f"Erase collection {name} and every photo and face in it?", abort=True)
    res = call(collections.delete_collection, name, as_json=as_json)

    def show(r: collections.CollectionDeleted) -> None:
        typer.echo(
            f"collection {r.collection} deleted: erased {r.images} image(s), {r.faces} face(s), "
            f"{r.thumbnails} thumbnail(s), {r.uploads} uploaded file(s), {r.probes} kept probe(s)"
        )

    emit(res, as_json, show)


# Opt-out and data-subject access ----------------------------------------------------------------
def _recorded(result: BaseModel | list[Any]) -> Any:
    """A result whose optional fields are set only where they apply (or a list of them), as JSON with those
    keys only, as the API answers."""
    if isinstance(result, list):
        return [_recorded(r) for r in result]
    return result.model_dump(mode="json", exclude_unset=True)


@optout_app.command("add")
def optout_add(
    photos: list[Path] = typer.Argument(..., help="One or more photos of the person."),
    reference: str = typer.Option(..., "--reference", help="The request's ticket or letter number."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Register an opt-out: erase every matching gallery face now, keep matching faces out of future
    ingests and searches. The photos are not kept; only their face templates."""
    from ..app import optout
    from ..services.uploads import Photo

    res = call(optout.add_optout, [Photo.from_path(p) for p in photos], reference)
    emit(res, as_json, _show_optout)


def _show_optout(res: optout.OptOutResult) -> None:
    e = res.erased
    typer.echo(
        f"opt-out {res.optout_id} ({res.reference}) registered from {res.photos} photo(s): "
        f"erased {e.faces} face(s), {e.images} image(s), {e.thumbnails} thumbnail(s), "
        f"{e.uploads} uploaded file(s), {e.probes} kept probe(s)"
    )
    for pack, info in res.packs.items():
        typer.echo(f"  {pack}: erased {info.faces} face(s) at or above {info.threshold} ({info.threshold_reason})")
        typer.echo(
            f"    chance of a miss: {info.miss_text}; more photos of the person "
            "(other angles, ages, lighting) catch more"
        )
        typer.echo(
            f"    {info.to_review} face(s) to review between {info.review_threshold} and "
            f"{info.threshold} ({info.review_threshold_reason})"
        )
    if res.to_review:
        typer.echo(
            f"NOT erased, to review ({len(res.to_review)}): faces that may be the same person; look at each and "
            f"erase it with `facesearch optout erase-face FACE_ID --optout {res.optout_id}`"
        )
        for r in res.to_review:
            typer.echo(
                f"  face {r.face_id:>7}  image {r.image_id:>7}  {r.collection:<16} "
                f"score {r.score:.3f} ({r.fmr_text})  {r.path or r.source_url or ''}"
            )
    else:
        typer.echo("nothing to review: no other face scored between the review and the erase threshold")


@optout_app.command("erase-face")
def optout_erase_face(
    face_id: int = typer.Argument(..., help="A face listed 'to review' by `optout add`."),
    optout_id: int | None = typer.Option(
        None,
        "--optout",
        help="The opt-out it belongs to: its template is added, so a later ingest of the same photo keeps it out.",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Erase one gallery face you judged to be an opted-out person's (and its image if no other face is left
    on it). Audit-logged."""
    from ..app import optout

    emit(call(optout.erase_face, face_id, optout_id), as_json, _show_erased_face)


def _show_erased_face(res: optout.OptOutFaceErased) -> None:
    e = res.erased
    typer.echo(
        f"face {res.face_id} (image {res.image_id}, {res.collection}) erased: {e.faces} face(s), "
        f"{e.images} image(s), {e.thumbnails} thumbnail(s), {e.uploads} uploaded file(s)"
        + (f"; template added to opt-out {res.optout_id}" if res.template_added else "")
    )


@optout_app.command("list")
def optout_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Registered opt-outs: reference, photos, templates (never the templates themselves)."""
    from ..app import optout

    emit(call(optout.list_optouts), as_json, _show_optouts)


def _show_optouts(rows: list[optout.OptOutInfo]) -> None:
    for r in rows:
        typer.echo(
            f"{r.id:>5}  {r.reference:<30} {r.photos} photo(s) {r.templates} template(s) "
            f"{r.created_at} by {r.created_by}"
        )


@subject_app.command("report")
def subject_report(
    photo: Path = typer.Argument(..., help="A photo of the person making the access request."),
    reference: str | None = typer.Option(
        None,
        "--reference",
        help="The data-subject request's reference, e.g. its ticket (required; logged as the case reference).",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every image and collection where a face matches the person (strict threshold). A governed search: needs
    --reference, stops while searching is suspended, counts toward the search limits. Audit-logged."""
    from ..app import subjects
    from ..services.uploads import Photo

    res = call(subjects.subject_report, Photo.from_path(photo), reference, as_json=as_json)
    emit(_recorded(res), as_json, lambda _: _show_subject(res))


def _show_subject(res: subjects.SubjectReport) -> None:
    typer.echo(
        f"{res.reference}: {len(res.matches)} matching face(s) in {res.images} image(s), collections: "
        f"{', '.join(res.collections) or 'none'}"
    )
    for m in res.matches:
        typer.echo(
            f"  {m.collection:<20} image {m.image_id:>7} face {m.face_id:>7} score {m.score:.3f}"
            f"  {m.path or ''} {m.source_url or ''}"
        )


# Doctor and purge -------------------------------------------------------------------------------
def doctor(
    as_json: bool = typer.Option(False, "--json"),
    fix: bool = typer.Option(
        False,
        "--fix",
        help="Repair what the rows allow: reconcile indexes, delete stray files, erase faces that match an opt-out.",
    ),
    below_floor: bool = typer.Option(
        False,
        "--below-floor",
        help="Also list the faces below the ingest floor (FACESEARCH_INGEST_MIN_QUALITY) that an older home "
        "holds: people ignore them; they are listed, not erased, and not counted as problems.",
    ),
) -> None:
    """Scan for orphans in every direction; exit 1 when any is found."""
    from ..app import doctor as doctor_uc

    res = call(doctor_uc.doctor, fix=fix, below_floor=below_floor)

    def show(res: doctor_uc.DoctorReport) -> None:
        typer.echo(
            f"{res.collections} collection(s), {res.faces} face(s): "
            + ("no orphans" if res.ok else f"{res.orphans} problem(s)")
        )
        for k, n in res.counts.items():
            if n:
                typer.echo(f"  {k.replace('_', ' ')}: {n}  e.g. {', '.join(map(str, res.examples[k][:5]))}")
        if fix and not res.ok:
            typer.echo("repaired; run `facesearch doctor` again to confirm")
        b = res.below_floor
        if b is not None:
            where = ", ".join(f"{n} in {c}" for c, n in sorted(b.per_collection.items())) or "none"
            typer.echo(f"faces below the ingest floor {b.floor:g}: {b.faces} ({where}); {b.in_people} still in people")
            for f in b.examples:
                why = " ".join(f.quality_reasons) or "-"
                typer.echo(f"  face {f.face_id}  quality {f.quality:.2f} {why}  {f.collection}: {f.path or f.image_id}")
            if b.in_people:
                typer.echo("  `facesearch people cluster` takes them out of the people they are in")

    emit(res, as_json, show)
    if not res.ok:
        raise typer.Exit(1)


def purge(
    now: str | None = typer.Option(None, "--now", help="ISO time to treat as now (default: the clock)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Erase images past their collection's retention period, and kept probes past theirs. Logged."""
    from ..app import retention

    when = None
    if now:
        try:
            when = datetime.fromisoformat(now.replace("Z", "+00:00"))
        except ValueError:
            _fail(f"--now is not an ISO date-time: {now!r}")
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
    emit(call(retention.purge, when), as_json, _show_purge)


def _show_purge(res: retention.PurgeReport) -> None:
    e = res.erased
    typer.echo(
        f"purge at {res.now}: erased {e.images} image(s), {e.faces} face(s), "
        f"{e.thumbnails} thumbnail(s); {res.expired_probes} expired probe(s)"
    )
    for c in res.collections:
        typer.echo(f"  {c.collection}: retention {c.retention_days} days, cutoff {c.cutoff}: {c.images} image(s)")


# Kill switch ------------------------------------------------------------------------------------
def search_suspend(reason: str = typer.Option("", "--reason", help="Why (kept in the audit log).")) -> None:
    """Suspend all searching and verifying at once (API, UI and CLI). Logged."""
    from ..app import suspension

    call(suspension.set_suspended, True, reason)
    typer.echo("searching suspended; resume with `facesearch search-resume`")


def search_resume() -> None:
    """Allow searching again. Logged."""
    from ..app import suspension

    call(suspension.set_suspended, False)
    typer.echo("searching resumed")


# Purposes ---------------------------------------------------------------------------------------
@purposes_app.command("add")
def purposes_add(
    code: str = typer.Argument(..., help="Short code, e.g. LE-ART10."),
    description: str = typer.Option(..., "--description", help="What it is and the legal provision it rests on."),
    requires_authorisation: bool = typer.Option(
        False,
        "--requires-authorisation",
        help="Every use needs a live authorisation of its case (`facesearch cases authorise`).",
    ),
    urgent_hours: int | None = typer.Option(
        None,
        "--urgent-hours",
        help="With --requires-authorisation: a case may use it this many hours before its authorisation is "
        "recorded (flagged in reports until it is), e.g. 48.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the new purpose as JSON."),
) -> None:
    """Allow a search purpose."""
    from ..app import purposes

    row = call(
        purposes.add_purpose,
        code,
        description,
        requires_authorisation=requires_authorisation,
        urgent_hours=urgent_hours,
        as_json=as_json,
    )
    emit(row, as_json, lambda _: typer.echo(f"purpose {code} added"))


@purposes_app.command("list")
def purposes_list(
    as_json: bool = typer.Option(False, "--json"),
    all_: bool = typer.Option(True, "--all/--active", help="Include retired purposes."),
) -> None:
    """Allowed (and retired) search purposes."""
    from ..app import purposes

    emit(call(purposes.list_purposes, include_retired=all_), as_json, _show_purposes)


def _show_purposes(rows: list[purposes.PurposeInfo]) -> None:
    for r in rows:
        rule = ""
        if r.requires_authorisation:
            rule = " [requires an authorisation" + (f"; urgent use {r.urgent_hours} h]" if r.urgent_hours else "]")
        typer.echo(f"{r.code:<20} {'active' if r.active else 'retired':<8} {r.description}{rule}")


@purposes_app.command("retire")
def purposes_retire(code: str = typer.Argument(...)) -> None:
    """Refuse a purpose for new searches (it stays in the audit log and the reports)."""
    from ..app import purposes

    call(purposes.retire_purpose, code)
    typer.echo(f"purpose {code} retired")


@purposes_app.command("report")
def purposes_report(
    by: str = typer.Option("purpose", "--by", help="purpose or case"),
    year: int | None = typer.Option(
        None, "--year", help="The yearly report instead: uses per purpose in that year, with and without authorisation."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Per purpose (or case): how many searches, by whom, how many leads confirmed. With --year: every use of
    each purpose in that calendar year (UTC), with and without an authorisation of its case."""
    from ..app import authorisations, cases

    if year is not None:
        report = call(authorisations.purpose_year_report, year, as_json=as_json)
        emit(report, as_json, _show_year)
        return
    rows = call(cases.usage_report, by)
    emit(_recorded(rows), as_json, lambda _: _show_usage(rows, by))


def _show_year(report: authorisations.PurposeYearReport) -> None:
    typer.echo(f"uses in {report.year} (UTC), per purpose:")
    if not report.purposes:
        typer.echo("  none")
    for r in report.purposes:
        rule = "requires an authorisation" if r.requires_authorisation else "no authorisation required"
        typer.echo(
            f"  {r.purpose:<20} {r.uses:>6} use(s) ({rule}): with an authorisation {r.with_authorisation}, "
            f"without {r.without_authorisation} (urgent, awaiting one: {r.urgent_pending}); searches {r.searches}, "
            f"verifies {r.verifies}, co-appearance {r.together}, watches {r.watches}, watch hits {r.watch_hits}; "
            f"refused {r.refused}"
        )


def _show_usage(rows: list[cases.UsageRow], by: str) -> None:
    for r in rows:
        users = ", ".join(f"{u} ({n})" for u, n in sorted(r.users.items()))
        typer.echo(
            f"{getattr(r, by):<24} searches {r.searches:>5} verifies {r.verifies:>4} no-candidates "
            f"{r.no_candidates:>4} confirmed {r.confirmed:>3} rejected {r.rejected:>3}  by {users}"
        )


# Case report ------------------------------------------------------------------------------------
@case_app.command("report")
def case_report(
    case_ref: str = typer.Argument(..., metavar="CASE-REF"),
    fmt: str = typer.Option("html", "--format", help="html or json."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="File to write (default: standard output; an HTML report is refused at a terminal)."
    ),
) -> None:
    """The disclosure report of a case: every search and verify, every candidate, the review history and
    the model's known limitations. Logged. The HTML report embeds its photos, so it is written to --out or to
    a pipe or file (`> report.html`), never printed to a terminal."""
    from ..app import cases
    from ..http.case_report import render_case_html

    if out is None and fmt == "html" and at_terminal():
        _fail(
            "the HTML report embeds its photos and is not for a terminal: give --out FILE (or redirect it: "
            "> case.html), or --format json"
        )
    done = call(cases.case_report, case_ref, fmt)
    text = (
        render_case_html(done.report, done.thumbnails)
        if done.format == "html"
        else json.dumps(_recorded(done.report), indent=1, ensure_ascii=False)
    )
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)
    else:
        sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))


def at_terminal() -> bool:
    """Whether standard output is a terminal (where a report full of base64 photos is of no use)."""
    return sys.stdout.isatty()


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `facesearch` app."""
    app.add_typer(collections_app, name="collections")
    app.add_typer(optout_app, name="optout")
    app.add_typer(subject_app, name="subject")
    app.add_typer(purposes_app, name="purposes")
    app.add_typer(case_app, name="case")
    app.command("doctor")(doctor)
    app.command("purge")(purge)
    app.command("search-suspend")(search_suspend)
    app.command("search-resume")(search_resume)
