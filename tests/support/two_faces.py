"""A photo of two people from LFW photos of each: the first person large, the second small, so that the largest
face (what verify and search take by default) is the first person's. For tests of choosing the face to compare."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# Two people with several LFW photos each, and the photos used: the pair photo takes the first of each, the
# second person's other photo is the one compared with it.
BIG, SMALL = "Colin_Powell", "Tony_Blair"


def face_crop(photo: Path, side: int) -> np.ndarray:
    """The centre of an LFW photo (where its person's face is, without bystanders), `side` pixels square."""
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    h, w = image.shape[:2]
    crop = image[h // 5 : h - h // 5, w // 5 : w - w // 5]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_CUBIC)


def two_face_photo(out: Path, big: Path, small: Path) -> Path:
    """`big`'s person at 300 px and `small`'s at 150 px, side by side on a grey 640 x 400 canvas (JPEG)."""
    canvas = np.full((400, 640, 3), 128, np.uint8)
    canvas[50:350, 20:320] = face_crop(big, 300)
    canvas[125:275, 420:570] = face_crop(small, 150)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return out
