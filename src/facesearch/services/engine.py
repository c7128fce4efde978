"""The search engine: loaded packs and indexes; 1:N search and 1:1 verify as mechanisms. It embeds the
probe with each collection's pack, never across packs, and builds each answer once, complete and worded
(`search_results`). The rules (who, why, what is hidden) are the use cases' business: they hand down the
filter of faces not to show (`hiding.HideFilter`, compared in memory), and log what it hid, which the engine
returns beside the answer. Faces from videos are answered one per track (its best-scoring face), with their
time; a probe may be a clip, whose tracks are its faces (`clips`).

The held packs and indexes, the search with its quality gate, hide rounds and per-track answers, and verify
with its choice of faces all act on the same held state; what an answer is made of, and how it is built from
the engine's arrays and rows, lives in `search_results`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..calibration.fair import FairCalibration, load_fair
from ..calibration.tables import CalibrationTable, load_table, search_point, verify_point
from ..config import Settings
from ..errors import CollectionError, ProbeError
from ..index import VectorIndex, open_index
from ..index.topk import empty, merge
from ..models import load_pack, quality
from ..models.base import ModelPack
from ..pipeline.analysis import FaceSet, analyze
from ..pipeline.video.tracks import TrackOptions
from ..store import Store
from ..store.schema import Collection
from ..store.videos import has_videos, track_mates
from .clips import Clip, ClipCache, ClipFaces
from .hiding import Hidden, HideFilter
from .indexes import reconcile
from .search_results import (
    CALIBRATED_NOTE,
    Candidate,
    Comparison,
    EngineSearch,
    FaceCandidates,
    FoundFace,
    ProbeFace,
    Searched,
    VideoTime,
    candidate_from_row,
    candidate_vectors,
    comparison,
    per_track,
    probe_face_fields,
    quality_warning,
    threshold_shown,
)

# Searches again at most this often per query batch; each round denies every face found so far.
HIDE_ROUNDS = 4
TRACK_FACES = TrackOptions().keep  # faces a video's track keeps at most


class Ranked(NamedTuple):
    """Top-k of embedded probes: scores and ids (id -1 as padding), and the faces the hide filter kept out,
    round by round."""

    scores: np.ndarray
    ids: np.ndarray
    hidden: tuple[Hidden, ...] = ()


class Ranking(NamedTuple):
    """The displayable candidates of each embedded probe, and the faces the hide filter kept out."""

    candidates: list[list[Candidate]]
    hidden: tuple[Hidden, ...] = ()


@dataclass
class _Open:
    """An index held by this process, with what it was last made equal to: the store's (faces, version)
    of its collection and the index file's identity (another process may save or swap the file)."""

    index: VectorIndex
    state: tuple[int, int]
    stamp: tuple[int, int, int] | None


class Engine:
    """Holds loaded packs and indexes so a long-lived process (the web service) pays for them once."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.resolved_database_url)
        self._packs: dict[str, ModelPack] = {}
        self._indexes: dict[int, _Open] = {}
        # Faces a hide filter refused, per pack: denied inside the index from then on. Learnt only from a
        # search that returned (so the use case logged them): a failed search finds and reports them again.
        self._denied: dict[str, set[int]] = {}
        self._clips = ClipCache()

    def load(self, pack: str) -> ModelPack:
        if pack not in self._packs:
            self._packs[pack] = load_pack(pack, self.settings, self.settings.threads_per_worker)
        return self._packs[pack]

    def index(self, col: Collection) -> VectorIndex:
        """The collection's index, equal to its face rows. Per call this costs one primary-key read of the
        collection's counters and a stat of the index file: the O(n) reconciliation runs only when the index
        is opened, or when the counters say the rows changed since (another process ingested or erased)."""
        state = self.store.index_state(col.id)
        held = self._indexes.get(col.id)
        same_file = held is not None and held.stamp == _stamp(held.index)
        if held is not None and same_file and held.state == state:
            return held.index
        # Opened again when another process saved or swapped the file.
        index = held.index if held is not None and same_file else open_index(self.settings, col.id, col.dim)
        if held is None or not getattr(index, "shared", False):
            # A shared index (a server) is written by the writer itself; a file copy in memory must catch up.
            reconcile(index, self.store, col.id)
        self._indexes[col.id] = _Open(index, state, _stamp(index))
        return index

    def _fair(self, pack: str, use: str) -> FairCalibration | None:
        """The pack's fair calibration when FACESEARCH_FAIR_CALIBRATION turns it on for this use (verify: 1:1;
        all: 1:1 and 1:N) and the pack has one; else None (the score table decides)."""
        mode = self.settings.fair_calibration
        if mode == "off" or (use == "all" and mode != "all"):
            return None
        return load_fair(pack, self.settings.home / "calibration")

    def gallery_size(self, cols: list[Collection]) -> int:
        """Faces in these collections, from the counters `index` reads anyway (no count over the rows)."""
        total = 0
        for c in cols:
            self.index(c)
            total += self._indexes[c.id].state[0]
        return total

    def forget_index(self, collection_id: int) -> None:
        """Drop the held index (erased collection, swapped file): the next search opens it again."""
        self._indexes.pop(collection_id, None)

    def analyze_probe(self, pack: str, image: np.ndarray) -> FaceSet:
        fs = analyze(self.load(pack), [image], self.settings.min_face_px, self.settings.min_detection_score)[0]
        return _sorted_by_area(fs)

    def analyze_clip(self, pack: str, clip: Clip) -> ClipFaces:
        """A probe clip's tracks as probe faces, in order of appearance (held a few minutes: `clips`)."""
        return self._clips.get(self.load(pack), self.settings, clip)

    def _probe(self, pack: str, probe: np.ndarray | Clip) -> tuple[FaceSet, list[VideoTime] | None]:
        if isinstance(probe, Clip):
            found = self.analyze_clip(pack, probe)
            return found.faces, found.times
        return self.analyze_probe(pack, probe), None

    # Search ------------------------------------------------------------------------------------
    def search(
        self,
        image: np.ndarray | Clip,
        top_k: int = 10,
        collections: list[str] | None = None,
        face: int | None = None,
        all_faces: bool = False,
        threshold: float | None = None,
        force: bool = False,
        hide: HideFilter | None = None,
    ) -> Searched:
        """The probe's faces searched in the collections (default all), each pack's probe only among that
        pack's faces; `hide` keeps faces out of the answer, and the answer comes with what it kept out. The
        probe is a photo, or a clip whose tracks are its faces (numbered in order of appearance)."""
        cols = self._collections(collections)
        by_pack: dict[str, list[Collection]] = {}
        for c in cols:
            by_pack.setdefault(c.model, []).append(c)
        # The probe of each pack is compared only with that pack's faces: its threshold and expected false
        # matches are computed over those, not over every collection searched.
        pack_sizes = {pack: self.gallery_size(pack_cols) for pack, pack_cols in by_pack.items()}
        gallery_size = sum(pack_sizes.values())
        out_faces: list[FaceCandidates[Candidate]] = []
        hidden: list[Hidden] = []
        for pack, pack_cols in by_pack.items():
            pack_size = pack_sizes[pack]
            fs, times = self._probe(pack, image)
            if len(fs) == 0:
                raise ProbeError(
                    f"no face found in the probe {'clip' if times is not None else 'photo'} "
                    f"(model pack {pack}; faces must be at least {self.settings.min_face_px} px)"
                )
            chosen = self._choose_faces(fs, face, all_faces, clip=times is not None)
            table = load_table(pack, self.settings.home / "calibration")
            point = search_point(table, self.settings.search_fpir, pack_size, threshold)
            verdicts = {i: self._gate(fs, i) for i in chosen}
            good = [i for i in chosen if force or not verdicts[i].refused]
            if not good:
                i = chosen[0]
                raise ProbeError(
                    f"the probe face is too poor to search (quality {fs.quality[i]:.2f} < "
                    f"{self.settings.probe_min_quality:g}: {', '.join(fs.reasons[i]) or 'low quality'}); "
                    "use a better photo, or --force to search anyway",
                    fs.reasons[i],
                )
            queries = fs.embeddings[good]
            target = None if threshold is not None else self.settings.search_fpir / max(pack_size, 1)
            checked = [self._indexes[c.id].index for c in pack_cols]  # made current by gallery_size above
            ranking = self._ranking(
                pack_cols, queries, top_k, table, point.threshold, pack_size, hide, target, indexes=checked
            )
            hidden.extend(ranking.hidden)
            fair = self._fair(pack, "all") if target is not None else None
            shown = threshold_shown(point, fair, target, table.fmr_floor)
            for i in chosen:
                skipped = (
                    None if i in good else f"quality {fs.quality[i]:.2f} below {self.settings.probe_min_quality:g}"
                )
                out_faces.append(
                    FaceCandidates[Candidate](
                        **self._probe_face(fs, i, pack, table.model_version, verdicts[i] if i in good else None, times),
                        threshold=shown,
                        gallery_size=pack_size,
                        collections=[c.name for c in pack_cols],
                        skipped=skipped,
                        matches=[] if skipped is not None else ranking.candidates[good.index(i)],
                    )
                )
        answer = EngineSearch(gallery_size=gallery_size, collections=[c.name for c in cols], faces=out_faces)
        self._remember(hidden)
        return Searched(answer, tuple(hidden))

    def _collections(self, names: list[str] | None) -> list[Collection]:
        all_cols = self.store.list_collections()
        if not names:
            if not all_cols:
                raise CollectionError(
                    "the gallery is empty: create a collection and ingest photos first "
                    "(`facesearch collections create`, then `facesearch ingest`)"
                )
            return all_cols
        known = {c.name: c for c in all_cols}
        missing = [n for n in names if n not in known]
        if missing:
            raise CollectionError(f"unknown collection(s): {', '.join(missing)}; known: {', '.join(known) or 'none'}")
        return [known[n] for n in names]

    def _gate(self, fs: FaceSet, i: int) -> quality.GateVerdict:
        return quality.gate(
            float(fs.quality[i]), fs.reasons[i], self.settings.probe_min_quality, self.settings.probe_refuse_reasons
        )

    def _probe_face(
        self,
        fs: FaceSet,
        i: int,
        pack: str,
        version: str,
        verdict: quality.GateVerdict | None,
        times: list[VideoTime] | None = None,
    ) -> dict[str, Any]:
        """The fields of a probe face (`ProbeFace`); a face below the gate that was searched or compared all the
        same (`verdict` of a face that was not is None) gets the words that go with it; a clip's face its times."""
        warning = None
        if verdict is not None and verdict.below:
            warning = quality_warning(
                float(fs.quality[i]), fs.reasons[i], self.settings.probe_min_quality, verdict.refused
            )
        return {**probe_face_fields(fs, i, pack, version, times), "quality_warning": warning}

    def _choose_faces(self, fs: FaceSet, face: int | None, all_faces: bool, clip: bool = False) -> list[int]:
        if all_faces:
            return list(range(len(fs)))
        if face is not None:
            if not 0 <= face < len(fs):
                order = "in order of appearance" if clip else "from the largest"
                raise ProbeError(
                    f"--face {face} is out of range: the probe has {len(fs)} face(s), numbered "
                    f"0 to {len(fs) - 1} {order}"
                )
            return [face]
        return [0]

    def matches(
        self,
        cols: list[Collection],
        queries: np.ndarray,
        k: int,
        table: CalibrationTable,
        threshold: float,
        gallery_size: int,
        hide: HideFilter | None = None,
        target_fmr: float | None = None,
        indexes: list[VectorIndex] | None = None,
    ) -> Ranking:
        """The ranked, displayable candidates of each embedded probe: index search, then one database read for
        the candidates' provenance (and their embeddings, when calibrated). This and the counters read by
        `index` are all the per-query work.

        With `target_fmr` and a fair calibration shipped for the pack, each candidate's false-match rate and
        its above/below decision come from the calibration of both faces' clusters (fairer across groups of
        people); otherwise from the pack's score table and `threshold`. The score shown is always the model's.
        `indexes`: the collections' indexes when the caller has just made them current (`index`).
        """
        ranking = self._ranking(cols, queries, k, table, threshold, gallery_size, hide, target_fmr, indexes)
        self._remember(ranking.hidden)
        return ranking

    def _ranking(
        self,
        cols: list[Collection],
        queries: np.ndarray,
        k: int,
        table: CalibrationTable,
        threshold: float,
        gallery_size: int,
        hide: HideFilter | None = None,
        target_fmr: float | None = None,
        indexes: list[VectorIndex] | None = None,
    ) -> Ranking:
        # A track keeps up to TRACK_FACES faces: that many times k faces hold k tracks at least.
        fetch = k * TRACK_FACES if has_videos(self.store, [c.id for c in cols]) else k
        scores, ids, hidden = self._ranked(cols, queries, fetch, hide, indexes)
        fair = self._fair(cols[0].model, "all") if target_fmr is not None else None
        details = self.store.face_details([int(x) for x in np.unique(ids) if x >= 0], embeddings=fair is not None)
        if not scores.size:
            fmr, above = np.zeros(scores.shape), np.zeros(scores.shape, bool)
        elif fair is not None and target_fmr is not None:
            fmr = fair.fmr(queries, candidate_vectors(ids, details, cols[0].dim), scores)
            above = fair.decide(fmr, target_fmr)
        else:
            fmr, above = table.fmr_at(scores), scores >= threshold
        floor = fair.fmr_floor if fair is not None and target_fmr is not None else table.fmr_floor
        candidates = [
            [
                candidate_from_row(details[fid], s, f, gallery_size, a, rank, floor)
                for rank, (s, fid, f, a) in enumerate(per_track(scores[q], ids[q], fmr[q], above[q], details, k), 1)
            ]
            for q in range(len(queries))
        ]
        return Ranking(candidates, hidden)

    def search_vectors(
        self,
        cols: list[Collection],
        queries: np.ndarray,
        k: int,
        hide: HideFilter | None = None,
        indexes: list[VectorIndex] | None = None,
    ) -> Ranked:
        """Top-k over the collections of one pack for embedded probes: (scores, ids, hidden), id -1 as
        padding. Faces the hide filter refuses are denied inside the index search (not dropped afterwards)."""
        ranked = self._ranked(cols, queries, k, hide, indexes)
        self._remember(ranked.hidden)
        return ranked

    def _ranked(
        self,
        cols: list[Collection],
        queries: np.ndarray,
        k: int,
        hide: HideFilter | None = None,
        indexes: list[VectorIndex] | None = None,
    ) -> Ranked:
        pack, dim = cols[0].model, cols[0].dim
        if indexes is None:
            indexes = [self.index(c) for c in cols]
        denied = set(self._denied.get(pack, ()))
        hidden: list[Hidden] = []
        for _ in range(HIDE_ROUNDS):
            deny = np.fromiter(denied, np.int64, len(denied)) if denied else None
            scores, ids = _search_all(indexes, queries, k, deny)
            if hide is None or not hide.covers(pack):
                return Ranked(scores, ids, tuple(hidden))
            valid = sorted({int(x) for x in ids[ids >= 0]})
            found = hide.hidden(pack, valid, self.store.embeddings(valid, dim)) if valid else set()
            if found:  # a video's track is one person: hiding one of its faces hides them all
                found = set(track_mates(self.store, found))
            if found:
                hidden.append(Hidden(pack, tuple(sorted(found))))
            blocked = found - denied
            if not blocked:
                return Ranked(scores, ids, tuple(hidden))
            denied |= blocked
        keep = ~np.isin(ids, np.fromiter(denied, np.int64, len(denied)))
        return Ranked(np.where(keep, scores, -np.inf).astype(np.float32), np.where(keep, ids, -1), tuple(hidden))

    def _remember(self, hidden: tuple[Hidden, ...] | list[Hidden]) -> None:
        """Deny from now on what a search that returned has hidden (and reported for the log)."""
        for h in hidden:
            self._denied.setdefault(h.pack, set()).update(h.face_ids)

    # Verify ------------------------------------------------------------------------------------
    def verify(
        self,
        image_a: np.ndarray,
        image_b: np.ndarray,
        model: str | None = None,
        threshold: float | None = None,
        force: bool = False,
        face_a: int = 0,
        face_b: int = 0,
    ) -> Comparison:
        """Compare face `face_a` of the first photo with face `face_b` of the second (0 = largest, the default);
        the answer lists every face found in each photo when either has more than one."""
        pack = model or self.settings.model
        table = load_table(pack, self.settings.home / "calibration")
        sets: list[FaceSet] = []
        verdicts: list[quality.GateVerdict] = []
        for label, img, n, flag in (("first", image_a, face_a, "--face-a"), ("second", image_b, face_b, "--face-b")):
            fs = self.analyze_probe(pack, img)
            if len(fs) == 0:
                raise ProbeError(f"no face found in the {label} photo (model pack {pack})")
            if not 0 <= n < len(fs):
                raise ProbeError(
                    f"{flag} {n} is out of range: the {label} photo has {len(fs)} face(s), numbered 0 to "
                    f"{len(fs) - 1} from the largest"
                )
            verdict = self._gate(fs, n)
            if verdict.refused and not force:
                raise ProbeError(
                    f"the face in the {label} photo is too poor to compare (quality "
                    f"{fs.quality[n]:.2f}: {', '.join(fs.reasons[n]) or 'low quality'}); "
                    "use --force to compare anyway",
                    fs.reasons[n],
                )
            sets.append(fs)
            verdicts.append(verdict)
        a, b = sets[0].embeddings[face_a : face_a + 1], sets[1].embeddings[face_b : face_b + 1]
        score = float(a[0] @ b[0])
        point = verify_point(table, self.settings.verify_fmr, threshold)
        fair = self._fair(pack, "verify") if threshold is None else None
        if fair is not None:
            fmr = float(fair.fmr(a, b, np.array([score]))[0])
            same = bool(fair.decide(np.array([fmr]), self.settings.verify_fmr)[0])
            reason = point.reason + CALIBRATED_NOTE
            threshold_fmr = float(max(10 ** fair.decision_level(self.settings.verify_fmr), fair.fmr_floor))
            floor = fair.fmr_floor
        else:
            fmr, same, reason = float(table.fmr_at(score)), bool(score >= point.threshold), point.reason
            threshold_fmr, floor = point.fmr, table.fmr_floor
        chosen = (face_a, face_b)
        found = None
        if any(len(fs) > 1 for fs in sets):
            found = [
                [
                    FoundFace(
                        face=j,
                        box=[round(float(v), 1) for v in fs.boxes[j]],
                        quality=round(float(fs.quality[j]), 4),
                        quality_reasons=fs.reasons[j],
                        compared=j == n,
                    )
                    for j in range(len(fs))
                ]
                for fs, n in zip(sets, chosen)
            ]
        return comparison(
            score=round(score, 6),
            fmr=fmr,
            threshold=round(point.threshold, 6),
            threshold_fmr=threshold_fmr,
            reason=reason,
            same=same,
            model=pack,
            model_version=table.model_version,
            faces=[
                ProbeFace(**self._probe_face(fs, n, pack, table.model_version, v))
                for fs, n, v in zip(sets, chosen, verdicts)
            ],
            faces_found=found,
            floor=floor,
        )


def _search_all(
    indexes: list[VectorIndex], queries: np.ndarray, k: int, deny: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The best k over several indexes (one per collection)."""
    scores, ids = empty(len(queries), k)
    for index in indexes:
        scores, ids = merge(scores, ids, *index.search(queries, k, deny=deny), k)
    return scores, ids


def _stamp(index: VectorIndex) -> tuple[int, int, int] | None:
    """The identity of an index's file (inode, size, mtime), None for an index without one or not saved yet."""
    path = getattr(index, "path", None)
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _sorted_by_area(fs: FaceSet) -> FaceSet:
    if len(fs) < 2:
        return fs
    area = (fs.boxes[:, 2] - fs.boxes[:, 0]) * (fs.boxes[:, 3] - fs.boxes[:, 1])
    order = np.argsort(-area, kind="stable")
    return FaceSet(
        fs.boxes[order],
        fs.landmarks[order],
        fs.det_scores[order],
        fs.quality[order],
        [fs.reasons[i] for i in order],
        fs.embeddings[order],
        fs.image_size,
    )
