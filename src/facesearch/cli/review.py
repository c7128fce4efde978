"""`facesearch review`: the two-person confirmation of leads from the command line (as in the web UI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from .actor import call
from .output import emit

if TYPE_CHECKING:
    from ..app import review

review_app = typer.Typer(no_args_is_help=True, help="Two-person review of leads: propose, confirm, reject.")


@review_app.command("propose")
def propose(
    search_id: int = typer.Argument(..., help="The search (its id in the audit log)."),
    face_id: int = typer.Argument(..., help="The candidate gallery face."),
    note: str = typer.Option(..., "--note", help="Why this candidate is the probe's person."),
    probe_face: int = typer.Option(0, "--probe-face", help="Which face of the probe (0 = largest)."),
    reviewer: str | None = typer.Option(None, "--reviewer", help="The examiner who alone may decide it."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Propose that a candidate is the probe's person; a different examiner must confirm it."""
    from ..app import review

    out = call(review.propose, search_id, face_id, note, probe_face, reviewer=reviewer, as_json=as_json)
    emit(
        out,
        as_json,
        lambda p: typer.echo(
            f"proposal {p.id}: face {face_id} of search {search_id} ({p.case_ref}), awaiting a second examiner"
        ),
    )


def _decide(proposal_id: int, decision: str, note: str, as_json: bool) -> None:
    from ..app import review

    out = call(review.decide, proposal_id, decision, note, as_json=as_json)
    emit(out, as_json, lambda p: typer.echo(f"proposal {proposal_id} {p.status}"))


@review_app.command("confirm")
def confirm(
    proposal_id: int = typer.Argument(...),
    note: str = typer.Option("", "--note"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Confirm a proposal (not your own)."""
    _decide(proposal_id, "confirmed", note, as_json)


@review_app.command("reject")
def reject(
    proposal_id: int = typer.Argument(...),
    note: str = typer.Option("", "--note"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Reject a proposal (not your own)."""
    _decide(proposal_id, "rejected", note, as_json)


@review_app.command("assign")
def assign(
    proposal_id: int = typer.Argument(...),
    reviewer: str = typer.Option(..., "--reviewer", help="The examiner who alone may decide it."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Assign your open proposal to a named reviewer (admins: any proposal). Logged."""
    from ..app import review

    out = call(review.assign_reviewer, proposal_id, reviewer, as_json=as_json)
    emit(out, as_json, lambda p: typer.echo(f"proposal {p.id} assigned to {p.assigned_to}"))


@review_app.command("list")
def list_(
    case_ref: str | None = typer.Option(None, "--case"),
    status: str | None = typer.Option(None, "--status"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Proposals, newest first."""
    from ..app import review

    emit(call(review.list_proposals, case_ref, status, as_json=as_json), as_json, _show_proposals)


def _show_proposals(rows: list[review.ProposalInfo]) -> None:
    for r in rows:
        typer.echo(
            f"{r.id:>5} search {r.search_id:>6} face {r.face_id:>7} {r.status:<10} "
            f"{r.case_ref or '-':<20} by {r.proposed_by}"
            + (f", {r.status} by {r.decided_by}" if r.decided_by else "")
            + (f", assigned to {r.assigned_to}" if r.assigned_to else "")
        )


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
