"""docs/accuracy.md from a set of eval results (written by `facesearch eval docs`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evaluation.report import _pct, _rate, fair_rows, markdown, uncalibrated_view

PUBLISHED = {"dlib": "99.38%", "yunet-reid": "99.47% (reid-0095 alone, Intel's figure)"}

INTRO = """# Accuracy

Every number on this page was measured by facesearch itself on public benchmark photos, with the same
pipeline the product runs (detect, align, quality, embed; the face nearest the image centre of each photo).
Regenerate the whole page, tables and plots, with one command (about {minutes} minutes on 2 cores once the
embeddings are cached; the first dlib run embeds LFW at ~15-25 images/s):

```
facesearch eval docs --lfw ../shared/datasets/lfw --att ../shared/datasets/att_orl --models yunet-reid,dlib
```

Each run's full report (`report.md`, `report.json`, plots) is in `docs/accuracy/<dataset>-<pack>/`; its
`report.json` holds the number of images and a sha256 of the sorted file list (`facesearch eval lfw` writes
the list itself to `files.txt`). Runs are deterministic (seed 0 for every random choice). The hardest-pair
thumbnails are left out of the docs (the photos are research benchmarks, not ours to redistribute): run
`facesearch eval lfw --data ../shared/datasets/lfw --model PACK --out DIR` to get them in DIR.

How to read it: see the protocols section at the end, and `docs/calibration.md` for where the product's
thresholds come from.
"""

PROTOCOLS = """## Protocols

- **Verification, LFW View 2**: the 6,000 pairs of `pairs.txt`, 10 folds; for each fold the threshold that
  maximises accuracy on the other 9 is applied to it; mean and standard deviation over the folds. A pair with an
  image where no face was found counts as an error. TAR at FAR on the 3,000 impostor pairs can only resolve
  FAR >= 1/3000: 1e-4 is marked not measurable there, and the *all pairs* rows give it over every pair of LFW
  images (about 240,000 genuine and 87 million impostor pairs).
- **Identification, open set** (NIST FRTE style): gallery = one photo (random, seeded) of each person with 2+
  photos, plus half of the single-photo people as distractors; mated probes = the other photos of the enrolled
  people; non-mated probes = the other half of the single-photo people. Rank-1/10 over mated probes; TPIR at
  FPIR: the threshold at which the given share of non-mated probes return a candidate, and the share of mated
  probes whose mate is first with a score above it. AT&T has no single-photo people: a quarter of the people
  are held out as non-mated probes.
- **Groups**: FMR over impostor pairs *within* a group, FNMR over its genuine pairs, at the product's verify
  threshold (FMR 1e-3 by the shipped table); open-set rank-1 and FPIR of the group's probes at the product's
  search threshold. Intervals are 95% Wilson intervals treating pairs as independent: pairs share people, so
  the real uncertainty is larger. A group with fewer than 10,000 impostor pairs cannot measure a rate at 1e-3
  (fewer than 10 expected errors) and is marked **not measurable**.
- **Quality gate**: the same 1:N run with probes below `FACESEARCH_PROBE_MIN_QUALITY` refused (as `search`
  does without `--force`); refused probes leave the denominators, and the refusals are counted.
- **Robustness**: a fixed random subset of probes, each degraded in controlled steps, searched against the
  clean gallery; the threshold is the clean run's FPIR 1e-2 threshold.
"""


def fair_section(results: list[tuple[str, str, Path, dict[str, Any]]]) -> list[str]:
    """Side by side, per run with a fair calibration: every headline figure with it and on raw scores."""
    runs = [(name, pack, r) for name, pack, _s, r in results if r.get("fair_calibration")]
    if not runs:
        return []
    lines = [
        "## Fair calibration: with and without",
        "",
        "Label-free fair calibration (docs/calibration.md): the FMR of a pair and the threshold decision "
        "come from the curve of the face cluster(s) the pair falls in; the score shown stays the model's. "
        "Each figure with it (the product's decisions) and on raw scores with the score table's thresholds "
        "(`uncalibrated` in report.json). Intervals: 95%, identities resampled (see Protocols).",
        "",
    ]
    for _name, pack, r in runs:
        fc = r["fair_calibration"]
        lines += [
            f"**{pack} on {r['dataset']}** ({fc['clusters']} clusters, fitted on {fc['dataset']}):",
            "",
            "| figure | fair calibration | raw scores |",
            "|---|---|---|",
        ]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in fair_rows(r)]
        lines.append("")
    return lines


def write_accuracy_md(results: list[tuple[str, str, Path, dict[str, Any]]], out: Path) -> str:
    minutes = 5 + 3 * len(results)
    fair = fair_section(results)
    # The sections below describe raw scores and the score table's thresholds, as before fair calibration.
    full = {id(s): r for _n, _p, s, r in results}
    results = [(n, p, s, uncalibrated_view(r)) for n, p, s, r in results]
    lines = [
        INTRO.format(minutes=minutes),
        "## Summary",
        "",
        "| dataset | pack | 10-fold accuracy | TAR@FAR 1e-3 (all pairs) | TAR@FAR 1e-4 (all pairs) | rank-1 | "
        "TPIR@FPIR 1e-2 | TPIR@FPIR 1e-3 | gallery | no face | FMR ratio | published LFW |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, pack, _sub, r in results:
        v, i, ap = r["verification"], r["identification"], r["all_pairs"]["tar_at_far"]
        ratio = "n/a" if r.get("fmr_ratio") is None else f"{r['fmr_ratio']:.2f}"
        lines.append(
            f"| {r['dataset']} | {pack} | {_pct(v['accuracy']['mean'])} ± {_pct(v['accuracy']['std'])} | "
            f"{_pct(ap.get('0.001', {}).get('tar'))} | {_pct(ap.get('0.0001', {}).get('tar'))} | "
            f"{_pct(i['rank1'])} | {_pct(i['tpir_at_fpir']['0.01'].get('tpir'))} | "
            f"{_pct(i['tpir_at_fpir']['0.001'].get('tpir'))} | {i['gallery_size']} | {r['no_face_images']} | "
            f"{ratio} | "
            f"{PUBLISHED.get(pack, '') if name == 'lfw' else ''} |"
        )
    lines += ["", "## Findings", ""] + findings(results)
    if fair:
        lines += [""] + fair
    lines += [
        "",
        "## Quality gate: gated vs ungated probes (LFW)",
        "",
        "| pack | probes | refused (mated / non-mated) | rank-1 | TPIR@FPIR 1e-2 | FPIR at search threshold |",
        "|---|---|---|---|---|---|",
    ]
    for name, pack, _sub, r in results:
        if name != "lfw":
            continue
        q = r["quality_gate"]
        for k in ("ungated", "gated"):
            x = q[k]
            refused = f"{q['refused_mated']} / {q['refused_nonmated']}" if k == "gated" else "-"
            lines.append(
                f"| {pack} | {k} | {refused} | {_pct(x['rank1'])} | "
                f"{_pct(x['tpir_at_fpir']['0.01'].get('tpir'))} | {_rate(x['fpir_at_threshold'])} |"
            )
    gate_report = out / "accuracy" / "gate" / "report.json"
    if gate_report.is_file():  # written by `facesearch eval gate`
        from evaluation.gate import docs_section

        lines += ["", docs_section(json.loads(gate_report.read_text()))]
    lines += [
        "",
        "## Groups (LFW)",
        "",
        "| pack | group | identities | impostor pairs | FMR at verify threshold [95% CI] | FNMR | rank-1 | "
        "measurable at 1e-3 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _name, pack, _sub, r in results:
        for g, x in (r.get("groups") or {}).items():
            ci = x["fmr_ci95"]
            lines.append(
                f"| {pack} | {x['attribute']}: {g} | {x['identities']} | {x['impostor_pairs']} | "
                f"{_rate(x['fmr'])}{'' if not ci else f' [{_rate(ci[0])}, {_rate(ci[1])}]'} | "
                f"{_rate(x['fnmr'])} | {_pct(x['rank1'])} | "
                f"{'yes' if x['measurable_at_target_fmr'] else '**no**'} |"
            )
    small = sorted(
        {
            g
            for _n, _p, _s, r in results
            for g, x in (r.get("groups") or {}).items()
            if not x["measurable_at_target_fmr"]
        }
    )
    if small:
        lines += [
            "",
            f"Too small to measure a rate at 1e-3 (fewer than 10,000 impostor pairs within the group): "
            f"**{', '.join(small)}**. Their FMR values are shown for completeness and mean little.",
        ]
    lines += ["", PROTOCOLS]
    for _name, _pack, sub, r in results:
        body = markdown(full[id(sub)], heading=2)
        rel = sub.relative_to(out) if sub.is_relative_to(out) else sub
        for f in (r.get("plots") or {}).values():
            body = body.replace(f"]({f})", f"]({rel.as_posix()}/{f})")
        lines += [body]
    return "\n".join(lines) + "\n"


PUBLISHED_ACC = {"dlib": 0.9938, "yunet-reid": 0.9947}


def findings(results: list[tuple[str, str, Path, dict[str, Any]]]) -> list[str]:
    """Plain statements computed from the numbers, so they stay true when the page is regenerated."""
    out: list[str] = []
    for name, pack, _sub, r in results:
        if name != "lfw":
            continue
        v = r["verification"]
        acc, std = v["accuracy"]["mean"], v["accuracy"]["std"]
        pub = PUBLISHED_ACC.get(pack)
        if pub is not None:
            gap = acc - pub
            verdict = "matches" if abs(gap) <= std else "is above" if gap > 0 else "falls short of"
            out.append(
                f"- **{pack}**: LFW 10-fold accuracy {_pct(acc)} ± {_pct(std)} {verdict} the published "
                f"{_pct(pub)} (difference {100 * gap:+.2f} points, fold std {_pct(std)}); "
                f"{v['failed_to_detect_pairs']} of {v['pairs']} pairs had an image with no face found, "
                f"{r['no_face_images']} of {r['images']} LFW images overall"
                + (
                    f"; on the pairs where both faces were found, accuracy is "
                    f"{_pct(v['accuracy']['detected_pairs_only'])}, so detection misses (the pack's "
                    "detector, not its embedding) account for "
                    f"{100 * (v['accuracy']['detected_pairs_only'] - acc):.2f} points of the gap"
                    if "detected_pairs_only" in v["accuracy"]
                    else ""
                )
                + "."
            )
        wg = r.get("worst_group_threshold")
        if wg and wg.get("worst_group"):
            out.append(
                f"- **{pack}**: on all LFW pairs, FMR {wg['target_fmr']:g} needs threshold "
                f"{wg['threshold_overall']:.3f} overall but {wg['threshold_worst_group']:.3f} for the "
                f"{wg['worst_group']} group; taking the higher one (the shipped default) raises FNMR from "
                f"{_pct(wg['fnmr_overall'])} to {_pct(wg['fnmr_worst_group_threshold'])} on all genuine pairs."
            )
        q = r["quality_gate"]
        ops = r.get("operating_points") or {}
        if ops:
            u = q["ungated"]
            fp = {
                g: x["fpir"]
                for g, x in (r.get("groups") or {}).items()
                if x.get("fpir") is not None and x["nonmated_probes"] >= 100
            }
            thr = q["threshold"]
            out.append(
                f"- **{pack}**: the shipped search threshold for this gallery ({thr:.3f}: FPIR target "
                f"{ops['search']['target_fpir']:g} / {ops['search']['gallery_size']} faces, worst-group "
                "policy) "
                f"gives FPIR {_rate(u['fpir_at_threshold'])} and FNIR {_pct(u['fnir_at_threshold'])} on LFW"
                + (
                    f"; FPIR per group with 100+ non-mated probes: "
                    f"{', '.join(f'{g} {_rate(v)}' for g, v in fp.items())}"
                    if fp
                    else ""
                )
                + ". The price of meeting the target for the worst group is paid in missed mates."
            )
        rob = r.get("robustness")
        if rob:
            rows = [x for x in rob["rows"] if x["kind"] != "clean"]
            worst = min(rows, key=lambda x: x["rank1"])
            out.append(
                f"- **{pack}** ({rob['mated_probes']} mated robustness probes): the hardest degradation is "
                f"{worst['kind']} ({worst['level']}): rank-1 {_pct(worst['rank1'], 1)}, no face found for "
                f"{_pct(worst['no_face'], 1)}; the quality gate refuses {_pct(worst['refused_by_gate'], 1)} "
                f"of those probes and rank-1 on the ones it accepts is {_pct(worst['gated_rank1'], 1)}."
            )
        p = (rob or {}).get("pooled_degraded")
        if p and p.get("rank1_gated") is not None:
            out.append(
                f"- **{pack}**: over all degraded probes with a face, the gate refuses {_pct(p['refused'], 1)}"
                f"; they hold {_pct(p['errors_removed'], 1)} of the rank-1 errors (rank-1 "
                f"{_pct(p['rank1_of_refused'], 1)} among them), and rank-1 on the accepted probes is "
                f"{_pct(p['rank1_gated'], 1)} against {_pct(p['rank1_found'], 1)} ungated."
            )
        ex = r.get("exclusions")
        if ex:
            w = ex["with_exclusions"]["identification"]["tpir_at_fpir"]
            out.append(
                f"- **{pack}**: leaving out {ex['images_excluded']} images with known label errors moves TPIR "
                f"at FPIR 1e-3 from {_pct(r['identification']['tpir_at_fpir']['0.001'].get('tpir'))} to "
                f"{_pct(w['0.001'].get('tpir'))} and at FPIR 1e-2 from "
                f"{_pct(r['identification']['tpir_at_fpir']['0.01'].get('tpir'))} to "
                f"{_pct(w['0.01'].get('tpir'))}: the low-FPIR end of LFW measures its labels more than "
                "the model."
            )
        out.append(
            f"- **{pack}**: on clean LFW probes the gate refuses {q['refused_mated']} mated and "
            f"{q['refused_nonmated']} non-mated probes (rank-1 {_pct(q['ungated']['rank1'])} ungated, "
            f"{_pct(q['gated']['rank1'])} gated)."
        )
        top = r.get("hardest_pairs", {}).get("strongest_impostor", [])
        if top:
            out.append(
                f"- **{pack}**: the strongest impostor pairs score up to {top[0]['score']:.3f}; most of the "
                "top ones are LFW label errors (the same person under two spellings, e.g. "
                "`Choi_Sung-hong` / `Sung_Hong_Choi`, or the same photo filed under two people). They set "
                "the low-FMR end of every curve here, TPIR at FPIR 1e-3 in particular (with ~2,000 "
                "non-mated probes, 2 such probes decide it)."
            )
    return out
