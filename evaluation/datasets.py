"""Labelled face datasets: LFW (official pairs files) and any `<identity>/<image>` folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facesearch.pipeline.imaging import is_image_path


@dataclass
class LabelledSet:
    name: str
    root: Path
    images: list[Path]  # sorted, unique
    labels: list[str]  # identity of each image

    def __len__(self) -> int:
        return len(self.images)


def folder_dataset(root: Path, name: str | None = None) -> LabelledSet:
    """Every image under root/<identity>/ (identity = first folder level), sorted for reproducibility."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of <identity>/<image> files")
    images, labels = [], []
    for ident in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for img in sorted(p for p in ident.rglob("*") if p.is_file() and is_image_path(p)):
            images.append(img)
            labels.append(ident.name)
    return LabelledSet(name or root.name, root, images, labels)


def lfw_image(root: Path, name: str, number: int) -> Path:
    return root / "deepfunneled" / name / f"{name}_{number:04d}.jpg"


@dataclass
class PairList:
    """Verification pairs as indices into a LabelledSet; fold of each pair for cross-validation."""

    first: list[int]
    second: list[int]
    same: list[bool]
    fold: list[int]


def read_lfw_pairs(root: Path, filename: str) -> tuple[list[tuple[Path, Path, bool]], int]:
    """Parse an LFW pairs file; returns (pairs, number of folds)."""
    lines = (root / filename).read_text().split("\n")
    header = lines[0].split()
    folds = int(header[0]) if len(header) == 2 else 1
    pairs = []
    for line in lines[1:]:
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) == 3:
            pairs.append((lfw_image(root, parts[0], int(parts[1])), lfw_image(root, parts[0], int(parts[2])), True))
        elif len(parts) == 4:
            pairs.append((lfw_image(root, parts[0], int(parts[1])), lfw_image(root, parts[2], int(parts[3])), False))
    return pairs, folds


def lfw_pairs_set(root: Path, filenames: list[str], name: str) -> tuple[LabelledSet, PairList]:
    """The images referenced by LFW pairs files, as a LabelledSet, and the pairs as indices."""
    all_pairs: list[tuple[Path, Path, bool, int]] = []
    for filename in filenames:
        pairs, folds = read_lfw_pairs(root, filename)
        per_fold = max(1, len(pairs) // folds)
        all_pairs.extend((a, b, s, min(i // per_fold, folds - 1)) for i, (a, b, s) in enumerate(pairs))
    paths = sorted({p for a, b, _, _ in all_pairs for p in (a, b)})
    index = {p: i for i, p in enumerate(paths)}
    labels = [p.parent.name for p in paths]
    pl = PairList(
        [index[a] for a, _, _, _ in all_pairs],
        [index[b] for _, b, _, _ in all_pairs],
        [s for _, _, s, _ in all_pairs],
        [f for _, _, _, f in all_pairs],
    )
    return LabelledSet(name, root, paths, labels), pl


def lfw_all(root: Path) -> LabelledSet:
    """All 13,233 deep-funneled LFW images, labelled by folder; the embedding cache is keyed on this list."""
    return folder_dataset(root / "deepfunneled", name="lfw")


def lfw_pairs_in(ds: LabelledSet, root: Path, filename: str = "pairs.txt") -> PairList:
    """An LFW pairs file as indices into a set that holds every image it names (e.g. `lfw_all`)."""
    pairs, folds = read_lfw_pairs(root, filename)
    index = {p: i for i, p in enumerate(ds.images)}
    per_fold = max(1, len(pairs) // folds)
    missing = [p for a, b, _ in pairs for p in (a, b) if p not in index]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images of {filename} are missing, e.g. {missing[0]}")
    return PairList(
        [index[a] for a, _, _ in pairs],
        [index[b] for _, b, _ in pairs],
        [s for _, _, s in pairs],
        [min(i // per_fold, folds - 1) for i in range(len(pairs))],
    )


def read_exclusions(path: Path) -> set[str]:
    """An exclusion list: one image (file name or path relative to the set root) or identity a line; # comments."""
    out = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.add(line)
    return out


def excluded_mask(ds: LabelledSet, exclusions: set[str]) -> np.ndarray:
    """True for images named by the exclusion list, directly or through their identity."""
    mask = np.zeros(len(ds), bool)
    for i, (p, lab) in enumerate(zip(ds.images, ds.labels)):
        rel = str(p.relative_to(ds.root)) if p.is_relative_to(ds.root) else p.name
        mask[i] = p.name in exclusions or rel in exclusions or lab in exclusions
    return mask
