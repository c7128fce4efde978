"""Report files of an eval run: plots (matplotlib, Agg), a Markdown summary, the hardest pairs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from evaluation import protocols
from evaluation.datasets import LabelledSet
from evaluation.embed import Embedded
from facesearch.errors import ImageError
from facesearch.pipeline import imaging


def clean_json(obj: Any) -> Any:
    """Non-finite floats become null (strict JSON); numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {k: clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _rel(ds: LabelledSet, i: int) -> str:
    p = ds.images[int(i)]
    return str(p.relative_to(ds.root)) if p.is_relative_to(ds.root) else str(p)


def hardest_pairs(
    ds: LabelledSet, e: Embedded, ap: protocols.AllPairs, k: int = protocols.TOP_K
) -> dict[str, list[dict[str, Any]]]:
    """The strongest impostor and weakest genuine pairs: where label errors (same person under two names,
    a wrong photo in a folder) show up, next to real model errors."""
    strong = [{"a": _rel(ds, i), "b": _rel(ds, j), "score": float(s)} for i, j, s in ap.top_imp[:k]]
    # One wrong face (e.g. a bystander picked as the centre face) fails against every photo of the person:
    # list each image once so the list shows k different problems, not one problem k times.
    weak: list[dict[str, Any]] = []
    seen: set[int] = set()
    for o in np.argsort(ap.genuine)[: 50 * k]:
        i, j = int(ap.gen_i[o]), int(ap.gen_j[o])
        if i in seen or j in seen:
            continue
        seen.update((i, j))
        weak.append({"a": _rel(ds, i), "b": _rel(ds, j), "score": float(ap.genuine[o])})
        if len(weak) == k:
            break
    return {"strongest_impostor": strong, "weakest_genuine": weak}


def _thumb(path: Path, box: np.ndarray, size: int = 96) -> np.ndarray:
    try:
        img, _ = imaging.load_image(path, 50 << 20, 50_000_000)
    except ImageError:
        return np.full((size, size, 3), 200, np.uint8)
    h, w = img.shape[:2]
    if box[2] > box[0]:
        cx, cy, side = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 1.4 * max(box[2] - box[0], box[3] - box[1])
    else:
        cx, cy, side = w / 2, h / 2, min(w, h)
    x1, y1 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    crop = img[y1 : int(min(h, cy + side / 2)), x1 : int(min(w, cx + side / 2))]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return crop[:, :, ::-1]  # RGB for matplotlib


def plots(
    result: dict[str, Any], internal: dict[str, Any], out: Path, ds: LabelledSet, e: Embedded, thumbnails: bool
) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: dict[str, str] = {}
    ap: protocols.AllPairs = internal["ap"]
    res = internal["res"]
    genuine, impostor = internal["ver"]["_scores"]
    title = f"{result['pack']} on {result['dataset']}"

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=80)
        plt.close(fig)
        files[name.removesuffix(".png")] = name

    # ROC: the official pairs (coarse, 1/n steps) and all pairs (down to 1e-6).
    fig, ax = plt.subplots(figsize=(6, 4.2))
    from evaluation import metrics

    _, fmr, tar = metrics.roc(genuine, impostor)
    ax.plot(np.maximum(fmr, 1e-7), tar, label=f"pairs ({len(genuine)}+{len(impostor)})")
    grid = np.linspace(-1, 1, protocols.NBINS + 1)[::10]
    g_sorted = np.sort(ap.genuine)
    if len(g_sorted):
        tar_all = 1 - np.searchsorted(g_sorted, grid, side="left") / len(g_sorted)
        fmr_all = ap.fmr(grid)
        pos = fmr_all > 0
        ax.plot(fmr_all[pos], tar_all[pos], label=f"all pairs ({len(ap.genuine)}+{ap.n_impostor})")
    ax.set_xscale("log")
    ax.set_xlim(1e-7, 1)
    ax.set_xlabel("false match rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_title(f"ROC, {title}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, "roc.png")

    # DET for 1:N.
    _, fpir, fnir = res.det()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.plot(np.maximum(fpir, 1e-4), np.maximum(fnir, 1e-4))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FPIR (non-mated probes returning a candidate)")
    ax.set_ylabel("FNIR (mated probes missed at rank 1)")
    ax.set_title(f"DET, open-set 1:N, gallery {res.gallery_size}, {title}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    save(fig, "det.png")

    # Histograms: all-pairs genuine vs impostor, and 1:N mated vs non-mated top scores.
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    edges = np.linspace(-1, 1, protocols.NBINS + 1)
    coarse = ap.imp_hist.reshape(-1, 100).sum(1)
    centres = edges[:-1].reshape(-1, 100).mean(1)
    axes[0].plot(centres, coarse / max(coarse.sum(), 1) / 0.01, label="impostor pairs")
    if len(ap.genuine):
        axes[0].hist(ap.genuine, bins=200, range=(-1, 1), density=True, histtype="step", label="genuine pairs")
    axes[0].axvline(internal["t_verify"], color="k", ls="--", lw=0.8, label="verify threshold")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("score")
    axes[0].set_title("1:1 all pairs", fontsize=9)
    axes[0].legend(fontsize=7)
    mt = res.mated_score[np.isfinite(res.mated_score)]
    nt = res.nonmated_top[np.isfinite(res.nonmated_top)]
    axes[1].hist(mt, bins=100, range=(-1, 1), density=True, histtype="step", label="mated: mate's score")
    axes[1].hist(nt, bins=100, range=(-1, 1), density=True, histtype="step", label="non-mated: top score")
    axes[1].axvline(internal["t_search"], color="k", ls="--", lw=0.8, label="search threshold")
    axes[1].set_xlabel("score")
    axes[1].set_title(f"1:N, gallery {res.gallery_size}", fontsize=9)
    axes[1].legend(fontsize=7)
    save(fig, "histograms.png")

    if ap.group_names:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        t = np.linspace(-0.2, 1, 600)
        for attr, names in ap.group_names.items():
            for k, g in enumerate(names):
                h = ap.group_imp_hist[attr][k]
                if h.sum() == 0:
                    continue
                f = ap.tail(h, t) / h.sum()
                small = h.sum() * 1e-3 < 10
                ax.plot(
                    t,
                    np.where(f > 0, f, np.nan),
                    ls=":" if small else "-",
                    label=f"{g} ({h.sum()} pairs){' *' if small else ''}",
                )
        ax.plot(t, np.where(ap.fmr(t) > 0, ap.fmr(t), np.nan), color="k", lw=1.5, label="all")
        ax.axvline(internal["t_verify"], color="k", ls="--", lw=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("threshold")
        ax.set_ylabel("FMR (impostor pairs within the group)")
        ax.set_title(f"FMR per group, {title} (* too small for 1e-3)", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
        save(fig, "groups_fmr.png")

    rob = result.get("robustness")
    if rob:
        rows = rob["rows"]
        fig, ax = plt.subplots(figsize=(8, 4))
        labels = [f"{r['kind']}\n{r['level']}" for r in rows]
        x = np.arange(len(rows))
        ax.bar(x - 0.2, [r["rank1"] for r in rows], 0.4, label="rank-1, all probes")
        ax.bar(
            x + 0.2,
            [r["gated_rank1"] if r["gated_rank1"] == r["gated_rank1"] else 0 for r in rows],
            0.4,
            label="rank-1, probes passing the quality gate",
        )
        ax.set_xticks(x, labels, fontsize=6, rotation=45, ha="right")
        ax.set_ylim(0, 1)
        ax.set_ylabel("rank-1 identification rate")
        ax.set_title(f"Robustness, {title}", fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
        save(fig, "robustness.png")

    if thumbnails:
        index = {_rel(ds, i): i for i in range(len(ds))}
        for key, name in (
            ("strongest_impostor", "strongest_impostors.png"),
            ("weakest_genuine", "weakest_genuine.png"),
        ):
            pairs = result["hardest_pairs"][key][:12]
            if not pairs:
                continue
            n_rows = (len(pairs) + 3) // 4
            fig, axes = plt.subplots(n_rows, 4, figsize=(10, 2.6 * n_rows), squeeze=False)
            for ax in np.ravel(axes):
                ax.axis("off")
            for ax, p in zip(np.ravel(axes), pairs):
                i, j = index[p["a"]], index[p["b"]]
                ax.imshow(np.concatenate([_thumb(ds.images[i], e.boxes[i]), _thumb(ds.images[j], e.boxes[j])], 1))
                ax.set_title(f"{p['score']:.3f}\n{Path(p['a']).name}\n{Path(p['b']).name}", fontsize=6)
            save(fig, name)
    return files


def _pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f}%"


def _num(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _rate(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.2e}" if 0 < x < 1e-2 else f"{x:.4f}"


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f" [{_rate(ci[0])}, {_rate(ci[1])}]"


def uncalibrated_view(r: dict[str, Any]) -> dict[str, Any]:
    """The result with its figures on raw scores (the sections written before fair calibration existed)."""
    if not r.get("uncalibrated"):
        return r
    out = {**r, **r["uncalibrated"]}
    out.pop("uncalibrated")
    out["fair_calibration"] = None
    return out


def fair_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, with fair calibration, raw scores) for the side-by-side table."""
    u = r["uncalibrated"]
    rows: list[tuple[str, str, str]] = []

    def add(name: str, cal: str, raw: str) -> None:
        rows.append((name, cal, raw))

    add(
        "10-fold accuracy (View 2 / generated pairs)",
        _pct(r["verification"]["accuracy"]["mean"]),
        _pct(u["verification"]["accuracy"]["mean"]),
    )
    add(
        "TPIR @ FPIR 1e-2",
        _pct(r["identification"]["tpir_at_fpir"]["0.01"].get("tpir")),
        _pct(u["identification"]["tpir_at_fpir"]["0.01"].get("tpir")),
    )
    b, ub = r.get("bootstrap", {}), u.get("bootstrap", {})
    for key, label in (
        ("fmr_at_operating_threshold", "FMR at the verify operating point"),
        ("fnmr_at_operating_threshold", "FNMR at the verify operating point"),
        ("rank1", "rank-1"),
    ):
        if key in b:
            fmt = _pct if key == "rank1" else _rate
            add(
                f"{label} [95% CI over identities]",
                f"{fmt(b[key]['value'])}{_ci(b[key]['ci95'])}",
                f"{fmt(ub[key]['value'])}{_ci(ub[key]['ci95'])}",
            )
    if "fmr_ratio" in b or "fmr_ratio" in ub:
        add(
            "FMR ratio (highest / lowest measurable group) [95% CI]",
            f"{_num(r.get('fmr_ratio'), 2)}{_ci(b.get('fmr_ratio', {}).get('ci95'))}",
            f"{_num(u.get('fmr_ratio'), 2)}{_ci(ub.get('fmr_ratio', {}).get('ci95'))}",
        )
    for name, g in (r.get("groups") or {}).items():
        ug = u["groups"][name]
        if g.get("measurable_at_target_fmr"):
            add(f"FMR, {g['attribute']}: {name}", _rate(g["fmr"]), _rate(ug["fmr"]))
    for name, g in (r.get("groups") or {}).items():
        ug = u["groups"][name]
        if g.get("measurable_at_target_fmr"):
            add(f"FNMR, {g['attribute']}: {name}", _rate(g["fnmr"]), _rate(ug["fnmr"]))
    qg, uq = r["quality_gate"]["ungated"], u["quality_gate"]["ungated"]
    add(
        "FNIR / FPIR at the shipped search threshold",
        f"{_pct(qg['fnir_at_threshold'])} / {_rate(qg['fpir_at_threshold'])}",
        f"{_pct(uq['fnir_at_threshold'])} / {_rate(uq['fpir_at_threshold'])}",
    )
    for mode, m in r.get("search_modes", {}).items():
        um = u.get("search_modes", {}).get(mode, {})

        def cell(x: dict[str, Any]) -> str:
            if not x:
                return "n/a"
            groups = ", ".join(f"{g} {_rate(v)}" for g, v in (x.get("fpir_by_group") or {}).items())
            return f"FNIR {_pct(x['fnir'])}, FPIR {_rate(x['fpir'])}" + (f" ({groups})" if groups else "")

        add(f"1:N `{mode}` (FPIR target {m['target_fpir']:g})", cell(m), cell(um))
    return rows


def markdown(r: dict[str, Any], heading: int = 1) -> str:
    """The report as Markdown: the numbers a reader needs, with the plots."""
    fair_lines: list[str] = []
    h = "#" * heading
    if r.get("fair_calibration"):
        fc = r["fair_calibration"]
        fair_lines = [
            "",
            f"{h}# Fair calibration: with and without",
            "",
            f"Every figure with the pack's fair calibration ({fc['clusters']} clusters, pairs mode "
            f"`{fc['pair_mode']}`, fitted on {fc['dataset']}; docs/calibration.md) and on raw scores with "
            "the score table's thresholds (the sections above). Decisions with the calibration: a pair "
            "matches when its calibrated FMR is at most the target.",
            "",
            "| figure | fair calibration | raw scores |",
            "|---|---|---|",
        ]
        fair_lines += [f"| {a} | {b} | {c} |" for a, b, c in fair_rows(r)]
        r = uncalibrated_view(r)
    v = r["verification"]
    acc = v["accuracy"]
    idn = r["identification"]
    lines = [
        f"{h} {r['pack']} on {r['dataset']}",
        "",
        f"Model `{r['model_version']}`; {r['images']} images of {r['identities']} identities; "
        f"{r['no_face_images']} images with no face found; seed {r['seed']}; created {r['created']}.",
        "",
        f"{h}# Verification (1:1)",
        "",
        f"Pairs: {v['pairs_source']} ({v['pairs']} pairs, {v['failed_to_detect_pairs']} with a failure to "
        "detect, counted as errors).",
        "",
        "| metric | value |",
        "|---|---|",
        f"| {v['folds']}-fold accuracy (threshold from the other folds) | {_pct(acc['mean'])} ± {_pct(acc['std'])} |",
    ]
    if "detected_pairs_only" in acc:
        lines.append(f"| same, only pairs where both faces were found | {_pct(acc['detected_pairs_only'])} |")
    for far, x in v["tar_at_far"].items():
        lines.append(
            f"| TAR @ FAR {far} ({v['impostor']} impostor pairs) | "
            f"{_pct(x['tar']) if x['tar'] is not None else x['note']} |"
        )
    ap = r["all_pairs"]
    for far, x in ap["tar_at_far"].items():
        thr = "" if x.get("threshold") is None else f" (threshold {x['threshold']:.4f})"
        lines.append(
            f"| TAR @ FAR {far}, all {ap['genuine']} genuine / {ap['impostor']} impostor pairs | "
            f"{_pct(x['tar']) if x['tar'] is not None else x['note']}"
            f"{thr} |"
        )
    if "gated" in v:
        g = v["gated"]
        lines.append(
            f"| accuracy, pairs passing the quality gate {g['gate']:g} ({g['refused_pairs']} refused) | "
            f"{_pct(g['accuracy']['mean'])} ± {_pct(g['accuracy']['std'])} |"
        )
    ops = r.get("operating_points") or {}
    if ops:
        lines.append(
            f"| FMR / FNMR on all pairs at the product's verify threshold {ops['verify']['score']:.4f} | "
            f"{_rate(v['fmr_at_operating_threshold'])} / {_rate(v['fnmr_at_operating_threshold'])} |"
        )
    lines += [
        "",
        f"{h}# Identification (1:N, open set)",
        "",
        f"{idn['rule']}.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| gallery size | {idn['gallery_size']} ({idn.get('distractors', 0)} distractors) |",
        f"| mated / non-mated probes | {idn['mated_probes']} / {idn['nonmated_probes']} |",
        f"| rank-1 | {_pct(idn['rank1'])} |",
        f"| rank-10 | {_pct(idn['rank10'])} |",
    ]
    for fpir, x in idn["tpir_at_fpir"].items():
        lines.append(f"| TPIR @ FPIR {fpir} | {_pct(x['tpir']) if x['tpir'] is not None else x['note']} |")
    qg = r["quality_gate"]
    lines += [
        "",
        f"{h}# Quality gate",
        "",
        f"Probes with quality below {qg['gate']:g} are refused by `search` (unless `--force`). "
        f"Refused here: {qg['refused_mated']} mated and {qg['refused_nonmated']} non-mated probes. "
        f"FPIR/FNIR at the product's search threshold {qg['threshold']:.4f}.",
        "",
        "| probes | mated | non-mated | rank-1 | TPIR @ FPIR 1e-2 | FPIR at threshold | FNIR at threshold |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("ungated", "gated"):
        x = qg[name]
        tp = x["tpir_at_fpir"].get("0.01", {}).get("tpir")
        lines.append(
            f"| {name} | {x['mated_probes']} | {x['nonmated_probes']} | {_pct(x['rank1'])} | {_pct(tp)} | "
            f"{_rate(x['fpir_at_threshold'])} | {_rate(x['fnir_at_threshold'])} |"
        )
    if r.get("groups"):
        th = r["groups_thresholds"]
        lines += [
            "",
            f"{h}# Groups",
            "",
            f"Labels: {r.get('groups_source', '')}. FMR and FNMR at the verify threshold {th['fmr_fnmr']:.4f} "
            "over pairs within each group; rank-1 and FPIR of the group's probes at the search threshold "
            f"{th['search']:.4f}. 95% Wilson intervals (pairs treated as independent, so too narrow).",
            "",
            "| group | identities | images | impostor pairs | FMR [95% CI] | genuine pairs | FNMR [95% CI] | "
            "mated probes | rank-1 [95% CI] | non-mated | FPIR | measurable at 1e-3 |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, g in r["groups"].items():
            lines.append(
                f"| {g['attribute']}: {name} | {g['identities']} | {g['images']} | {g['impostor_pairs']} | "
                f"{_rate(g['fmr'])}{_ci(g['fmr_ci95'])} | {g['genuine_pairs']} | "
                f"{_rate(g['fnmr'])}{_ci(g['fnmr_ci95'])} | {g['mated_probes']} | "
                f"{_pct(g['rank1'])}{_ci(g['rank1_ci95'])} | {g['nonmated_probes']} | {_rate(g['fpir'])} | "
                f"{'yes' if g['measurable_at_target_fmr'] else '**no**'} |"
            )
        lines += [
            "",
            f"FMR ratio (highest / lowest measurable group): **{_num(r.get('fmr_ratio'), 2)}**; "
            f"FNMR ratio: {_num(r.get('fnmr_ratio'), 2)}.",
            "",
        ]
        for attr, a in r["groups_by_attribute"].items():
            lines.append(
                f"- {attr}: FMR ratio {_num(a['fmr_ratio'], 2)} over {', '.join(a['measured_fmr_groups'])}"
                f"; highest FMR: {a['max_fmr_group']}; FNMR ratio {_num(a['fnmr_ratio'], 2)}."
            )
        wg = r["worst_group_threshold"]
        lines += [
            "",
            f"Threshold for FMR {wg['target_fmr']:g} on all pairs: {wg['threshold_overall']:.4f} "
            f"(FNMR {_rate(wg['fnmr_overall'])}); for the worst measurable group ({wg['worst_group']}) to meet "
            f"it: {wg['threshold_worst_group']:.4f} (FNMR {_rate(wg['fnmr_worst_group_threshold'])}).",
        ]
        for c in r.get("groups_caveats", []):
            lines.append(f"- {c}")
    rob = r.get("robustness")
    if rob:
        lines += [
            "",
            f"{h}# Robustness",
            "",
            f"{rob['mated_probes']} mated and {rob['nonmated_probes']} non-mated probes (seed {rob['seed']}), "
            f"degraded; clean gallery of {rob['gallery_size']}. TPIR/FPIR at the clean run's FPIR 1e-2 "
            f"threshold {rob['clean_threshold']:.4f}; gate {rob['gate']:g}.",
            "",
            "| degradation | level | no face | rank-1 | rank-10 | TPIR | FPIR | refused by gate "
            "| rank-1 of refused | gated rank-1 | gated FPIR |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for x in rob["rows"]:
            lines.append(
                f"| {x['kind']} | {x['level']} | {_pct(x['no_face'], 1)} | {_pct(x['rank1'], 1)} | "
                f"{_pct(x['rank10'], 1)} | {_pct(x['tpir_at_clean_threshold'], 1)} | "
                f"{_rate(x['fpir_at_clean_threshold'])} | {_pct(x['refused_by_gate'], 1)} | "
                f"{_pct(x.get('rank1_of_refused'), 1)} | "
                f"{_pct(x['gated_rank1'], 1)} | {_rate(x['gated_fpir_at_clean_threshold'])} |"
            )
        p = rob.get("pooled_degraded")
        if p and p["mated_probes"]:
            lines += [
                "",
                f"All degraded mated probes together ({p['mated_probes']}): no face found for "
                f"{_pct(p['no_face'], 1)}; the gate refuses {_pct(p['refused'], 1)} (a face found, quality "
                f"below the gate). Rank-1: {_pct(p['rank1_found'], 1)} over every probe with a face, "
                f"{_pct(p['rank1_gated'], 1)} over the probes the gate accepts, {_pct(p['rank1_of_refused'], 1)}"
                f" over the refused ones, which hold {_pct(p['errors_removed'], 1)} of the rank-1 errors among "
                'probes with a face. ("gated" columns: the probes `search` actually runs, i.e. a face '
                "found and quality at or above the gate.)",
            ]
    ex = r.get("exclusions")
    if ex:
        w = ex["with_exclusions"]
        wv, wi = w["verification"], w["identification"]
        lines += [
            "",
            f"{h}# Exclusions",
            "",
            f"{ex['images_excluded']} images left out by the {ex['entries']} entries of `{ex['source']}` "
            "(known label errors; every pair and probe using them is dropped):",
            "",
            "| metric | all images | with exclusions |",
            "|---|---|---|",
            f"| accuracy ({v['pairs']} / {wv['pairs']} pairs) | {_pct(acc['mean'])} | {_pct(wv['accuracy']['mean'])} |",
            f"| rank-1 | {_pct(idn['rank1'])} | {_pct(wi['rank1'])} |",
        ]
        for fpir in idn["tpir_at_fpir"]:
            lines.append(
                f"| TPIR @ FPIR {fpir} | {_pct(idn['tpir_at_fpir'][fpir].get('tpir'))} | "
                f"{_pct(wi['tpir_at_fpir'][fpir].get('tpir'))} |"
            )
        for far in ("0.0001", "1e-05", "1e-06"):
            a, b = r["all_pairs"]["tar_at_far"].get(far, {}), w["all_pairs"]["tar_at_far"].get(far, {})
            lines.append(f"| TAR @ FAR {far}, all pairs | {_pct(a.get('tar'))} | {_pct(b.get('tar'))} |")
        lines.append(f"| FMR ratio | {_num(r.get('fmr_ratio'), 2)} | {_num(w.get('fmr_ratio'), 2)} |")
    hp = r.get("hardest_pairs")
    if hp:
        lines += [
            "",
            f"{h}# Hardest pairs",
            "",
            "Strongest impostor pairs (label errors, e.g. one person under two names, show up here):",
            "",
        ]
        lines += [f"- {p['score']:.3f} `{p['a']}` vs `{p['b']}`" for p in hp["strongest_impostor"][:10]]
        lines += ["", "Weakest genuine pairs (wrong face picked, misfiled photos, or model errors):", ""]
        lines += [f"- {p['score']:.3f} `{p['a']}` vs `{p['b']}`" for p in hp["weakest_genuine"][:10]]
    lines += fair_lines
    if r.get("plots"):
        lines += ["", f"{h}# Plots", ""]
        lines += [f"![{k}]({f})" for k, f in r["plots"].items()]
    return "\n".join(lines) + "\n"
