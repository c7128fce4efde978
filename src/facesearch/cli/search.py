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

from ..calibration.wording import WHO, rate_of
from .actor import actor_for, call, open_context, run
from .output import emit

if TYPE_CHECKING:
    from ..app.context import Context
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
    wide: bool = typer.Option(
        False,
        "--wide",
        help="Every column of the table (collection source, source URL), each path whole, rows wrapped as needed.",
    ),
) -> None:
    """Find the probe's face in the gallery: top matches with score and false-match rate (audit-logged). A match
    from a video shows its time: `file.mp4 @ 00:07.5 (00:07.2–00:09.0)` (seen at, and the track's span).

    In a terminal the table fits its width, one line per candidate (empty columns left out, paths shortened
    from the left); --wide shows every column. Piped, every column is shown on one line per candidate."""
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
    emit(res, as_json, lambda r: _render_search(r, people, sources, wide))


def _render_search(res: LeadSearch, people: list[PersonLead], sources: dict[str, str], wide: bool = False) -> None:
    """Per probe face its threshold and a table of candidates; the people ranked (`--people`); the gallery."""
    out = _out()
    compact = not wide and _width_known()
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
        if compact:
            out.print(_compact_table(f.matches, out.width))
        else:
            out.print(_matches_table(f.matches, sources))
    if compact:
        out.print(f"how rare: 1 in N{WHO} (<: fewer than); exp. false: how many such scores chance alone would give")
        for name in sorted({m.collection for f in res.faces for m in f.matches}):
            if sources.get(name):
                out.print(f"collection {escape(name)}: source {escape(sources[name])}")
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


RARE = "how rare is this score"
SEARCH_COLUMNS = (
    "#",
    "score",
    "decision",
    RARE,
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


def _compact_table(matches: list[Lead], width: int) -> Table:
    """The table as a terminal of `width` columns shows it: one line per candidate, short cells ("above",
    "<1 in 310,000": the legend below the table gives the words), no column that would be empty (source URL),
    the collection's source below the table rather than on every row, and the image's path (and URL)
    shortened from the left so that the file name stays."""
    rows = [
        [
            str(m.rank),
            f"{m.score:.3f}",
            "above" if m.above_threshold else "below",
            rate_of(m.fmr_text).replace("fewer than ", "<"),
            f"{m.expected_false_matches:.2g}",
            m.collection,
            short_path(m.image.path) + (f" @ {m.video.moment()}" if m.video is not None else ""),
            m.image.source_url or "",
        ]
        for m in matches
    ]
    heads = ["#", "score", "threshold", "how rare", "exp. false", "collection", "image", "source URL"]
    keep = [i for i, h in enumerate(heads) if i < 7 or any(r[i] for r in rows)]
    need = {i: max(len(heads[i]), *(len(r[i]) for r in rows)) for i in keep}
    # What the table takes besides its paths and URLs (the other columns, the gaps) is measured, not guessed.
    wheres = [i for i in keep if i >= 6]
    frame = Console(width=10_000).measure(_table(matches, rows, heads, keep, dict.fromkeys(wheres, 0))).maximum
    room = max(width - frame - 1, 12 * len(wheres))
    spans = {6: room}
    if 7 in keep:  # a URL as well: the path takes what it needs, the URL the rest (at least a third)
        spans[7] = min(need[7], max(room // 3, room - need[6]))
        spans[6] = room - spans[7]
    return _table(matches, rows, heads, keep, spans)


def _table(
    matches: list[Lead], rows: list[list[str]], heads: list[str], keep: list[int], spans: dict[int, int]
) -> Table:
    """The compact table, the path and URL columns cut from the left to `spans` characters."""
    t = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    for i in keep:
        t.add_column(left_cut(heads[i], spans.get(i)), no_wrap=True, justify="right" if i == 0 else "left")
    for m, r in zip(matches, rows):
        style = "green" if m.above_threshold else "dim"
        t.add_row(*(Text(left_cut(r[i], spans.get(i)), style=style if i in (1, 2) else "") for i in keep))
    return t


def left_cut(text: str, limit: int | None) -> str:
    """`text` in at most `limit` characters (None: all of it), shortened from the left ('…son/photo.jpg')."""
    if limit is None or len(text) <= limit:
        return text
    return "…" + text[len(text) - limit + 1 :] if limit > 1 else text[:limit]


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
    URL or decision is wrapped or cut, unless COLUMNS gives a width. Colour follows rich's rules (none in a
    pipe, none with NO_COLOR)."""
    if console.is_terminal:
        return console
    return Console(width=_columns() or 1000)


def _columns() -> int | None:
    """The width COLUMNS asks for, if it is set to a number."""
    try:
        return max(int(os.environ.get("COLUMNS", "")), 40)
    except ValueError:
        return None


def _width_known() -> bool:
    """Whether the output has a width to fit (a terminal, or COLUMNS set): the compact table then."""
    return console.is_terminal or _columns() is not None


def _collection_sources(ctx: Context) -> dict[str, str]:
    """Each collection's declared source, for the table; empty when the command's actor (the search's) may
    not list collections."""
    from ..app import searching
    from ..app.collection import list_collections
    from ..app.errors import Refused
    from ..app.roles import default_role

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
    out.print(
        f"threshold {res.threshold:.3f} ({res.threshold_fmr_text}): {escape(res.threshold_reason)}; "
        f"model {escape(res.model)}"
    )
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
