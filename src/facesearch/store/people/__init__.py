"""Every SQL statement about people: who holds which face, the people rows and their templates, the
corrections, and the queries of the searches by person.

Reads return plain values (ids, arrays, detached rows); each write is one transaction, so a pass or a
correction is stored whole or not at all. The rules (who may correct what, what a correction asserts, when
a template is stale) live above: the people use cases in `app.people`, the clustering passes and the upkeep
in `services.people_passes` and `services.people_upkeep`. Callers use this package's names; the modules
split them into reads, upkeep writes and corrections."""

from .corrections import (
    active_corrections_after,
    add_correction,
    corrections_naming_erased_faces,
    forget_erased_faces,
    get_correction,
    kept_corrections,
    restore,
    snapshot,
)
from .reads import (
    face_pack,
    face_rows,
    faces_of,
    get_person,
    ids_named,
    image_paths,
    images_of,
    members,
    names_of,
    others_in_photos,
    pack_dim,
    pack_faces,
    people_by_id,
    people_in_images,
    people_without_faces,
    person_of_face,
    persons_of,
    photos_of,
    templates,
    unassigned_faces,
    video_faces_of,
)
from .upkeep import (
    add_faces,
    new_person,
    regroup_pack,
    release_below,
    rename,
    set_person,
    set_templates,
    sweep,
    template_rows,
)

__all__ = [
    "active_corrections_after",
    "add_correction",
    "add_faces",
    "corrections_naming_erased_faces",
    "forget_erased_faces",
    "face_pack",
    "face_rows",
    "faces_of",
    "get_correction",
    "get_person",
    "ids_named",
    "image_paths",
    "images_of",
    "kept_corrections",
    "members",
    "names_of",
    "new_person",
    "others_in_photos",
    "pack_dim",
    "pack_faces",
    "people_by_id",
    "people_without_faces",
    "people_in_images",
    "person_of_face",
    "persons_of",
    "photos_of",
    "regroup_pack",
    "release_below",
    "rename",
    "restore",
    "set_person",
    "set_templates",
    "snapshot",
    "sweep",
    "template_rows",
    "templates",
    "video_faces_of",
    "unassigned_faces",
]
