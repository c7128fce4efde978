"""`facesearch cases`: what a case rests on. `cases authorise` records a case's judicial or administrative
authorisation (admins); `cases authorisations` lists them; `cases assign` adds an examiner to a case and
`cases unassign` takes them off it (admins); `cases report` is `case report` under this name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .actor import call
from .actor import fail as _fail
from .governance import case_report
from .output import emit

if TYPE_CHECKING:
    from ..app import authorisations

cases_app = typer.Typer(no_args_is_help=True, help="Cases: their authorisations and disclosure reports.")
DOCUMENT_MAX = 64 * 1024 * 1024  # read at most this much of --document (the use case applies the upload limit)


def _show(a: authorisations.AuthorisationInfo) -> None:
    doc = f"; document {a.document.name} (sha256 {a.document.sha256})" if a.document else ""
    typer.echo(
        f"authorisation {a.id} of case {a.case_ref}: {a.authority}, {a.reference}, in force {a.granted} to "
        f"{a.expires} ({'in force now' if a.live else 'not in force now'}){doc}; recorded by {a.recorded_by}"
    )


@cases_app.command("authorise")
def authorise(
    case_ref: str = typer.Argument(..., metavar="REF"),
    authority: str = typer.Option(..., "--authority", help="Who granted it (a court, a prosecutor's office...)."),
    reference: str = typer.Option(..., "--reference", help="The decision's reference."),
    granted: str = typer.Option(..., "--granted", help="In force from this day (YYYY-MM-DD, UTC) or ISO date-time."),
    expires: str = typer.Option(..., "--expires", help="Last day in force (YYYY-MM-DD, UTC) or ISO date-time."),
    document: Path | None = typer.Option(
        None, "--document", exists=True, dir_okay=False, help="The decision itself (kept in the home by its hash)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Record a case's authorisation: searches, verifies, co-appearance searches and watches under a purpose
    that requires one need it in force. Logged."""
    from ..app import authorisations

    doc = None
    if document is not None:
        try:
            with document.open("rb") as fh:
                doc = authorisations.Document(document.name, fh.read(DOCUMENT_MAX + 1))
        except OSError as exc:
            _fail(f"cannot read {document}: {exc.strerror}")
    out = call(
        authorisations.authorise,
        case_ref,
        authority=authority,
        reference=reference,
        granted=granted,
        expires=expires,
        document=doc,
        as_json=as_json,
    )
    emit(out, as_json, _show)


@cases_app.command("authorisations")
def listed(case_ref: str = typer.Argument(..., metavar="REF"), as_json: bool = typer.Option(False, "--json")) -> None:
    """A case's recorded authorisations, oldest first."""
    from ..app import authorisations

    emit(call(authorisations.case_authorisations, case_ref, as_json=as_json), as_json, _show_all)


@cases_app.command("assign")
def assign(
    case_ref: str = typer.Argument(..., metavar="REF"),
    examiner: str = typer.Argument(..., metavar="EXAMINER", help="An examiner account (or cli:NAME)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add an examiner to a case (admin): once a case has an owner (its first examiner), only its owner and
    its members may search under it and read its report. Logged (`case_assign`)."""
    from ..app import case_access

    out = call(case_access.add_member, case_ref, examiner, as_json=as_json)
    emit(out, as_json, lambda m: typer.echo(f"{m.examiner} added to case {m.case_ref} (audit entry {m.seq})"))


@cases_app.command("unassign")
def unassign(
    case_ref: str = typer.Argument(..., metavar="REF"),
    examiner: str = typer.Argument(..., metavar="EXAMINER", help="A member an admin added (`cases assign`)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Take an examiner off a case (admin): from then on they may not search under it nor read its report,
    unless they own it or review one of its proposals; what they did under it stays in the log. Logged
    (`case_unassign`)."""
    from ..app import case_access

    out = call(case_access.remove_member, case_ref, examiner, as_json=as_json)
    emit(out, as_json, lambda m: typer.echo(f"{m.examiner} taken off case {m.case_ref} (audit entry {m.seq})"))


def _show_all(rows: list[authorisations.AuthorisationInfo]) -> None:
    if not rows:
        typer.echo("no authorisation recorded")
    for a in rows:
        _show(a)


def register(app: typer.Typer) -> None:
    cases_app.command("report")(case_report)
    app.add_typer(cases_app, name="cases")
