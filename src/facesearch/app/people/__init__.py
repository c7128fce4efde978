"""People: the gallery's faces grouped into identities per model pack, corrected by hand, searched by person,
and "who appears with whom" (`together`), which is a search like any other: same gate, audit entry, case
report.

Clustering runs incrementally after each ingest (new faces join the nearest person when the link passes, else
start people) and as a full pass on demand (`grouping`; the passes are `services.people_passes`).
Corrections are constraints kept by face ids and applied on every full pass; each is audited and can be
undone (`corrections`). Erasure needs no hook: `person_faces` rows go with their faces, and every use case
here first removes people left without a face and remakes stale templates (`services.people_upkeep`).
Views are in `views`, the searches by person in `searches`, every SQL statement in `store.people`.
"""

from .corrections import merge_people, move_face, name_person, reject_face, split_person, undo
from .grouping import cluster, cluster_new
from .lookup import resolve_person
from .results import (
    ClusterResult,
    Corrected,
    CorrectedIntoNewPerson,
    Correction,
    PeopleList,
    PersonRef,
    PersonSummary,
    PersonView,
    Suggestions,
    TogetherResult,
)
from .searches import PeopleSearch, PersonLead, search_people, together
from .views import list_people, show_person, suggestions

__all__ = [
    "ClusterResult",
    "Corrected",
    "CorrectedIntoNewPerson",
    "Correction",
    "PeopleList",
    "PeopleSearch",
    "PersonLead",
    "PersonRef",
    "PersonSummary",
    "PersonView",
    "Suggestions",
    "TogetherResult",
    "cluster",
    "cluster_new",
    "list_people",
    "merge_people",
    "move_face",
    "name_person",
    "reject_face",
    "resolve_person",
    "search_people",
    "show_person",
    "split_person",
    "suggestions",
    "together",
    "undo",
]
