"""A seeded set of real photos of varied sizes, as users' in-the-wild photos come: real content, real file sizes.

    .venv/bin/python benchmarks/wild.py --out /tmp/wild600 --count 600 [--seed 1234]
    facesearch bench ingest --data /tmp/wild600 --images 600 --model yunet-reid --repeat 3

Why: `mixed_sizes.py` reproduces the geometry of phone and web photos from LFW faces, not their content (soft,
upscaled faces on blurred backgrounds, small files for their size), so it hid a gap between ingest and a bare
prototype that real photos showed. This set is made from real photos: the 32 photos of the `face_recognition`
library's tests and examples (../shared/datasets/peers/face_recognition, MIT: press and event photos, film stills,
video frames, 240p to 2,333 px, one or two faces, some partial) and the 4 demo photos shipped in the package. Each
photo of the set is one of them (picked at random), cropped at random (70 to 100% of each side, so faces may be
cut), scaled so its longest side is 200 to 1,024 px (as web and chat photos are; the sources are only scaled
down), and written as JPEG at quality 60 to 95 (one in ten as PNG), one in eight stored rotated with an EXIF
Orientation tag. So the set has real faces, backgrounds, noise and compression, and hundreds of distinct sizes.

Its limits, said where its figures are reported: 36 source photos of about 15 people, many of Barack Obama, so
the content repeats; one face per photo on average (crowds and group photos are missing); no photo larger than
1,024 px (see mixed_sizes.py and `facesearch bench large` for those). A hidden `.wild.json` lists every photo.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import DEFAULT_SEED, repo_root  # noqa: E402  (benchmarks/harness.py)

EXIF_ROTATED = 0.125
PNG_SHARE = 0.1
EXIF_ORIENTATION_TAG = 0x0112
STORE_ROTATION = {3: cv2.ROTATE_180, 6: cv2.ROTATE_90_COUNTERCLOCKWISE, 8: cv2.ROTATE_90_CLOCKWISE}


def default_sources() -> list[Path]:
    """The real photos: the peers' test images and examples, then the package's demo photos (distinct files)."""
    root = repo_root()
    peers = root.parent / "shared" / "datasets" / "peers" / "face_recognition"
    found = sorted(p for p in peers.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    found += sorted((root / "src" / "facesearch" / "demo").glob("*.jpg"))
    unique: dict[str, Path] = {}
    for p in found:
        unique.setdefault(hashlib.sha256(p.read_bytes()).hexdigest(), p)
    return list(unique.values())


def _upright(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im) or im
        if im.mode in ("RGBA", "LA", "P"):
            background = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(background, im.convert("RGBA"))
        rgb = np.asarray(im.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def make_photo(source: np.ndarray, rng: random.Random) -> np.ndarray:
    h, w = source.shape[:2]
    ch, cw = round(h * rng.uniform(0.7, 1.0)), round(w * rng.uniform(0.7, 1.0))
    y, x = rng.randint(0, h - ch), rng.randint(0, w - cw)
    crop = source[y : y + ch, x : x + cw]
    longest = rng.randint(200, 1024)
    scale = min(1.0, longest / max(ch, cw))
    if scale < 1.0:
        size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)


def encode(image: np.ndarray, fmt: str, quality: int, orientation: int) -> bytes:
    if orientation != 1:
        image = cv2.rotate(image, STORE_ROTATION[orientation])
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    buf = io.BytesIO()
    kwargs: dict[str, Any] = {}
    if orientation != 1:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION_TAG] = orientation
        kwargs["exif"] = exif.tobytes()
    if fmt == "PNG":
        pil.save(buf, "PNG", **kwargs)
    else:
        pil.save(buf, "JPEG", quality=quality, **kwargs)
    return buf.getvalue()


def write_set(
    out: Path, count: int, seed: int = DEFAULT_SEED, sources: list[Path] | None = None
) -> list[dict[str, Any]]:
    sources = sources or default_sources()
    if not sources:
        raise SystemExit("no source photos (../shared/datasets/peers/face_recognition beside the repository)")
    decoded = [_upright(p) for p in sources]
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    listing = []
    for i in range(count):
        k = rng.randrange(len(sources))
        image = make_photo(decoded[k], rng)
        fmt = "PNG" if rng.random() < PNG_SHARE else "JPEG"
        quality = rng.randint(60, 95)
        orientation = rng.choice((3, 6, 8)) if rng.random() < EXIF_ROTATED else 1
        h, w = image.shape[:2]
        name = f"wild_{i:05d}_{w}x{h}.{'png' if fmt == 'PNG' else 'jpg'}"
        (out / name).write_bytes(encode(image, fmt, quality, orientation))
        listing.append(
            {
                "file": name,
                "source": str(sources[k]),
                "width": w,
                "height": h,
                "format": fmt,
                "jpeg_quality": quality if fmt == "JPEG" else None,
                "exif_orientation": orientation,
            }
        )
    (out / ".wild.json").write_text(
        json.dumps({"seed": seed, "count": count, "sources": [str(s) for s in sources], "photos": listing}, indent=1)
        + "\n"
    )
    return listing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, required=True, help="Folder to write the photos to.")
    ap.add_argument("--count", type=int, default=600)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = ap.parse_args()
    listing = write_set(args.out, args.count, args.seed)
    shapes = {(p["width"], p["height"]) for p in listing}
    size = sum((args.out / p["file"]).stat().st_size for p in listing)
    print(
        f"{len(listing)} photos in {args.out}: {len(shapes)} distinct sizes, "
        f"{sum(p['width'] * p['height'] for p in listing) / len(listing) / 1e6:.2f} MP and "
        f"{size / len(listing) / 1024:.0f} KB on average, {sum(p['format'] == 'PNG' for p in listing)} PNG, "
        f"{sum(p['exif_orientation'] != 1 for p in listing)} EXIF-rotated"
    )


if __name__ == "__main__":
    main()
