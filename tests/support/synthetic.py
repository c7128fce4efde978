"""Generated "photos" for the `synthetic` test pack: dark noisy backgrounds with one square marker per identity.

A marker is a bright frame around an 8x8 grid of bright and dark cells; the grid is the identity. The
synthetic pack (facesearch.models.synthetic) finds the markers and embeds their grids, so these images
exercise ingest, search and the API without model weights. They are not faces and say nothing about
accuracy.

    from support.synthetic import identity_pattern, photo, write_photo, write_gallery

Run `python tests/synthetic.py` to rebuild the pack's calibration table
(src/facesearch/models/calibration/synthetic.json) from these images.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from facesearch.models.synthetic import FRAME_FRACTION, GRID

PATTERN_SEED = 8_675_309
BACKGROUND_SEED = 1_234_567
VARIANT_SEED = 7_654_321
BRIGHT_LEVEL = 235.0  # frame and bright cells
DARK_LEVEL = 35.0  # dark cells, about the background's level
SIZE_JITTER = 0.1  # marker sides vary by up to +-10% with the seed
MAX_VARIANT_SHIFT = 3  # pixels a variant moves each marker


def identity_pattern(identity: int) -> np.ndarray:
    """The identity's fixed 8x8 grid: uint8 0 (dark) / 1 (bright), exactly half of the cells bright."""
    if identity < 0:
        raise ValueError("identities are non-negative integers")
    rng = np.random.default_rng([PATTERN_SEED, identity])
    cells = np.zeros(GRID * GRID, np.uint8)
    cells[: GRID * GRID // 2] = 1
    rng.shuffle(cells)
    return cells.reshape(GRID, GRID)


def _marker(identity: int, side: int) -> np.ndarray:
    """A (side, side) float grey marker: bright frame, the identity's grid scaled up inside."""
    frame = int(round(side * FRAME_FRACTION))
    inner = side - 2 * frame
    if inner < GRID:
        raise ValueError(f"a marker of {side} px is too small to hold an {GRID}x{GRID} grid")
    out = np.full((side, side), BRIGHT_LEVEL, np.float32)
    cells = np.where(identity_pattern(identity) > 0, BRIGHT_LEVEL, DARK_LEVEL).astype(np.float32)
    out[frame : frame + inner, frame : frame + inner] = cv2.resize(
        cells, (inner, inner), interpolation=cv2.INTER_NEAREST
    )
    return out


def _place(rng: np.random.Generator, sides: list[int], width: int, height: int) -> list[tuple[int, int]]:
    """Top-left corners for squares of these sides, apart from each other and from the edges."""
    placed: list[tuple[int, int, int]] = []
    for side in sides:
        gap = max(6, side // 8) + MAX_VARIANT_SHIFT
        if side + 2 * gap > min(width, height):
            raise ValueError(f"a {side} px marker does not fit in a {width}x{height} image")
        for _ in range(1000):
            x = int(rng.integers(gap, width - side - gap + 1))
            y = int(rng.integers(gap, height - side - gap + 1))
            if all(
                x + side + gap <= px or px + ps + gap <= x or y + side + gap <= py or py + ps + gap <= y
                for px, py, ps in placed
            ):
                placed.append((x, y, side))
                break
        else:
            raise ValueError(
                f"{len(sides)} markers of ~{side} px do not fit in a {width}x{height} image; "
                "use a larger size or a smaller marker_px"
            )
    return [(x, y) for x, y, _ in placed]


def photo(
    identities: list[int], *, seed: int, size: tuple[int, int] = (480, 360), marker_px: int = 120, variant: int = 0
) -> np.ndarray:
    """A BGR uint8 image (size = width, height) holding one marker per identity, in that order.

    `seed` fixes the background, the markers' sides (marker_px +-10%) and their positions. A non-zero
    `variant` moves each marker by a few pixels and changes brightness, contrast, noise and blur a little:
    the same identities in different bytes, embedding close to variant 0.
    """
    width, height = size
    rng = np.random.default_rng([BACKGROUND_SEED, seed])
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = 12.0 * (np.cos(angle) * xx / width + np.sin(angle) * yy / height)
    tint = rng.uniform(-6, 6, 3).astype(np.float32)
    img = (DARK_LEVEL + gradient)[..., None] + tint + rng.normal(0, 6, (height, width, 3)).astype(np.float32)
    sides = [int(round(marker_px * rng.uniform(1 - SIZE_JITTER, 1 + SIZE_JITTER))) for _ in identities]
    corners = _place(rng, sides, width, height)
    vrng = np.random.default_rng([VARIANT_SEED, seed, variant]) if variant else None
    for identity, side, (x, y) in zip(identities, sides, corners):
        if vrng is not None:
            x += int(vrng.integers(-MAX_VARIANT_SHIFT, MAX_VARIANT_SHIFT + 1))
            y += int(vrng.integers(-MAX_VARIANT_SHIFT, MAX_VARIANT_SHIFT + 1))
        img[y : y + side, x : x + side] = _marker(identity, side)[..., None] + tint
    if vrng is not None:
        img = img * vrng.uniform(0.85, 1.1) + vrng.uniform(-15, 15)
        img += vrng.normal(0, vrng.uniform(1, 5), img.shape).astype(np.float32)
        if vrng.random() < 0.5:
            img = cv2.GaussianBlur(img, (0, 0), vrng.uniform(0.4, 0.9))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def write_photo(
    path: Path | str,
    identities: list[int],
    *,
    seed: int,
    fmt: str = "jpg",
    quality: int = 92,
    size: tuple[int, int] = (480, 360),
    marker_px: int = 120,
    variant: int = 0,
) -> Path:
    """Save photo(...) as fmt (jpg, png, webp, bmp; quality for jpg and webp); adds the suffix if missing."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(f".{fmt}")
    params = {
        "jpg": [cv2.IMWRITE_JPEG_QUALITY, quality],
        "jpeg": [cv2.IMWRITE_JPEG_QUALITY, quality],
        "webp": [cv2.IMWRITE_WEBP_QUALITY, quality],
    }.get(fmt.lower(), [])
    ok, buf = cv2.imencode(
        f".{fmt}", photo(identities, seed=seed, size=size, marker_px=marker_px, variant=variant), params
    )
    if not ok:
        raise ValueError(f"could not encode {fmt}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())
    return path


def write_gallery(
    folder: Path | str,
    identities: list[int],
    per_identity: int,
    start_seed: int = 0,
    *,
    fmt: str = "jpg",
    quality: int = 92,
    size: tuple[int, int] = (480, 360),
    marker_px: int = 120,
) -> dict[int, list[Path]]:
    """folder/person_<id>/person_<id>_<k>.<fmt>: per_identity one-marker photos of each identity, each with its
    own seed (start_seed, start_seed + 1, ...) and variant k. Returns identity -> paths, in the given order."""
    folder = Path(folder)
    out: dict[int, list[Path]] = {}
    seed = start_seed
    for identity in identities:
        paths = []
        for k in range(per_identity):
            name = f"person_{identity:04d}"
            paths.append(
                write_photo(
                    folder / name / f"{name}_{k:04d}.{fmt}",
                    [identity],
                    seed=seed,
                    fmt=fmt,
                    quality=quality,
                    size=size,
                    marker_px=marker_px,
                    variant=k,
                )
            )
            seed += 1
        out[identity] = paths
    return out


def _calibrate(identities: int = 200, per_identity: int = 4) -> None:
    """Rebuild models/calibration/synthetic.json: genuine and impostor scores of generated photos, each
    JPEG-encoded at a quality and scale drawn per photo, through the synthetic pack."""
    from facesearch.calibration.tables import build_table, table_path
    from facesearch.models.synthetic import INFO, SyntheticPack
    from facesearch.pipeline.analysis import analyze
    from facesearch.pipeline.imaging import decode_image

    pack = SyntheticPack()
    rng = np.random.default_rng(0)
    labels, vectors = [], []
    seed = 10_000
    for identity in range(identities):
        for k in range(per_identity):
            img = photo([identity], seed=seed, variant=k, marker_px=int(rng.integers(60, 161)))
            seed += 1
            scale = float(rng.choice([1.0, 0.75, 0.5]))
            if scale != 1.0:
                img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 96))])
            assert ok
            faces = analyze(pack, [decode_image(buf.tobytes(), 50_000_000)])[0]
            if len(faces) != 1:
                raise SystemExit(f"identity {identity} photo {k}: {len(faces)} markers found")
            labels.append(identity)
            vectors.append(faces.embeddings[0])
    emb = np.asarray(vectors)
    lab = np.asarray(labels)
    sims = emb @ emb.T
    iu = np.triu_indices(len(lab), 1)
    same = lab[iu[0]] == lab[iu[1]]
    genuine, impostor = sims[iu][same], sims[iu][~same]
    method = (
        f"all {len(genuine)} genuine and {len(impostor)} impostor pairs among {len(lab)} generated "
        f"one-marker photos ({identities} identities x {per_identity} variants; marker 60-160 px, "
        "scale 1/0.75/0.5, JPEG quality 60-95), generated by tests/synthetic.py"
    )
    table = build_table(INFO.name, INFO.version, genuine, impostor, "synthetic markers (tests only)", method, points=40)
    table_path(INFO.name).write_text(table.to_json() + "\n")
    print(
        f"genuine cosine {genuine.min():.4f}..{genuine.max():.4f} (1st percentile "
        f"{np.percentile(genuine, 1):.4f}, median {np.median(genuine):.4f}), "
        f"impostor {impostor.min():.4f}..{impostor.max():.4f}; "
        + ", ".join(f"FMR {f:g}: {table.threshold_for_fmr(f):.4f}" for f in (1e-2, 1e-3, 1e-4)),
        file=sys.stderr,
    )


if __name__ == "__main__":
    _calibrate()
