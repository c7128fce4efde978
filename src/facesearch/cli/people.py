"""`facesearch people`: faces grouped into people, corrections by hand, and who appears with whom."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from .actor import call, open_context
from .output import emit, plural

if TYPE_CHECKING:
    from ..app import people
    from ..app.context import Context
    from ..app.people.results import PersonFaceRef, TogetherPerson

people_app = typer.Typer(
    no_args_is_help=True,
    help="People: faces grouped into identities, corrected by hand; "
    "who appears with whom (a search: case reference and purpose required).",
)
PERSON = typer.Argument(..., help="A person: id, or exact name.")
JSON = typer.Option(False, "--json", help="Machine-readable output.")


def _person(ctx: Context, text: str, as_json: bool) -> int:
    from ..app import people

    return call(people.resolve_person, text, as_json=as_json, ctx=ctx).id


def _print_correction(out: people.Corrected) -> None:
    from ..app import people

    c = out.correction
    extra = f"; new person {out.new_person}" if isinstance(out, people.CorrectedIntoNewPerson) else ""
    typer.echo(
        f"correction {c.id} ({c.kind}) by {c.actor}: people {', '.join(map(str, out.people))}"
        f"{extra}; `facesearch people undo {c.id}` reverts it"
    )


@people_app.command("cluster")
def cluster(
    collection: str | None = typer.Option(
        None, "--collection", "-c", help="Only this collection's faces (its pack's people)."
    ),
    full: bool = typer.Option(
        False,
        "--full",
        help="Re-cluster every face of the pack, applying every "
        "correction (else: faces in no person yet join or start people).",
    ),
    as_json: bool = JSON,
) -> None:
    """Group faces into people (threshold from the pack's calibration table)."""
    from ..app import people

    def show(out: people.ClusterResult) -> None:
        for p in out.passes:
            if p.full:
                done = f"{plural(p.faces, 'face')} grouped into {plural(p.people, 'person', 'people')}"
            elif not p.faces:
                done = "every face is in a person already (--full groups them all again)"
            else:
                done = (
                    f"{plural(p.faces, 'face')} in no person yet: {p.assigned} joined a person, "
                    f"{plural(p.started, 'new person', 'new people')}"
                )
            typer.echo(
                f"{p.model}: {done} in {p.seconds:.1f} s; link threshold {p.threshold:.3f} ({p.threshold_reason})"
            )

    emit(call(people.cluster, collection=collection, full=full, as_json=as_json), as_json, show)


@dataclass(frozen=True)
class Listed:
    """A person as `people list --json` shows them: id, name and faces (the API's list adds the pack and the
    face count)."""

    id: int
    name: str | None
    faces: list[PersonFaceRef]


@dataclass(frozen=True)
class Listing:
    people: list[Listed]


@people_app.command("list")
def list_(
    collection: str | None = typer.Option(None, "--collection", "-c"),
    min_faces: int = typer.Option(1, "--min-faces", min=1),
    case: str | None = typer.Option(None, "--case", help="Case reference (required: browsing people is a search)."),
    purpose: str | None = typer.Option(None, "--purpose", help="An allowed purpose code (required)."),
    as_json: bool = JSON,
) -> None:
    """Every person, most faces first (a search: case reference and purpose required)."""
    from ..app import people

    def show(out: Listing) -> None:
        for p in out.people:
            photos = len({f.image.id for f in p.faces})
            counts = f"{plural(len(p.faces), 'face')}, {plural(photos, 'photo')}"
            typer.echo(f"{p.id:>6}  {p.name or '(unnamed)':<30} {counts}")

    out = call(
        people.list_people, collection=collection, min_faces=min_faces, case_ref=case, purpose=purpose, as_json=as_json
    )
    emit(Listing([Listed(id=p.id, name=p.name, faces=p.faces) for p in out.people]), as_json, show)


@people_app.command("show")
def show(
    person: str = PERSON,
    case: str | None = typer.Option(None, "--case", help="Case reference (required: browsing people is a search)."),
    purpose: str | None = typer.Option(None, "--purpose", help="An allowed purpose code (required)."),
    as_json: bool = JSON,
) -> None:
    """A person's faces and photos, corrections, and the people most like them (case and purpose required)."""
    from ..app import people

    def render(out: people.PersonView) -> None:
        typer.echo(
            f"person {out.id} {out.name or '(unnamed)'} ({out.model}): {plural(out.face_count, 'face')} in "
            f"{plural(out.photos, 'photo')}"
        )
        for f in out.faces:
            typer.echo(f"  face {f.face_id}  quality {f.quality:.2f}  image {f.image.id} {f.image.path}")
        for c in out.corrections:
            typer.echo(
                f"  correction {c.id} {c.kind} by {c.actor} at {c.at}"
                + (f" (undone by {c.undone_by})" if c.undone_at else "")
            )
        for s in out.similar:
            typer.echo(f"  similar: person {s.person} {s.name or ''} score {s.score:.3f}")

    ctx = open_context()
    pid = _person(ctx, person, as_json)
    emit(call(people.show_person, pid, case_ref=case, purpose=purpose, as_json=as_json, ctx=ctx), as_json, render)


@people_app.command("name")
def name(
    person: str = PERSON,
    new_name: str = typer.Argument(..., metavar="NAME", help='The name ("" clears).'),
    as_json: bool = JSON,
) -> None:
    """Name a person."""
    from ..app import people

    ctx = open_context()
    pid = _person(ctx, person, as_json)
    emit(call(people.name_person, pid, new_name, as_json=as_json, ctx=ctx), as_json, _print_correction)


@people_app.command("merge")
def merge(
    person: str = PERSON, other: str = typer.Argument(..., help="The person merged into PERSON."), as_json: bool = JSON
) -> None:
    """Merge OTHER into PERSON."""
    from ..app import people

    ctx = open_context()
    pid, oid = _person(ctx, person, as_json), _person(ctx, other, as_json)
    emit(call(people.merge_people, pid, oid, as_json=as_json, ctx=ctx), as_json, _print_correction)


@people_app.command("split")
def split(
    person: str = PERSON,
    faces: list[int] = typer.Argument(..., help="Face ids that become a new person."),
    as_json: bool = JSON,
) -> None:
    """Split these faces off into a new person."""
    from ..app import people

    ctx = open_context()
    pid = _person(ctx, person, as_json)
    emit(call(people.split_person, pid, faces, as_json=as_json, ctx=ctx), as_json, _print_correction)


@people_app.command("move")
def move(face: int = typer.Argument(..., help="Face id."), person: str = PERSON, as_json: bool = JSON) -> None:
    """Move a face to PERSON."""
    from ..app import people

    ctx = open_context()
    pid = _person(ctx, person, as_json)
    emit(call(people.move_face, face, pid, as_json=as_json, ctx=ctx), as_json, _print_correction)


@people_app.command("reject")
def reject(person: str = PERSON, face: int = typer.Argument(..., help="Face id."), as_json: bool = JSON) -> None:
    """Mark a face as not this person."""
    from ..app import people

    ctx = open_context()
    pid = _person(ctx, person, as_json)
    emit(call(people.reject_face, pid, face, as_json=as_json, ctx=ctx), as_json, _print_correction)


@people_app.command("undo")
def undo(correction: int = typer.Argument(..., help="Correction id."), as_json: bool = JSON) -> None:
    """Undo a correction."""
    from ..app import people

    def show(out: people.Corrected) -> None:
        typer.echo(f"correction {correction} undone; people {', '.join(map(str, out.people))}")

    emit(call(people.undo, correction, as_json=as_json), as_json, show)


@dataclass(frozen=True)
class Together:
    """What `people together --json` shows: the person searched and who appears with them (the API's answer
    adds the name, the photos searched, the audit entry, case reference and purpose)."""

    person: int
    together: list[TogetherPerson]


@people_app.command("together")
def together(
    person: str = PERSON,
    case: str | None = typer.Option(None, "--case", help="Case reference (required)."),
    purpose: str | None = typer.Option(None, "--purpose", help="An allowed purpose code (required)."),
    collection: list[str] = typer.Option([], "--collection", "-c", help="Only these (repeatable)."),
    as_json: bool = JSON,
) -> None:
    """The people who appear in the same photos as PERSON, or on screen with them in the same frame of a video
    (a search: gated and audit-logged)."""
    from ..app import people
    from ..services.search_results import clock

    ctx = open_context()
    pid = _person(ctx, person, as_json)
    out = call(
        people.together, pid, case_ref=case, purpose=purpose, collections=collection or None, as_json=as_json, ctx=ctx
    )

    def show(_: Together) -> None:
        typer.echo(
            f"person {out.person} {out.name or ''}: {plural(out.photos, 'photo')} searched "
            f"(search {out.together_id}, case {out.case_ref})"
        )
        for t in out.together:
            typer.echo(
                f"  person {t.person} {t.name or '(unnamed)'}: {plural(t.photos, 'shared photo')}: "
                + ", ".join(str(i.path or i.id) for i in t.images)
            )
            if t.videos:
                typer.echo(
                    f"    on screen in the same frame in {t.videos} video{'s' if t.videos > 1 else ''}: "
                    + ", ".join(
                        f"{m.image.path or m.image.id} @ {clock(m.start)}–{clock(m.end)}" for m in t.moments or []
                    )
                )

    emit(Together(person=out.person, together=out.together), as_json, show)


def register(app: typer.Typer) -> None:
    app.add_typer(people_app, name="people")
