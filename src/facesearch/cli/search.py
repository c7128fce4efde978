"""`facesearch search` and `facesearch verify`: the examiner's commands (case reference and purpose required)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..app.context import Context
from ..app.roles import default_role
from .actor import actor_for, call, open_context, run
from .output import emit

if TYPE_CHECKING:
    from ..app.people import PersonLead
    from ..app.searching import Lead, LeadSearch, VerifyAnswer

console = Console()


def search(
    probe: Path = typer.Argument(..., help="Probe photo, or a clip (each of its tracks is a face: --face N)."),
    top: int = typer.Option(10, "--top", "-k", min=1, max=1000, help="Matches per probe face."),
    collection: list[str] = typer.Option([], "--collection", "-c", help="Search only these (repeatable)."),
    face: int | None = typer.Option(
        None, "--face", help="Search the N-th face of the probe (0 = largest; a clip's in order of appearance)."
    ),
    all_faces: bool = typer.Option(False, "--all-faces", help="Search every face of the probe."),
    threshold: float | None = typer.Option(None, "--threshold", help="Override the decision threshold."),
    force: bool = typer.Option(False, "--force", help="Search even a face below the quality gate."),
    case: str | None = typer.Option(None, "--case", help="Case reference (required, as for the API)."),
    purpose: str | None = typer.Option(
        None,
        "--purpose",
        help="Purpose: an allowed purpose code, optionally followed by ': note' (required, as for the API).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    by_people: bool = typer.Option(
        False,
        "--people",
        help="Also rank people: each person once, at their best face's score, with that face and their photos.",
    ),
) -> None:
    """Find the probe's face in the gallery: top matches with score and false-match rate (audit-logged). A match
    from a video shows its time: `file.mp4 @ 00:07.5 (00:07.2–00:09.0)` (seen at, and the track's span)."""
    from ..app import searching
    from ..services.uploads import Photo

    ctx = open_context()
    req = searching.SearchRequest(
        case_ref=case,
        purpose=purpose,
        top_k=top,
        collections=collection or None,
        face=face,
        all_faces=all_faces,
        threshold=threshold,
        force=force,
    )
    photo = Photo.from_path(probe, ctx.settings)
    res: LeadSearch
    people: list[PersonLead] = []
    if by_people:
        from ..app.people import search_people

        res = ranked = call(search_people, photo, req, as_json=as_json, ctx=ctx)
        people = ranked.people
    else:
        res = call(searching.search, photo, req, as_json=as_json, ctx=ctx)
    sources = {} if as_json else run(lambda: _collection_sources(ctx))
    emit(res, as_json, lambda r: _render_search(r, people, sources))


def _render_search(res: LeadSearch, people: list[PersonLead], sources: dict[str, str]) -> None:
    """Per probe face its threshold and a table of candidates; the people ranked (`--people`); the gallery."""
    out = _out()
    for f in res.faces:
        th = f.threshold
        where = f"track {f.video.track} at {f.video.moment()} " if f.video is not None else ""
        out.print(
            f"[bold]Probe face {f.face}[/bold] {where}box {f.box} quality {f.quality:.2f} "
            f"{escape(' '.join(f.quality_reasons))}  model {escape(f.model)}"
        )
        out.print(f"  threshold {th.score:.3f} ({th.fmr_text}): {escape(th.reason)}")
        if f.quality_warning:
            out.print(f"  [yellow]note:[/yellow] {escape(f.quality_warning)}")
        if f.skipped:
            out.print(f"  [yellow]skipped:[/yellow] {escape(f.skipped)}")
            continue
        if not f.matches:
            out.print("  no faces in the searched collections")
            continue
        out.print(_matches_table(f.matches, sources))
    for p in people:
        out.print(
            f"person {p.person} {escape(p.name or '(unnamed)')}: score {p.score:.3f} (best face "
            f"{p.best_face.face_id}), {len(p.images)} photos"
        )
    out.print(
        f"gallery: {res.gallery_size} faces in {escape(', '.join(res.collections))}; a score at or "
        "above the threshold reads 'above threshold' (green)"
    )
    out.print(f"search {res.search_id} (case {escape(str(res.case_ref))}); each candidate: {escape(res.stamp)}")


SEARCH_COLUMNS = (
    "#",
    "score",
    "decision",
    "how rare is this score",
    "expected false",
    "collection",
    "collection source",
    "image",
    "source URL",
)


def _matches_table(matches: list[Lead], sources: dict[str, str]) -> Table:
    """One row per candidate: the score and what it means in words (the decision does not rest on colour),
    then where it came from: collection, the collection's declared source, the image's path and URL."""
    t = Table()
    for col in SEARCH_COLUMNS:
        # Never cut short: in a narrow terminal cells wrap (words) or fold (paths, URLs) onto more lines.
        t.add_column(col, overflow="fold", no_wrap=col in ("#", "score"), justify="right" if col == "#" else "left")
    for m in matches:
        # The answer's own words (its decision is the unrounded `above_threshold`).
        style = "green" if m.above_threshold else "dim"
        t.add_row(
            str(m.rank),
            Text(f"{m.score:.3f}", style=style),
            Text(m.decision, style=style),
            m.fmr_text,
            f"{m.expected_false_matches:.2g}",
            Text(m.collection),
            Text(sources.get(m.collection, "")),
            Text(short_path(m.image.path) + (f" @ {m.video.moment()}" if m.video is not None else "")),
            Text(m.image.source_url or ""),
        )
    return t


def short_path(path: str | None, limit: int = 60) -> str:
    """An image's path as a table shows it: relative to the current directory when that is shorter, else the
    whole path when it is short enough, else its last two parts after an ellipsis (`--json` has it whole)."""
    if not path:
        return ""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        rel = path
    best = rel if len(rel) < len(path) else path
    if len(best) <= limit:
        return best
    parts = Path(path).parts
    return str(Path("…", *parts[-2:])) if len(parts) > 2 else best


def _out() -> Console:
    """Standard output; when it is not a terminal (a pipe, a log) as wide as the lines are, so that no path,
    URL or decision is wrapped or cut. Colour follows rich's rules (none in a pipe, none with NO_COLOR)."""
    return console if console.is_terminal else Console(width=1000)


def _collection_sources(ctx: Context) -> dict[str, str]:
    """Each collection's declared source, for the table; empty when the command's actor (the search's) may
    not list collections."""
    from ..app import searching
    from ..app.collection import list_collections
    from ..app.errors import Refused

    try:
        return {c.name: c.source or "" for c in list_collections(ctx, actor_for(ctx, default_role(searching.search)))}
    except Refused:
        return {}


def verify(
    first: Path = typer.Argument(..., help="First photo."),
    second: Path = typer.Argument(..., help="Second photo."),
    model: str | None = typer.Option(None, "--model", help="Model pack (default FACESEARCH_MODEL)."),
    threshold: float | None = typer.Option(None, "--threshold", help="Override the decision threshold."),
    force: bool = typer.Option(False, "--force", help="Compare even faces below the quality gate."),
    face_a: int = typer.Option(
        0, "--face-a", min=0, help="Which face of the first photo to compare: 0 = largest (the default), 1 = next…"
    ),
    face_b: int = typer.Option(0, "--face-b", min=0, help="Which face of the second photo to compare (0 = largest)."),
    case: str | None = typer.Option(None, "--case", help="Case reference (required, as for the API)."),
    purpose: str | None = typer.Option(None, "--purpose", help="Purpose: an allowed purpose code (required)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Are two photos of the same person? The largest face of each is compared unless --face-a / --face-b
    choose others; every face found is listed, the compared ones marked (audit-logged). Exit status: 0 same
    person, 1 different people; 2 bad input, 3 no usable face, 4 refused by the rules."""
    res = _verify(
        first,
        second,
        model=model,
        threshold=threshold,
        force=force,
        case=case,
        purpose=purpose,
        as_json=as_json,
        face_a=face_a,
        face_b=face_b,
    )
    raise typer.Exit(0 if res.same_person else 1)


def _verify(
    first: Path,
    second: Path,
    *,
    model: str | None,
    threshold: float | None,
    force: bool,
    case: str | None,
    purpose: str | None,
    as_json: bool,
    face_a: int = 0,
    face_b: int = 0,
) -> VerifyAnswer:
    """`verify` without its exit status: compare, print, return the answer (the demo calls this)."""
    from ..app import searching
    from ..services.uploads import Photo

    ctx = open_context()
    a, b = Photo.from_path(first, ctx.settings), Photo.from_path(second, ctx.settings)
    res = call(
        searching.verify,
        a,
        b,
        case_ref=case,
        purpose=purpose,
        model=model,
        threshold=threshold,
        force=force,
        face_a=face_a,
        face_b=face_b,
        as_json=as_json,
        ctx=ctx,
    )
    emit(res, as_json, lambda r: _render_verify(r, (first, second)))
    return res


def _render_verify(res: VerifyAnswer, photos: tuple[Path, Path]) -> None:
    """The verdict in words, the threshold, then each photo's faces: every face found, the compared one marked
    with its box (`*`), so a comparison of the wrong face is seen at once."""
    out = _out()
    verdict = "[green]same person[/green]" if res.same_person else "[red]different people[/red]"
    out.print(f"{verdict}: score {res.score:.3f}, {res.decision} {res.threshold:.3f}; {res.fmr_text}")
    out.print(f"threshold {res.threshold:.3f} ({escape(res.threshold_reason)}), model {escape(res.model)}")
    for k, (label, flag) in enumerate((("first", "--face-a"), ("second", "--face-b"))):
        compared = res.faces[k]
        found = res.faces_found[k] if res.faces_found else []
        count = f"{len(found)} faces" if len(found) > 1 else "1 face"
        out.print(f"{label} photo {escape(short_path(str(photos[k])))}: {count}, compared face {compared.face}")
        rows = [(f.face, f.box, f.quality, f.quality_reasons) for f in found] or [
            (compared.face, compared.box, compared.quality, compared.quality_reasons)
        ]
        for face, box, q, reasons in rows:
            mark = "*" if face == compared.face else " "
            why = f" {' '.join(reasons)}" if reasons else ""
            out.print(f"  {mark} face {face}  box {_box(box)}  quality {q:.2f}{escape(why)}")
        if len(found) > 1:
            out.print(f"    (compare another with {flag} N)")
        if compared.quality_warning:
            out.print(f"  [yellow]note:[/yellow] {escape(compared.quality_warning)}")


def _box(box: list[float]) -> str:
    """A face box as whole pixels: x1,y1 to x2,y2."""
    x1, y1, x2, y2 = (round(v) for v in box)
    return f"{x1},{y1}-{x2},{y2}"


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `facesearch` app."""
    app.command()(search)
    app.command()(verify)
