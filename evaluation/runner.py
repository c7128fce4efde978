"""`facesearch eval`: embed a labelled set once (cached), run every protocol, write JSON + Markdown + plots."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from evaluation import bootstrap, protocols, report
from evaluation.datasets import LabelledSet, PairList, excluded_mask
from evaluation.embed import Embedded, embed_full
from evaluation.fair_eval import pair_transform, unit_threshold
from evaluation.groups import GroupLabels
from evaluation.robustness import Degradation, standard
from facesearch.calibration.fair import FairCalibration, load_fair
from facesearch.calibration.tables import load_table, search_point, verify_point
from facesearch.config import SEARCH_MODES, Settings
from facesearch.errors import FacesearchError
from facesearch.models import get_entry

Progress = Callable[[str, int, int], None]


@dataclass
class EvalOptions:
    pack: str
    out: Path
    cache_dir: Path | None
    seed: int = 0
    pairs: PairList | None = None  # official pairs (LFW View 2); generated from the folders otherwise
    pairs_label: str = ""
    groups: GroupLabels | None = None
    exclusions: set[str] = field(default_factory=set)
    exclusion_source: str = ""
    robustness: bool = True
    robust_mated: int = 600
    robust_nonmated: int = 400
    degradations: list[Degradation] | None = None
    thumbnails: bool = True
    plots: bool = True
    list_files: bool = True  # write files.txt (every image, relative to the set's root)
    progress: Progress | None = None
    fair: bool = True  # use the pack's fair calibration (load_fair) for the headline figures when it has one
    bootstrap_replicates: int = bootstrap.REPLICATES


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


def operating_points(pack: str, settings: Settings, gallery_size: int) -> dict[str, Any]:
    """The thresholds the product would use (shipped or user calibration table), so eval measures those."""
    try:
        table = load_table(pack, settings.home / "calibration")
    except FacesearchError:
        return {}
    v = verify_point(table, settings.verify_fmr)
    s = search_point(table, settings.search_fpir, gallery_size)
    return {
        "table_dataset": table.dataset,
        "table_created": table.created,
        "verify": {"target_fmr": settings.verify_fmr, **v.as_dict()},
        "search": {"target_fpir": settings.search_fpir, "gallery_size": gallery_size, **s.as_dict()},
    }


def fair_points(fair: FairCalibration, settings: Settings, gallery_size: int) -> dict[str, Any]:
    """The calibrated decisions the product makes: a pair is a match when its calibrated FMR is at most the
    target (verify: FACESEARCH_VERIFY_FMR; search: FPIR target / gallery size)."""
    n = max(gallery_size, 1)
    return {
        "calibration": {
            "dataset": fair.dataset,
            "created": fair.created,
            "clusters": fair.clusters,
            "pair_mode": fair.pair_mode,
            "seed": fair.seed,
            "fmr_floor": fair.fmr_floor,
        },
        "verify": {
            "target_fmr": settings.verify_fmr,
            "fmr": max(10 ** fair.decision_level(settings.verify_fmr), fair.fmr_floor),
            "reason": "calibrated FMR of the pair at most FACESEARCH_VERIFY_FMR",
        },
        "search": {
            "target_fpir": settings.search_fpir,
            "gallery_size": n,
            "fmr": max(10 ** fair.decision_level(settings.search_fpir / n), fair.fmr_floor),
            "reason": f"calibrated FMR of the candidate at most FPIR {settings.search_fpir:g} / {n} faces",
        },
    }


def _figures(
    ds: LabelledSet, e: Embedded, opts: EvalOptions, settings: Settings, keep: np.ndarray, fair: FairCalibration | None
) -> dict[str, Any]:
    """Every protocol at the product's operating points, on raw scores (fair None) or calibrated values."""
    gate = settings.probe_min_quality
    tf = pair_transform(fair, e.emb) if fair is not None else None
    pairs = opts.pairs or protocols.make_pairs(ds, keep, opts.seed)
    ver = protocols.verification(e, pairs, keep, gate, tf)
    split = protocols.open_set_split(ds.labels, e.ok, keep, opts.seed)
    if tf is None:
        res = protocols.identification(e, ds.labels, split)
    else:
        res = protocols.identification_calibrated(e, ds.labels, split, tf)
    n_gallery = res.gallery_size
    t_verify: float | None
    if fair is not None:
        ops = fair_points(fair, settings, n_gallery)
        t_verify = unit_threshold(fair, settings.verify_fmr)
        t_search = unit_threshold(fair, settings.search_fpir / max(n_gallery, 1))
        ops["verify"]["value"], ops["search"]["value"] = t_verify, t_search
        modes = {m: unit_threshold(fair, f / max(n_gallery, 1)) for m, f in SEARCH_MODES.items()}
    else:
        ops = operating_points(opts.pack, settings, n_gallery)
        t_verify = ops["verify"]["score"] if ops else None
        t_search = ops["search"]["score"] if ops else res.threshold_at_fpir(settings.search_fpir)
        modes = {}
        if ops:
            table = load_table(opts.pack, settings.home / "calibration")
            modes = {m: search_point(table, f, n_gallery).threshold for m, f in SEARCH_MODES.items()}
    ap = protocols.all_pairs(e, ds.labels, keep, opts.groups, transform=tf, collect=t_verify)
    if t_verify is None:  # no calibration table at all: the set's own FMR target threshold
        t_verify = ap.threshold_at_fmr(settings.verify_fmr)
        ap = protocols.all_pairs(e, ds.labels, keep, opts.groups, collect=t_verify)
    assert t_verify is not None
    out: dict[str, Any] = {
        "images": int(keep.sum()),
        "identities": int(len(set(np.asarray(ds.labels)[keep].tolist()))),
        "no_face_images": int((keep & ~e.ok).sum()),
        "operating_points": ops,
        "verification": {k: v for k, v in ver.items() if not k.startswith("_")},
        "all_pairs": protocols.all_pairs_summary(ap),
        "identification": protocols.open_set_summary(res, split),
        "quality_gate": protocols.gate_comparison(
            res, e.quality[split.mated], e.quality[split.nonmated], gate, t_search
        ),
    }
    out["verification"]["pairs_source"] = (
        opts.pairs_label
        or f"generated: identities in 10 folds, seed {opts.seed}, up to 300 genuine + 300 impostor pairs per fold"
    )
    out["verification"]["fmr_at_operating_threshold"] = float(ap.fmr(t_verify))
    out["verification"]["fnmr_at_operating_threshold"] = (
        float((ap.genuine < t_verify).mean()) if len(ap.genuine) else None
    )
    out["search_modes"] = {}
    for m, t in modes.items():
        row: dict[str, Any] = {
            "target_fpir": SEARCH_MODES[m],
            "fpir": float(res.fpir(t)),
            "fnir": float(res.fnir(t)),
            "expected_false_matches_per_search": SEARCH_MODES[m],
        }
        if opts.groups:
            row["fpir_by_group"] = _group_fpir(opts, keep, split, res, t)
        out["search_modes"][m] = row
    codes = protocols.identity_codes(ds.labels)
    w = bootstrap.identity_weights(int(codes.max()) + 1, opts.bootstrap_replicates, opts.seed)
    boot = _bootstrap(w, codes, ap, res, split, e, keep, t_verify)
    out["bootstrap"] = boot  # group_stats below adds fmr_ratio to it
    if opts.groups:
        gs = protocols.group_stats(
            ap, opts.groups, ds.labels, keep, res, split, e, t_verify, t_search, settings.verify_fmr
        )
        _group_bootstrap(gs, w, codes, ap, res, split, e, keep, opts, t_verify, boot)
        out["groups"] = gs["groups"]
        out["groups_by_attribute"] = gs["by_attribute"]
        out["fmr_ratio"] = gs["fmr_ratio"]
        out["fnmr_ratio"] = gs["fnmr_ratio"]
        out["fmr_ratio_ci95_identities"] = gs.get("fmr_ratio_ci95_identities")
        out["worst_group_threshold"] = protocols.worst_group_threshold(ap, settings.verify_fmr)
        out["groups_thresholds"] = {
            "fmr_fnmr": t_verify,
            "search": t_search,
            "scale": "calibrated" if fair is not None else "score",
        }
    out["_internal"] = {"ap": ap, "res": res, "split": split, "ver": ver, "t_verify": t_verify, "t_search": t_search}
    return out


def _group_fpir(
    opts: EvalOptions, keep: np.ndarray, split: protocols.Split, res: Any, t: float
) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    assert opts.groups is not None
    for attr, g in opts.groups.groups():
        ng = (opts.groups.attributes[attr] == g)[split.nonmated] & keep[split.nonmated]
        if ng.sum() >= 100:
            out[g] = float((res.nonmated_top[ng] >= t).mean())
    return out


def _bootstrap(
    w: np.ndarray,
    codes: np.ndarray,
    ap: protocols.AllPairs,
    res: Any,
    split: protocols.Split,
    e: Embedded,
    keep: np.ndarray,
    t: float,
) -> dict[str, Any]:
    """FMR and FNMR at the verify operating point and rank-1, with 95% intervals over identities."""
    imgs = np.flatnonzero(e.ok & keep)
    fm = (ap.fm_i, ap.fm_j)
    fmr = bootstrap.impostor_rate(w, codes[imgs], codes[fm[0]], codes[fm[1]])
    fnmr = bootstrap.unit_rate(w, codes[ap.gen_i], ap.genuine < t)
    rank1 = bootstrap.unit_rate(w, codes[split.mated], res.mated_rank == 1)
    return {
        "method": f"{w.shape[0]} replicates, identities resampled with replacement (pairs weigh the "
        "product of their two people's draws); percentile 95% intervals",
        "fmr_at_operating_threshold": bootstrap.summary(fmr, float(ap.fmr(t))),
        "fnmr_at_operating_threshold": bootstrap.summary(
            fnmr, float((ap.genuine < t).mean()) if len(ap.genuine) else None
        ),
        "rank1": bootstrap.summary(rank1, res.rank_k(1)),
    }


def _group_bootstrap(
    gs: dict[str, Any],
    w: np.ndarray,
    codes: np.ndarray,
    ap: protocols.AllPairs,
    res: Any,
    split: protocols.Split,
    e: Embedded,
    keep: np.ndarray,
    opts: EvalOptions,
    t: float,
    boot: dict[str, Any],
) -> None:
    """Identity-bootstrap intervals for each group's FMR, FNMR and rank-1, and for fmr_ratio."""
    assert opts.groups is not None
    fmr_rep: dict[str, dict[str, np.ndarray]] = {}
    for attr, names in ap.group_names.items():
        lab = opts.groups.attributes[attr]
        for k, g in enumerate(names):
            entry = gs["groups"][g]
            in_g = (lab == g) & keep & e.ok
            both = in_g[ap.fm_i] & in_g[ap.fm_j]
            fmr = bootstrap.impostor_rate(w, codes[np.flatnonzero(in_g)], codes[ap.fm_i[both]], codes[ap.fm_j[both]])
            sel = ap.group_gen[attr] == k
            fnmr = bootstrap.unit_rate(w, codes[ap.gen_i[sel]], ap.genuine[sel] < t)
            mg = in_g[split.mated]
            r1 = bootstrap.unit_rate(w, codes[split.mated[mg]], res.mated_rank[mg] == 1)
            entry["fmr_ci95_identities"] = bootstrap.ci(fmr)
            entry["fnmr_ci95_identities"] = bootstrap.ci(fnmr)
            entry["rank1_ci95_identities"] = bootstrap.ci(r1)
            if g in gs["by_attribute"][attr]["measured_fmr_groups"]:
                fmr_rep.setdefault(attr, {})[g] = fmr
    ratios = []
    for reps in fmr_rep.values():
        if len(reps) >= 2:
            m = np.stack(list(reps.values()))
            lo = m.min(axis=0)
            ratios.append(np.where(lo > 0, m.max(axis=0) / np.maximum(lo, 1e-300), np.inf))
    if ratios:
        r = np.max(np.stack(ratios), axis=0)
        gs["fmr_ratio_ci95_identities"] = bootstrap.ci(r)
        boot["fmr_ratio"] = bootstrap.summary(r, gs["fmr_ratio"])


UNCALIBRATED_KEYS = (
    "operating_points",
    "verification",
    "all_pairs",
    "identification",
    "quality_gate",
    "search_modes",
    "bootstrap",
    "groups",
    "groups_by_attribute",
    "fmr_ratio",
    "fnmr_ratio",
    "fmr_ratio_ci95_identities",
    "worst_group_threshold",
    "groups_thresholds",
)


def evaluate(ds: LabelledSet, e: Embedded, opts: EvalOptions, settings: Settings, keep: np.ndarray) -> dict[str, Any]:
    """Every protocol on one embedded set with a given keep-mask; pure numpy, seconds to minutes.

    The top-level figures are on calibrated values when the pack has a fair calibration (and opts.fair),
    else on raw scores; `uncalibrated` holds the same figures on raw scores with the score-table thresholds,
    side by side. `product_decisions` says which of the two the product's settings decide on
    (FACESEARCH_FAIR_CALIBRATION=all: calibrated; off, the default: uncalibrated).
    """
    fair = load_fair(opts.pack, settings.home / "calibration") if opts.fair else None
    raw = _figures(ds, e, opts, settings, keep, None)
    if fair is None:
        out = raw
        out["fair_calibration"] = None
    else:
        out = _figures(ds, e, opts, settings, keep, fair)
        out["fair_calibration"] = {
            "pack": fair.pack,
            "dataset": fair.dataset,
            "method": fair.method,
            "created": fair.created,
            "clusters": fair.clusters,
            "seed": fair.seed,
            "pair_mode": fair.pair_mode,
        }
        out["_internal"]["raw"] = raw.pop("_internal")
    out["uncalibrated"] = {k: raw[k] for k in UNCALIBRATED_KEYS if k in raw}
    out["product_decisions"] = (
        "calibrated" if fair is not None and settings.fair_calibration == "all" else "uncalibrated"
    )
    return out


def robustness(
    ds: LabelledSet,
    e: Embedded,
    split: protocols.Split,
    clean_threshold: float,
    opts: EvalOptions,
    settings: Settings,
    progress: Progress,
) -> dict[str, Any]:
    """The 1:N run with a fixed random subset of probes degraded; the gallery stays clean."""
    rng = np.random.default_rng(opts.seed + 1)
    m = np.sort(rng.choice(split.mated, min(opts.robust_mated, len(split.mated)), replace=False))
    n = np.sort(rng.choice(split.nonmated, min(opts.robust_nonmated, len(split.nonmated)), replace=False))
    probes = np.concatenate([m, n])
    sub = LabelledSet(
        f"{ds.name}-probes{opts.seed}", ds.root, [ds.images[i] for i in probes], [ds.labels[i] for i in probes]
    )
    sub_split = protocols.Split(split.gallery, m, n, split.distractors, split.rule)
    gate = settings.probe_min_quality
    rows = []
    pooled: dict[str, list[np.ndarray]] = {"hit": [], "accepted": [], "found": []}

    def row(kind: str, level: str, pe: np.ndarray, pok: np.ndarray, q: np.ndarray) -> dict[str, Any]:
        res = protocols.identification(e, ds.labels, sub_split, pe, pok)
        qm, qn = q[: len(m)], q[len(m) :]
        gated = res.subset(qm >= gate, qn >= gate)
        refused = (qm < gate) & pok[: len(m)]
        hits = res.mated_rank == 1
        pooled["hit"].append(hits)
        pooled["accepted"].append(qm >= gate)
        pooled["found"].append(pok[: len(m)].astype(bool))
        return {
            "kind": kind,
            "level": level,
            "rank1": res.rank_k(1),
            "rank10": res.rank_k(10),
            "rank1_of_refused": float(hits[refused].mean()) if refused.any() else None,
            "no_face": float(1 - pok.mean()),
            "tpir_at_clean_threshold": float(1 - res.fnir(clean_threshold)),
            "fpir_at_clean_threshold": float(res.fpir(clean_threshold)),
            "refused_by_gate": float(((q < gate) & pok).mean()),
            "gated_rank1": gated.rank_k(1),
            "gated_fpir_at_clean_threshold": float(gated.fpir(clean_threshold)),
        }

    rows.append(row("clean", "-", e.emb[probes], e.ok[probes], e.quality[probes]))
    degs = opts.degradations if opts.degradations is not None else standard()
    boxes, lms = e.boxes[probes], e.landmarks[probes]
    for k, d in enumerate(degs):
        progress(f"robustness {d.key}", k, len(degs))

        def tf(img: np.ndarray, i: int, d: Degradation = d) -> np.ndarray:
            return d.fn(img, boxes[i], lms[i])

        de = embed_full(sub, opts.pack, settings, opts.cache_dir, transform=tf, transform_key=f"degrade-{d.key}")
        rows.append(row(d.kind, d.level, de.emb, de.ok, de.quality))
    progress("robustness", len(degs), len(degs))

    # All degraded mated probes together: what the gate does to a mixed bag of good and poor probes.
    def cat(key: str) -> np.ndarray:
        return np.concatenate(pooled[key][1:]) if len(pooled[key]) > 1 else np.zeros(0, bool)

    hit, acc, found = cat("hit"), cat("accepted"), cat("found")
    refused = found & ~acc  # a face was found but the gate refuses it (no face at all is counted apart)
    pooled_row = {
        "mated_probes": int(len(hit)),
        "no_face": float((~found).mean()) if len(found) else None,
        "refused": float(refused.mean()) if len(hit) else None,
        "rank1_ungated": float(hit.mean()) if len(hit) else None,
        "rank1_found": float(hit[found].mean()) if found.any() else None,
        "rank1_gated": float(hit[acc].mean()) if acc.any() else None,
        "rank1_of_refused": float(hit[refused].mean()) if refused.any() else None,
        "errors_removed": float((~hit & refused).sum() / max((~hit & found).sum(), 1)) if len(hit) else None,
    }
    return {
        "pooled_degraded": pooled_row,
        "mated_probes": int(len(m)),
        "nonmated_probes": int(len(n)),
        "gallery_size": int(e.ok[split.gallery].sum()),
        "clean_threshold": clean_threshold,
        "gate": gate,
        "seed": opts.seed + 1,
        "rows": rows,
    }


def run_eval(ds: LabelledSet, opts: EvalOptions, settings: Settings, dataset_label: str) -> dict[str, Any]:
    progress = opts.progress or _noop
    opts.out.mkdir(parents=True, exist_ok=True)
    entry = get_entry(opts.pack)
    e = embed_full(
        ds,
        opts.pack,
        settings,
        opts.cache_dir,
        progress=lambda d, t: progress(f"embedding {ds.name} ({opts.pack})", d, t),
    )
    everything = np.ones(len(ds), bool)
    excl = excluded_mask(ds, opts.exclusions) if opts.exclusions else np.zeros(len(ds), bool)
    progress("protocols", 0, 1)
    # The headline figures follow the standard protocol on every image; the exclusion list's effect is
    # reported next to them, so a reader sees how much label errors move each number.
    main = evaluate(ds, e, opts, settings, everything)
    result: dict[str, Any] = {
        "facesearch_eval": 1,
        "dataset": dataset_label,
        "root": str(ds.root),
        "pack": opts.pack,
        "model_version": entry.info.version,
        "seed": opts.seed,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": {"python": platform.python_version(), "machine": platform.machine()},
        "embedding": "the face nearest the image centre of each image; an image with no face is a failure to "
        "detect and counts as an error",
        "files": {
            "count": len(ds),
            "root": str(ds.root),
            "sha256_of_list": _list_hash(ds),
            "listed_in": "files.txt" if opts.list_files else None,
        },
        "quality_gate": settings.probe_min_quality,
    }
    internal = main.pop("_internal")
    result.update(main)
    if opts.groups:
        result["groups_source"] = opts.groups.source
        result["groups_caveats"] = opts.groups.caveats
    if opts.exclusions:
        withx = evaluate(ds, e, opts, settings, ~excl)
        withx.pop("_internal")
        result["exclusions"] = {
            "source": opts.exclusion_source,
            "entries": len(opts.exclusions),
            "images_excluded": int(excl.sum()),
            "with_exclusions": {
                k: withx[k]
                for k in ("verification", "identification", "all_pairs", "quality_gate", "fmr_ratio", "fnmr_ratio")
                if k in withx
            },
        }
    if opts.robustness:
        raw_res = internal.get("raw", internal)["res"]
        result["robustness"] = robustness(
            ds, e, internal["split"], raw_res.threshold_at_fpir(settings.search_fpir), opts, settings, progress
        )
    result["hardest_pairs"] = report.hardest_pairs(ds, e, internal.get("raw", internal)["ap"])
    if opts.list_files:
        (opts.out / "files.txt").write_text("\n".join(_rel_paths(ds)) + "\n")
    if opts.plots:
        progress("plots", 0, 1)
        result["plots"] = report.plots(result, internal.get("raw", internal), opts.out, ds, e, opts.thumbnails)
    result = report.clean_json(result)
    (opts.out / "report.json").write_text(json.dumps(result, indent=1, default=_json_default))
    (opts.out / "report.md").write_text(report.markdown(result))
    progress("done", 1, 1)
    return result


def _rel_paths(ds: LabelledSet) -> list[str]:
    return [str(p.relative_to(ds.root)) if p.is_relative_to(ds.root) else str(p) for p in ds.images]


def _list_hash(ds: LabelledSet) -> str:
    """sha256 of the sorted relative file list: two runs on the same files show the same value."""
    import hashlib

    return hashlib.sha256("\n".join(_rel_paths(ds)).encode()).hexdigest()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))
