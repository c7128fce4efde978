"""What videos add to the people passes: the faces of one track are one person, and two tracks on screen in
the same frame are never one person.

A photo's faces obey the same-image rule (two faces of one photo are two people); a video is not one photo:
the same person appears in it many times (one track per shot, or again after leaving), and different people
appear in it at different moments. So each video face counts as an image of its own for that rule (a pseudo
image id, `-face id`: real image ids are positive), its track's faces are must-linked, and every pair of
tracks seen on the same sampled frame is cannot-linked. The incremental pass places each new track whole (its
faces' mean embedding against the people's templates), never one person's track in two people."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from ..store import Store, videos
from ..store import people as rows
from . import clustering


@dataclass
class VideoRules:
    """The video constraints on rows of a face array: `images` (the image of each row, a video face's own
    pseudo image), the rows of each track (must-link) and the pairs of tracks seen together (cannot-link)."""

    images: np.ndarray
    tracks: list[np.ndarray] = field(default_factory=list)
    apart: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    track_ids: list[int] = field(default_factory=list)  # the track row id of each entry of `tracks`


def video_rules(store: Store, face_ids: np.ndarray, images: np.ndarray) -> VideoRules:
    """The rules for these faces (rows in this order), from their video tracks."""
    images = np.asarray(images, np.int64).copy()
    of = videos.tracks_of_faces(store, face_ids.tolist())
    if not of:
        return VideoRules(images)
    by_track: dict[int, list[int]] = defaultdict(list)
    for r, f in enumerate(face_ids.tolist()):
        tid = of.get(int(f))
        if tid is not None:
            by_track[tid].append(r)
            images[r] = -int(f)
    track_ids = sorted(by_track)
    groups = [np.array(by_track[t], np.int64) for t in track_ids]
    apart: list[tuple[np.ndarray, np.ndarray]] = []
    seen: set[tuple[int, int]] = set()
    for tid, others in videos.seen_together(store, track_ids).items():
        for other in others:
            pair = (min(tid, other.id), max(tid, other.id))
            if other.id in by_track and pair not in seen:
                seen.add(pair)
                apart.append((np.array(by_track[pair[0]], np.int64), np.array(by_track[pair[1]], np.int64)))
    return VideoRules(images, groups, apart, track_ids)


def with_video(cons: clustering.Constraints, rules: VideoRules) -> clustering.Constraints:
    """Corrections' constraints with the video rules added (tracks first: a correction that splits a track
    still wins, its cannot-link being checked before any join)."""
    return clustering.Constraints(
        must_link=[*rules.tracks, *cons.must_link],
        cannot_link=[*cons.cannot_link, *rules.apart],
        exclusive=cons.exclusive,
    )


@dataclass
class Units:
    """New faces grouped for the incremental pass: a photo's face alone, a track's faces together."""

    rows: list[np.ndarray]  # the face rows of each unit
    emb: np.ndarray  # one embedding per unit (a track's: its faces' mean, unit length)
    images: np.ndarray  # one image per unit
    track: list[int | None]  # the track row id of a track's unit


def units(emb: np.ndarray, rules: VideoRules) -> Units:
    in_track = np.zeros(len(emb), bool)
    out_rows: list[np.ndarray] = []
    track: list[int | None] = []
    for tid, group in zip(rules.track_ids, rules.tracks):
        out_rows.append(group)
        track.append(tid)
        in_track[group] = True
    for r in np.flatnonzero(~in_track).tolist():
        out_rows.append(np.array([r], np.int64))
        track.append(None)
    vecs = clustering.normalise(np.stack([clustering.normalise(emb[g]).mean(0) for g in out_rows]))
    imgs = np.array([rules.images[g[0]] for g in out_rows], np.int64)
    return Units(out_rows, vecs, imgs, track)


def banned_by_company(store: Store, u: Units, pids: np.ndarray) -> list[set[int]]:
    """Per unit, the people (template positions) it may not join: those already holding a face of a track that
    was on screen with its track."""
    pos = {int(p): j for j, p in enumerate(pids.tolist())}
    out: list[set[int]] = [set() for _ in u.rows]
    tracked = [t for t in u.track if t is not None]
    if not tracked or not pos:
        return out
    company = videos.seen_together(store, tracked)
    faces = videos.faces_of_tracks(store, {o.id for others in company.values() for o in others})
    person = rows.persons_of(store, (f for fs in faces.values() for f in fs))
    for k, t in enumerate(u.track):
        if t is None:
            continue
        for other in company.get(t, []):
            out[k].update(pos[person[f]] for f in faces.get(other.id, []) if f in person and person[f] in pos)
    return out


def keep_apart(chosen: np.ndarray, u: Units, rules: VideoRules, templates: np.ndarray) -> np.ndarray:
    """Two new tracks seen together may not join one person: of such a pair, the one closer to the person's
    template keeps it, the other starts a person of its own (and is clustered with the rest)."""
    if not rules.apart or not len(templates):
        return chosen
    unit_of = {tid: k for k, tid in enumerate(u.track) if tid is not None}
    row_track = {int(r): tid for tid, g in zip(rules.track_ids, rules.tracks) for r in g.tolist()}
    out = chosen.copy()
    for a, b in rules.apart:
        ka, kb = unit_of[row_track[int(a[0])]], unit_of[row_track[int(b[0])]]
        if out[ka] >= 0 and out[ka] == out[kb]:
            p = int(out[ka])
            sa, sb = float(u.emb[ka] @ templates[p]), float(u.emb[kb] @ templates[p])
            out[kb if sa >= sb else ka] = -1
    return out
