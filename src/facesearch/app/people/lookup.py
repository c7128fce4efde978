"""Finding what a people use case is asked about: a person by id or exact name, collections by name. What
does not exist is refused as `NotFound`, the same way from every entry point."""

from __future__ import annotations

from collections.abc import Sequence

from ...store import Store
from ...store import people as rows
from ...store.people_tables import Person
from ...store.schema import Collection
from ..context import Actor, Context
from ..errors import Invalid, NotFound
from ..roles import allowed
from .results import PersonRef


def person(store: Store, person_id: int) -> Person:
    found = rows.get_person(store, person_id)
    if found is None:
        raise NotFound(f"no person with id {person_id}")
    return found


def collections(store: Store, names: Sequence[str] | None = None) -> list[Collection]:
    """These collections (all of them when no names are given), refusing a name that does not exist."""
    cols = store.list_collections()
    if names:
        known = {c.name: c for c in cols}
        missing = [n for n in names if n not in known]
        if missing:
            raise NotFound(f"no collection named {missing[0]!r}")
        return [known[n] for n in names]
    return cols


@allowed("examiner", "operator")
def resolve_person(ctx: Context, actor: Actor, text: str | int) -> PersonRef:
    """A person given as an id or an exact name (a name shared by several people is refused as ambiguous).
    For the command line, where people are named as often as numbered; the roles are those of every use
    case that takes a person."""
    value = str(text).strip()
    if value.isdigit():
        p = person(ctx.store, int(value))
        return PersonRef(id=p.id, name=p.name)
    ids = rows.ids_named(ctx.store, value)
    if not ids:
        raise NotFound(f"no person named {value!r}")
    if len(ids) > 1:
        raise Invalid(f"{len(ids)} people are named {value!r}; give an id: {', '.join(map(str, ids))}")
    return PersonRef(id=ids[0], name=value)
