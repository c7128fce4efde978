"""Score -> false-match rate, from tables measured on labelled data and shipped with each model pack.

A table holds, for a grid of thresholds, the fraction of impostor pairs (different people) scoring at or
above it (FMR) and of genuine pairs (same person) scoring below it (FNMR). See docs/calibration.md.

Version 2 tables may also hold, per threshold, the FMR of the worst demographic group measured on the same
set (impostor pairs within each group). Default thresholds are then chosen on that worst-group curve, so the
group with the highest FMR still meets the target; the FMR shown for a score stays the all-pairs rate.
Group labels are used only here, at calibration time, never at search time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FacesearchError

TABLE_VERSION = 2
MIN_GROUP_ERRORS = 10  # a group's FMR is used where at least this many of its impostor pairs match


@dataclass
class CalibrationTable:
    pack: str
    model_version: str
    dataset: str
    method: str
    created: str
    n_genuine: int
    n_impostor: int
    thresholds: list[float]  # ascending
    fmr: list[float]  # non-increasing
    fnmr: list[float]  # non-decreasing
    version: int = TABLE_VERSION
    # Worst-group policy (optional): max over measurable groups of their FMR at each threshold.
    worst_group_fmr: list[float] | None = None
    groups: dict[str, dict[str, Any]] | None = None  # group -> impostor_pairs, genuine_pairs, measurable
    groups_source: str | None = None
    policy: str = "all-pairs FMR"

    @property
    def fmr_floor(self) -> float:
        """The smallest FMR this table can resolve: one impostor pair in all of them."""
        return 1.0 / max(self.n_impostor, 1)

    def fmr_at(self, scores: np.ndarray | float) -> np.ndarray:
        """FMR of each score, interpolated in log space, never below the measurable floor."""
        t = np.asarray(self.thresholds)
        log_fmr = np.log10(np.maximum(np.asarray(self.fmr), self.fmr_floor))
        values = np.interp(np.asarray(scores, np.float64), t, log_fmr, left=0.0, right=log_fmr[-1])
        return np.asarray(10.0**values)

    def fnmr_at(self, score: float) -> float:
        return float(np.interp(score, self.thresholds, self.fnmr, left=0.0, right=1.0))

    def decision_fmr(self) -> np.ndarray:
        """The FMR curve thresholds are chosen on: the worst group's where the table has one."""
        fmr = np.asarray(self.fmr)
        if self.worst_group_fmr is not None and len(self.worst_group_fmr) == len(fmr):
            out: np.ndarray = np.maximum(fmr, np.asarray(self.worst_group_fmr))
            return out
        return fmr

    def threshold_for_fmr(self, target: float) -> float:
        """Lowest threshold whose FMR (worst group's, if measured) is at most the target, clamped to what
        the table can resolve."""
        fmr = self.decision_fmr()
        ok = np.flatnonzero(fmr <= max(target, self.fmr_floor))
        return float(self.thresholds[ok[0]]) if len(ok) else float(self.thresholds[-1])

    def worst_group_fmr_at(self, score: float) -> float | None:
        if self.worst_group_fmr is None:
            return None
        return float(np.interp(score, self.thresholds, self.worst_group_fmr, left=1.0, right=0.0))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalibrationTable:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


GroupCurves = Callable[[np.ndarray], dict[str, tuple[int, int, np.ndarray]]]


def build_table(
    pack: str,
    model_version: str,
    genuine: np.ndarray,
    impostor: np.ndarray,
    dataset: str,
    method: str,
    points: int = 400,
    group_impostors: dict[str, np.ndarray] | None = None,
    group_genuine: dict[str, np.ndarray] | None = None,
    min_group_pairs: int = 10_000,
    groups_source: str | None = None,
    group_curves: GroupCurves | None = None,
) -> CalibrationTable:
    """Tabulate FMR and FNMR on a threshold grid dense where FMR changes (log-spaced FMR levels).

    Group FMR comes either as score arrays per group (`group_impostors`, small sets) or as a function giving
    (impostor pairs, genuine pairs, FMR at each threshold) per group for the table's grid (`group_curves`,
    large sets counted block by block).
    """
    genuine = np.sort(np.asarray(genuine, np.float64))
    impostor = np.sort(np.asarray(impostor, np.float64))
    if len(genuine) == 0 or len(impostor) == 0:
        raise FacesearchError("calibration needs both genuine and impostor pairs")
    n_imp = len(impostor)
    levels = np.unique(np.concatenate([np.logspace(0, -np.log10(n_imp), points), [1.0 / n_imp]]))
    # The score whose FMR equals each level: an impostor order statistic.
    ranks = np.clip(np.ceil(n_imp * (1 - levels)).astype(np.int64), 0, n_imp - 1)
    thresholds = np.unique(np.concatenate([impostor[ranks], np.linspace(-1, 1, 101)]))
    thresholds = np.append(thresholds, impostor[-1] + 1e-6)
    # Rounded once here so that the stored grid and the group curves counted on it agree exactly.
    thresholds = np.unique(np.round(thresholds, 6))
    fmr = 1.0 - np.searchsorted(impostor, thresholds, side="left") / n_imp
    fnmr = np.searchsorted(genuine, thresholds, side="left") / len(genuine)
    table = CalibrationTable(
        pack=pack,
        model_version=model_version,
        dataset=dataset,
        method=method,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        n_genuine=int(len(genuine)),
        n_impostor=int(n_imp),
        thresholds=[float(x) for x in thresholds],
        fmr=[float(x) for x in fmr],
        fnmr=[float(x) for x in fnmr],
    )
    curves: dict[str, tuple[int, int, np.ndarray]] = {}
    for g, imp in (group_impostors or {}).items():
        imp = np.sort(np.asarray(imp, np.float64))
        gen = np.asarray((group_genuine or {}).get(g, np.zeros(0)))
        curves[g] = (len(imp), len(gen), 1.0 - np.searchsorted(imp, thresholds, side="left") / max(len(imp), 1))
    if group_curves is not None:
        curves.update(group_curves(thresholds))
    if curves:
        # Only groups with enough impostor pairs to resolve FMR 1e-3 with ~10 errors take part: a smaller
        # group's curve is mostly noise and would move the threshold on a handful of pairs.
        worst = np.zeros(len(thresholds))
        info: dict[str, dict[str, Any]] = {}
        for g, (n_i, n_g, curve) in sorted(curves.items()):
            measurable = n_i >= min_group_pairs
            info[g] = {"impostor_pairs": int(n_i), "genuine_pairs": int(n_g), "measurable": measurable}
            if measurable:
                # Where fewer than 10 of the group's pairs score above a threshold its rate is a handful of
                # pairs (on LFW mostly label errors: one person under two names), so it is not used there.
                resolved = np.asarray(curve) * n_i >= MIN_GROUP_ERRORS
                worst = np.maximum(worst, np.where(resolved, curve, 0.0))
        table.groups = info
        table.groups_source = groups_source
        if any(v["measurable"] for v in info.values()):
            table.worst_group_fmr = [float(x) for x in worst]
            table.policy = (
                "worst-group FMR: thresholds chosen so that every group with at least "
                f"{min_group_pairs} impostor pairs meets the FMR target, wherever the group's "
                f"rate rests on at least {MIN_GROUP_ERRORS} false matches"
            )
    return table


def table_path(pack: str) -> Path:
    return Path(str(resources.files("facesearch") / "models" / "calibration" / f"{pack}.json"))


def load_table(pack: str, override_dir: Path | None = None) -> CalibrationTable:
    """The table for a pack: a user's own (from `facesearch calibrate`) if present, else the shipped one."""
    candidates = ([override_dir / f"{pack}.json"] if override_dir else []) + [table_path(pack)]
    for path in candidates:
        if path.is_file():
            return CalibrationTable.from_dict(json.loads(path.read_text()))
    raise FacesearchError(f"no calibration table for model pack {pack!r}; run `facesearch calibrate --model {pack}`")


@dataclass
class OperatingPoint:
    threshold: float
    fmr: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"score": round(self.threshold, 6), "fmr": self.fmr, "reason": self.reason}


def verify_point(table: CalibrationTable, target_fmr: float, override: float | None = None) -> OperatingPoint:
    if override is not None:
        return OperatingPoint(override, float(table.fmr_at(override)), "set by --threshold")
    t = table.threshold_for_fmr(target_fmr)
    # The reason says where the threshold comes from without a second rate: the line that shows it already
    # gives the one rate at the threshold (all pairs), which the worst-group policy may set below the target.
    return OperatingPoint(
        t, float(table.fmr_at(t)), f"chosen for FACESEARCH_VERIFY_FMR on {table.dataset}{_policy(table)}"
    )


def _policy(table: CalibrationTable) -> str:
    return ", met by the worst measured group" if table.worst_group_fmr is not None else ""


def search_point(
    table: CalibrationTable, target_fpir: float, gallery_size: int, override: float | None = None
) -> OperatingPoint:
    """Threshold for 1:N: a false-positive identification rate of ~FMR x N needs FMR = FPIR / N."""
    if override is not None:
        return OperatingPoint(override, float(table.fmr_at(override)), "set by --threshold")
    n = max(gallery_size, 1)
    target = target_fpir / n
    t = table.threshold_for_fmr(target)
    reason = (
        f"chosen for FACESEARCH_SEARCH_FPIR {target_fpir:g} (false candidates per search) over a gallery of "
        f"{n} faces on {table.dataset}{_policy(table)}"
    )
    if target < table.fmr_floor:
        reason += "; the highest threshold the calibration can resolve"
    return OperatingPoint(t, float(table.fmr_at(t)), reason)
