"""Demographic (or any other) group labels for evaluation images: a CSV, or LFW's demographics folder.

Group labels are evaluation inputs only: they never reach matching, and nothing stores them about gallery
subjects. An image without a label in an attribute is left out of that attribute's groups.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.datasets import LabelledSet


@dataclass
class GroupLabels:
    """attribute -> per-image group name ('' = unlabelled), aligned with a LabelledSet's images."""

    attributes: dict[str, np.ndarray]
    source: str
    caveats: list[str]

    def groups(self) -> list[tuple[str, str]]:
        """(attribute, group) for every group present, in a stable order."""
        return [(a, g) for a, labels in self.attributes.items() for g in sorted(set(labels.tolist()) - {""})]


def read_groups_csv(path: Path, ds: LabelledSet) -> GroupLabels:
    """CSV with header `identity,group` or `image,group` (image = file name or path relative to the set root)."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no rows")
    cols = {c.strip().lower(): c for c in rows[0]}
    if "group" not in cols or not ({"identity", "image"} & cols.keys()):
        raise ValueError(f"{path}: the header must be `identity,group` or `image,group`")
    labels = np.full(len(ds), "", dtype=object)
    if "identity" in cols:
        by_id = {r[cols["identity"]].strip(): r[cols["group"]].strip() for r in rows}
        labels[:] = [by_id.get(lab, "") for lab in ds.labels]
    else:
        by_img = {r[cols["image"]].strip(): r[cols["group"]].strip() for r in rows}
        for i, p in enumerate(ds.images):
            rel = str(p.relative_to(ds.root)) if p.is_relative_to(ds.root) else p.name
            labels[i] = by_img.get(rel, by_img.get(p.name, ""))
    return GroupLabels({"group": labels.astype(str)}, str(path), [])


LFW_CAVEATS = [
    "Perceived gender is binary and per image (Afifi & Abdelhamed 2017); the images listed as both are left out.",
    "Ethnicity labels are coarse, per identity, from public actor listings (mica-race-from-face); only "
    "single-label identities are used, and only 866 of 5,749 LFW identities have a label.",
    "Groups with fewer than 10/FMR impostor pairs cannot measure a rate at that FMR; they are flagged.",
]


def lfw_demographics(demo_dir: Path, ds: LabelledSet) -> GroupLabels:
    """Perceived gender per image and single-label ethnicity per identity, from lfw/demographics."""
    female = set((demo_dir / "female_names.txt").read_text().split())
    male = set((demo_dir / "male_names.txt").read_text().split())
    ambiguous = female & male  # listed in both: leave out, as the dataset's README asks
    names = [p.name for p in ds.images]
    gender = np.array(
        ["" if n in ambiguous else "female" if n in female else "male" if n in male else "" for n in names]
    )
    race = json.loads((demo_dir / "lfw_race_dict.json").read_text())
    single = {k: v.strip() for k, v in race.items() if "," not in v}
    ethnicity = np.array([single.get(lab, "") for lab in ds.labels])
    return GroupLabels({"gender": gender, "ethnicity": ethnicity}, str(demo_dir), LFW_CAVEATS)
