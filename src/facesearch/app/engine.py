"""The search engine: loaded packs and indexes; 1:N search and 1:1 verify as mechanisms. It embeds the
probe with each collection's pack, never across packs. The rules (who, why, what is hidden) are the use
cases' business: they call this with the filter that hides opted-out faces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..calibration import load_table, search_point, verify_point
from ..config import Settings
from ..errors import CollectionError, ProbeError
from ..index import FaissIndex, open_index
from ..models import load_pack
from ..models.base import ModelPack
from ..pipeline import FaceSet, analyze
from ..store import Store
from ..store.schema import Collection
from .indexes import reconcile

# Candidates fetched beyond k so that faces hidden by a filter do not shorten the list.
HIDDEN_HEADROOM = 16
# (pack, dim, scores, ids, k) -> the best k scores and ids left after hiding some; padding is id -1.
HideFilter = Callable[[str, int, np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


class Engine:
    """Holds loaded packs and indexes so a long-lived process (the web service) pays for them once."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.resolved_database_url)
        self._packs: dict[str, ModelPack] = {}
        self._indexes: dict[int, FaissIndex] = {}

    def load(self, pack: str) -> ModelPack:
        if pack not in self._packs:
            self._packs[pack] = load_pack(pack, self.settings, self.settings.threads_per_worker)
        return self._packs[pack]

    def index(self, col: Collection) -> FaissIndex:
        idx = self._indexes.get(col.id)
        if idx is None:
            idx = open_index(self.settings.index_dir, col.id, col.dim)
            self._indexes[col.id] = idx
        reconcile(idx, self.store, col.id)
        return idx

    def forget_index(self, collection_id: int) -> None:
        self._indexes.pop(collection_id, None)

    def analyze_probe(self, pack: str, image: np.ndarray) -> FaceSet:
        fs = analyze(self.load(pack), [image], self.settings.min_face_px, self.settings.min_detection_score)[0]
        return _sorted_by_area(fs)

    # Search ------------------------------------------------------------------------------------
    def search(self, image: np.ndarray, top_k: int = 10, collections: list[str] | None = None,
               face: int | None = None, all_faces: bool = False, threshold: float | None = None,
               force: bool = False, hide: HideFilter | None = None) -> dict[str, Any]:
        cols = self._collections(collections)
        by_pack: dict[str, list[Collection]] = {}
        for c in cols:
            by_pack.setdefault(c.model, []).append(c)
        # The probe of each pack is compared only with that pack's faces: its threshold and expected false
        # matches are computed over those, not over every collection searched.
        pack_sizes = {pack: self.store.gallery_size([c.id for c in pack_cols]) for pack, pack_cols in by_pack.items()}
        gallery_size = sum(pack_sizes.values())
        out_faces: list[dict[str, Any]] = []
        for pack, pack_cols in by_pack.items():
            pack_size = pack_sizes[pack]
            fs = self.analyze_probe(pack, image)
            if len(fs) == 0:
                raise ProbeError("no face found in the probe photo "
                                 f"(model pack {pack}; faces must be at least {self.settings.min_face_px} px)")
            chosen = self._choose_faces(fs, face, all_faces)
            table = load_table(pack, self.settings.home / "calibration")
            point = search_point(table, self.settings.search_fpir, pack_size, threshold)
            good = [i for i in chosen if force or fs.quality[i] >= self.settings.probe_min_quality]
            if not good:
                i = chosen[0]
                raise ProbeError(
                    f"the probe face is too poor to search (quality {fs.quality[i]:.2f} < "
                    f"{self.settings.probe_min_quality:g}: {', '.join(fs.reasons[i]) or 'low quality'}); "
                    "use a better photo, or --force to search anyway",
                    fs.reasons[i],
                )
            queries = fs.embeddings[good]
            if hide is None:
                scores, ids = self._search_collections(pack_cols, queries, top_k)
            else:
                scores, ids = self._search_collections(pack_cols, queries, top_k + HIDDEN_HEADROOM)
                scores, ids = hide(pack, pack_cols[0].dim, scores, ids, top_k)
            details = self.store.face_details([int(x) for x in np.unique(ids) if x >= 0])
            for i in chosen:
                entry = _face_entry(fs, i, pack, table.model_version, point.as_dict())
                entry["gallery_size"] = pack_size
                entry["collections"] = [c.name for c in pack_cols]
                if i not in good:
                    entry["skipped"] = f"quality {fs.quality[i]:.2f} below {self.settings.probe_min_quality:g}"
                    entry["matches"] = []
                else:
                    q = good.index(i)
                    fmr = table.fmr_at(scores[q]) if scores.shape[1] else np.zeros(0)
                    entry["matches"] = [
                        _match(details[int(fid)], float(s), float(f), pack_size, point.threshold, rank)
                        for rank, (s, fid, f) in enumerate(zip(scores[q], ids[q], fmr), start=1)
                        if fid >= 0 and int(fid) in details
                    ]
                out_faces.append(entry)
        return {"gallery_size": gallery_size, "collections": [c.name for c in cols], "faces": out_faces}

    def _collections(self, names: list[str] | None) -> list[Collection]:
        all_cols = self.store.list_collections()
        if not names:
            if not all_cols:
                raise CollectionError("the gallery is empty: create a collection and ingest photos first "
                                      "(`facesearch collections create`, then `facesearch ingest`)")
            return all_cols
        known = {c.name: c for c in all_cols}
        missing = [n for n in names if n not in known]
        if missing:
            raise CollectionError(f"unknown collection(s): {', '.join(missing)}; known: {', '.join(known) or 'none'}")
        return [known[n] for n in names]

    def _choose_faces(self, fs: FaceSet, face: int | None, all_faces: bool) -> list[int]:
        if all_faces:
            return list(range(len(fs)))
        if face is not None:
            if not 0 <= face < len(fs):
                raise ProbeError(f"--face {face} is out of range: the probe has {len(fs)} face(s), numbered "
                                 f"0 to {len(fs) - 1} from the largest")
            return [face]
        return [0]

    def _search_collections(self, cols: list[Collection], queries: np.ndarray, k: int
                            ) -> tuple[np.ndarray, np.ndarray]:
        all_scores, all_ids = [], []
        for c in cols:
            s, i = self.index(c).search(queries, k)
            all_scores.append(s)
            all_ids.append(i)
        scores = np.concatenate(all_scores, axis=1)
        ids = np.concatenate(all_ids, axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)

    # Verify ------------------------------------------------------------------------------------
    def verify(self, image_a: np.ndarray, image_b: np.ndarray, model: str | None = None,
               threshold: float | None = None, force: bool = False) -> dict[str, Any]:
        pack = model or self.settings.model
        table = load_table(pack, self.settings.home / "calibration")
        faces = []
        for label, img in (("first", image_a), ("second", image_b)):
            fs = self.analyze_probe(pack, img)
            if len(fs) == 0:
                raise ProbeError(f"no face found in the {label} photo (model pack {pack})")
            if not force and fs.quality[0] < self.settings.probe_min_quality:
                raise ProbeError(f"the face in the {label} photo is too poor to compare (quality "
                                 f"{fs.quality[0]:.2f}: {', '.join(fs.reasons[0]) or 'low quality'}); "
                                 "use --force to compare anyway", fs.reasons[0])
            faces.append(fs)
        score = float(faces[0].embeddings[0] @ faces[1].embeddings[0])
        point = verify_point(table, self.settings.verify_fmr, threshold)
        return {
            "score": round(score, 6),
            "fmr": float(table.fmr_at(score)),
            "threshold": round(point.threshold, 6),
            "threshold_fmr": point.fmr,
            "threshold_reason": point.reason,
            "same_person": bool(score >= point.threshold),
            "model": pack,
            "model_version": table.model_version,
            "faces": [_face_entry(fs, 0, pack, table.model_version, None) for fs in faces],
        }


def _sorted_by_area(fs: FaceSet) -> FaceSet:
    if len(fs) < 2:
        return fs
    area = (fs.boxes[:, 2] - fs.boxes[:, 0]) * (fs.boxes[:, 3] - fs.boxes[:, 1])
    order = np.argsort(-area, kind="stable")
    return FaceSet(fs.boxes[order], fs.landmarks[order], fs.det_scores[order], fs.quality[order],
                   [fs.reasons[i] for i in order], fs.embeddings[order], fs.image_size)


def _face_entry(fs: FaceSet, i: int, pack: str, version: str, threshold: dict[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "face": i,
        "box": [round(float(v), 1) for v in fs.boxes[i]],
        "landmarks": fs.landmarks[i].round(1).tolist(),
        "detection_score": round(float(fs.det_scores[i]), 4),
        "quality": round(float(fs.quality[i]), 4),
        "quality_reasons": fs.reasons[i],
        "model": pack,
        "model_version": version,
    }
    if threshold is not None:
        entry["threshold"] = threshold
    return entry


def _match(d: dict[str, Any], score: float, fmr: float, gallery: int, threshold: float, rank: int) -> dict[str, Any]:
    return {
        "rank": rank,
        "score": round(score, 6),
        "fmr": fmr,
        "expected_false_matches": fmr * gallery,
        "above_threshold": bool(score >= threshold),
        "face_id": d["face_id"],
        "collection": d["collection"],
        "box": [round(float(v), 1) for v in d["box"]],
        "quality": round(float(d["quality"]), 4),
        "thumbnail": d["thumbnail"],
        "image": {"id": d["image_id"], "path": d["path"], "source_url": d["source_url"],
                  "sha256": d["sha256"], "metadata": d["metadata"]},
    }

