"""A seeded set of photos of mixed sizes, as a stand-in for in-the-wild phone and web photos.

    .venv/bin/python benchmarks/mixed_sizes.py --out /tmp/mixed --count 300 [--seed 1234] [--data LFW_DIR]
    facesearch bench ingest --data /tmp/mixed --images 300 --model yunet-reid --repeat 3

Why a stand-in: the repository has no collection of real photos of mixed sizes (only LFW at 250x250, AT&T at
92x112 and the face_recognition test images), and real people's photos cannot be shipped with a benchmark.
What made ingest slow on real photos is not their content but their *geometry*: many different widths,
heights and aspect ratios, large files (12 MP phone photos), varied JPEG quality, EXIF-rotated phone photos
and several faces per photo. This script reproduces that geometry from LFW photos:

- sizes drawn from what phones and the web produce (640x480 ... 4032x3024, 3024x4032 portrait, 1080x1350,
  320x240 thumbnails), and a third of the photos at arbitrary web sizes (any width 300-2000, aspect ratios
  0.56-1.8), so the detector meets hundreds of distinct input shapes as it does on a real collection;
- a scene: a blurred, enlarged LFW photo as the background, with 1 to 4 LFW photos pasted in at random
  places and scales (faces from about 6% to 45% of the photo's short side), feathered at the edges;
- JPEG quality 55 to 95; about one photo in eight is stored rotated with an EXIF Orientation tag (3, 6
  or 8) that turns it upright, as phones do.

It is not a measure of detection quality on real photos (upscaled LFW faces are soft, the backgrounds are
not real scenes); it measures the cost of mixed geometry. The same seed, LFW folder and OpenCV/Pillow
versions write the same files. A hidden `.mixed_sizes.json` in the folder lists every photo's size,
number of pasted faces, JPEG quality and EXIF orientation (hidden files are not ingested).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import DEFAULT_SEED, default_data_dir, list_images  # noqa: E402  (benchmarks/harness.py)

# (width, height, weight): common camera, phone and web sizes.
SIZES: tuple[tuple[int, int, float], ...] = (
    (320, 240, 0.05),
    (640, 480, 0.10),
    (800, 600, 0.08),
    (1024, 768, 0.08),
    (1080, 1350, 0.06),
    (1200, 800, 0.07),
    (1280, 720, 0.05),
    (1600, 1200, 0.05),
    (2048, 1536, 0.04),
    (3024, 4032, 0.05),
    (4032, 3024, 0.04),
)
ARBITRARY = 0.33  # share of photos at an arbitrary web size
EXIF_ROTATED = 0.125
EXIF_ORIENTATION_TAG = 0x0112
# Orientation tag -> how to store an upright image so that applying the tag shows it upright again.
STORE_ROTATION = {3: cv2.ROTATE_180, 6: cv2.ROTATE_90_COUNTERCLOCKWISE, 8: cv2.ROTATE_90_CLOCKWISE}


def pick_size(rng: random.Random) -> tuple[int, int]:
    if rng.random() < ARBITRARY:
        width = rng.randint(300, 2000)
        aspect = rng.uniform(0.56, 1.8)  # width / height
        return width, max(200, round(width / aspect))
    weights = [w for _, _, w in SIZES]
    width, height, _ = rng.choices(SIZES, weights=weights)[0]
    return width, height


def _background(src: np.ndarray, width: int, height: int, rng: random.Random) -> np.ndarray:
    """An LFW photo cropped, enlarged and blurred to fill the frame: colours and texture of a real photo."""
    h, w = src.shape[:2]
    side = rng.randint(h // 3, h // 2)
    x, y = rng.randint(0, w - side), rng.randint(0, h - side)
    small = cv2.resize(
        src[y : y + side, x : x + side], (max(4, width // 64), max(4, height // 64)), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(cv2.GaussianBlur(small, (3, 3), 0), (width, height), interpolation=cv2.INTER_CUBIC)


def _feather(side: int) -> np.ndarray:
    """An alpha mask, 1 in the middle of a square tile and falling to 0 at its edges."""
    ramp = np.minimum(np.arange(side), np.arange(side)[::-1]).astype(np.float32) / max(1.0, side * 0.12)
    ramp = np.clip(ramp, 0, 1)
    return np.minimum(ramp[:, None], ramp[None, :])[..., None]


def make_photo(
    sources: list[Path], width: int, height: int, rng: random.Random, tiles: list[dict[str, Any]] | None = None
) -> tuple[np.ndarray, int]:
    """One scene of width x height with 1 to 4 pasted LFW photos; returns it and how many were pasted. `tiles`,
    when given, receives each pasted photo's place in the upright scene and its source file (the same random
    draws either way, so the same seed writes the same photos)."""
    bg_src = cv2.imread(str(rng.choice(sources)), cv2.IMREAD_COLOR)
    canvas = _background(bg_src, width, height, rng).astype(np.float32)
    short = min(width, height)
    wanted = rng.choices((1, 2, 3, 4), weights=(0.5, 0.25, 0.15, 0.10))[0]
    placed: list[tuple[int, int, int]] = []
    for _ in range(wanted * 10):  # tries, so that tiles do not overlap
        if len(placed) == wanted:
            break
        # LFW's face fills about 45% of its 250 px tile: a tile of side s shows a face of about 0.45 s.
        face_share = rng.uniform(0.06, 0.45) if wanted == 1 else rng.uniform(0.06, 0.45 / wanted**0.5)
        side = max(48, min(short, round(face_share * short / 0.45)))
        x, y = rng.randint(0, width - side), rng.randint(0, height - side)
        if any(x < px + ps and px < x + side and y < py + ps and py < y + side for px, py, ps in placed):
            continue
        source = rng.choice(sources)
        tile = cv2.imread(str(source), cv2.IMREAD_COLOR)
        interp = cv2.INTER_AREA if side < tile.shape[0] else cv2.INTER_CUBIC
        tile = cv2.resize(tile, (side, side), interpolation=interp).astype(np.float32)
        alpha = _feather(side)
        region = canvas[y : y + side, x : x + side]
        canvas[y : y + side, x : x + side] = alpha * tile + (1 - alpha) * region
        placed.append((x, y, side))
        if tiles is not None:
            tiles.append({"x": x, "y": y, "side": side, "source": str(source)})
    return np.clip(canvas, 0, 255).astype(np.uint8), len(placed)


def encode(image: np.ndarray, quality: int, orientation: int) -> bytes:
    """JPEG bytes; with an orientation other than 1 the pixels are stored rotated and the tag undoes it."""
    if orientation != 1:
        image = cv2.rotate(image, STORE_ROTATION[orientation])
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    buf = io.BytesIO()
    if orientation != 1:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION_TAG] = orientation
        pil.save(buf, "JPEG", quality=quality, exif=exif.tobytes())
    else:
        pil.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def write_set(data: Path, out: Path, count: int, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    sources = list_images(data)
    if not sources:
        raise SystemExit(f"no photos under {data}")
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    listing = []
    for i in range(count):
        width, height = pick_size(rng)
        image, faces = make_photo(sources, width, height, rng)
        quality = rng.randint(55, 95)
        orientation = rng.choice((3, 6, 8)) if rng.random() < EXIF_ROTATED else 1
        name = f"mixed_{i:05d}_{width}x{height}.jpg"
        (out / name).write_bytes(encode(image, quality, orientation))
        listing.append(
            {
                "file": name,
                "width": width,
                "height": height,
                "pasted_photos": faces,
                "jpeg_quality": quality,
                "exif_orientation": orientation,
            }
        )
    (out / ".mixed_sizes.json").write_text(
        json.dumps({"seed": seed, "data": str(data), "count": count, "photos": listing}, indent=1) + "\n"
    )
    return listing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, required=True, help="Folder to write the photos to.")
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--data", type=Path, default=default_data_dir(), help="LFW deep-funneled (the source photos).")
    args = ap.parse_args()
    if args.data is None:
        raise SystemExit("no LFW folder: pass --data")
    listing = write_set(args.data, args.out, args.count, args.seed)
    shapes = {(p["width"], p["height"]) for p in listing}
    megapixels = sum(p["width"] * p["height"] for p in listing) / 1e6
    print(
        f"{len(listing)} photos in {args.out}: {len(shapes)} distinct sizes, {megapixels / len(listing):.2f} MP "
        f"on average, {sum(p['pasted_photos'] for p in listing)} pasted LFW photos, "
        f"{sum(p['exif_orientation'] != 1 for p in listing)} EXIF-rotated"
    )


if __name__ == "__main__":
    main()
