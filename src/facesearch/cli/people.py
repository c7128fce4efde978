"""`facesearch people`: faces grouped into people, corrections by hand, and who appears with whom."""

from __future__ import annotations

from typing import Any

import typer

from ..app import people
from .actor import actor_for, open_context, run
from .output import echo_json

people_app = typer.Typer(
    no_args_is_help=True,
    help="People: faces grouped into identities, corrected by hand; "
    "who appears with whom (a search: case reference and purpose required).",
)
PERSON = typer.Argument(..., help="A person: id, or exact name.")
JSON = typer.Option(False, "--json", help="Machine-readable output.")


def _person(ctx: Any, text: str, as_json: bool) -> int:
    return run(lambda: people.resolve_person(ctx.store, text), as_json)


def _done(out: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(out)
        return
    c = out["correction"]
    extra = f"; new person {out['new_person']}" if "new_person" in out else ""
    typer.echo(
        f"correction {c['id']} ({c['kind']}) by {c['actor']}: people {', '.join(map(str, out['people']))}"
        f"{extra}; `facesearch people undo {c['id']}` reverts it"
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
    ctx = open_context()
    out = run(lambda: people.cluster(ctx, actor_for(ctx, "operator"), collection=collection, full=full), as_json)
    if as_json:
        echo_json(out)
        return
    for p in out["passes"]:
        typer.echo(
            f"{p['model']}: {p['faces']} faces -> {p['people']} people ({p['started']} new) in "
            f"{p['seconds']:.1f} s; link threshold {p['threshold']:.3f} ({p['threshold_reason']})"
        )


@people_app.command("list")
def list_(
    collection: str | None = typer.Option(None, "--collection", "-c"),
    min_faces: int = typer.Option(1, "--min-faces", min=1),
    as_json: bool = JSON,
) -> None:
    """Every person, most faces first."""
    ctx = open_context()
    out = run(
        lambda: people.list_people(ctx, actor_for(ctx, "examiner"), collection=collection, min_faces=min_faces), as_json
    )
    if as_json:
        echo_json({"people": [{"id": p["id"], "name": p["name"], "faces": p["faces"]} for p in out["people"]]})
        return
    for p in out["people"]:
        photos = len({f["image"]["id"] for f in p["faces"]})
        typer.echo(f"{p['id']:>6}  {p['name'] or '(unnamed)':<30} {len(p['faces'])} faces, {photos} photos")


@people_app.command("show")
def show(person: str = PERSON, as_json: bool = JSON) -> None:
    """A person's faces and photos, corrections, and the people most like them."""
    ctx = open_context()
    pid = _person(ctx, person, as_json)
    out = run(lambda: people.show_person(ctx, actor_for(ctx, "examiner"), pid), as_json)
    if as_json:
        echo_json(out)
        return
    typer.echo(
        f"person {out['id']} {out['name'] or '(unnamed)'} ({out['model']}): {out['face_count']} faces in "
        f"{out['photos']} photos"
    )
    for f in out["faces"]:
        typer.echo(f"  face {f['face_id']}  quality {f['quality']:.2f}  image {f['image']['id']} {f['image']['path']}")
    for c in out["corrections"]:
        typer.echo(
            f"  correction {c['id']} {c['kind']} by {c['actor']} at {c['at']}"
            + (f" (undone by {c['undone_by']})" if c["undone_at"] else "")
        )
    for s in out["similar"]:
        typer.echo(f"  similar: person {s['person']} {s['name'] or ''} score {s['score']:.3f}")


@people_app.command("name")
def name(
    person: str = PERSON,
    new_name: str = typer.Argument(..., metavar="NAME", help='The name ("" clears).'),
    as_json: bool = JSON,
) -> None:
    """Name a person."""
    ctx = open_context()
    pid = _person(ctx, person, as_json)
    _done(run(lambda: people.name_person(ctx, actor_for(ctx, "examiner"), pid, new_name), as_json), as_json)


@people_app.command("merge")
def merge(
    person: str = PERSON, other: str = typer.Argument(..., help="The person merged into PERSON."), as_json: bool = JSON
) -> None:
    """Merge OTHER into PERSON."""
    ctx = open_context()
    pid, oid = _person(ctx, person, as_json), _person(ctx, other, as_json)
    _done(run(lambda: people.merge_people(ctx, actor_for(ctx, "examiner"), pid, oid), as_json), as_json)


@people_app.command("split")
def split(
    person: str = PERSON,
    faces: list[int] = typer.Argument(..., help="Face ids that become a new person."),
    as_json: bool = JSON,
) -> None:
    """Split these faces off into a new person."""
    ctx = open_context()
    pid = _person(ctx, person, as_json)
    _done(run(lambda: people.split_person(ctx, actor_for(ctx, "examiner"), pid, faces), as_json), as_json)


@people_app.command("move")
def move(face: int = typer.Argument(..., help="Face id."), person: str = PERSON, as_json: bool = JSON) -> None:
    """Move a face to PERSON."""
    ctx = open_context()
    pid = _person(ctx, person, as_json)
    _done(run(lambda: people.move_face(ctx, actor_for(ctx, "examiner"), face, pid), as_json), as_json)


@people_app.command("reject")
def reject(person: str = PERSON, face: int = typer.Argument(..., help="Face id."), as_json: bool = JSON) -> None:
    """Mark a face as not this person."""
    ctx = open_context()
    pid = _person(ctx, person, as_json)
    _done(run(lambda: people.reject_face(ctx, actor_for(ctx, "examiner"), pid, face), as_json), as_json)


@people_app.command("undo")
def undo(correction: int = typer.Argument(..., help="Correction id."), as_json: bool = JSON) -> None:
    """Undo a correction."""
    ctx = open_context()
    out = run(lambda: people.undo(ctx, actor_for(ctx, "examiner"), correction), as_json)
    if as_json:
        echo_json(out)
    else:
        typer.echo(f"correction {correction} undone; people {', '.join(map(str, out['people']))}")


@people_app.command("together")
def together(
    person: str = PERSON,
    case: str | None = typer.Option(None, "--case", help="Case reference (required)."),
    purpose: str | None = typer.Option(None, "--purpose", help="An allowed purpose code (required)."),
    collection: list[str] = typer.Option([], "--collection", "-c", help="Only these (repeatable)."),
    as_json: bool = JSON,
) -> None:
    """The people who appear in the same photos as PERSON (a search: gated and audit-logged)."""
    ctx = open_context()
    actor = actor_for(ctx, "examiner")
    pid = _person(ctx, person, as_json)
    out = run(
        lambda: people.together(ctx, actor, pid, case_ref=case, purpose=purpose, collections=collection or None),
        as_json,
    )
    if as_json:
        echo_json({"person": out["person"], "together": out["together"]})
        return
    typer.echo(
        f"person {out['person']} {out['name'] or ''}: {out['photos']} photos searched "
        f"(search {out['together_id']}, case {out['case_ref']})"
    )
    for t in out["together"]:
        typer.echo(
            f"  person {t['person']} {t['name'] or '(unnamed)'}: {t['photos']} shared photos: "
            + ", ".join(str(i["path"] or i["id"]) for i in t["images"])
        )


def register(app: typer.Typer) -> None:
    app.add_typer(people_app, name="people")
