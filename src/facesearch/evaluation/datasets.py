"""Labelled face datasets: LFW (official pairs files) and any `<identity>/<image>` folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..imaging import is_image_path


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
    pl = PairList([index[a] for a, _, _, _ in all_pairs], [index[b] for _, b, _, _ in all_pairs],
                  [s for _, _, s, _ in all_pairs], [f for _, _, _, f in all_pairs])
    return LabelledSet(name, root, paths, labels), pl
