"""Photos handed to a use case (a probe, an opt-out photo): bytes with a label, decoded with the same
bounds whatever the entry point: a size limit, the pixel limit (checked from the header before decoding)
and a decode time limit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Settings
from ..errors import ImageError
from ..pipeline import imaging

# Decoding runs on its own small pool so a slow file can be abandoned after `upload_decode_seconds`;
# the pixel limit bounds what an abandoned decode can cost.
_decoder = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")


@dataclass(frozen=True)
class Photo:
    """A photo as received: its bytes (or the file to read them from, so that a file that cannot be read is
    refused inside the use case, and logged like any other refusal) and what to call it in messages."""

    data: bytes | None
    label: str
    path: Path | None = None

    @classmethod
    def from_path(cls, path: Path, settings: Settings | None = None) -> Photo:
        return cls(None, path.name, path)

    def read(self, settings: Settings) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is None:
            raise ImageError(imaging.EMPTY, f"the {self.label} has no content")
        return imaging.read_file(self.path, settings.max_file_bytes)


@dataclass(frozen=True)
class Decoded:
    image: np.ndarray
    sha256: str
    label: str
    data: bytes

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])


def decode(settings: Settings, photo: Photo) -> Decoded:
    data = photo.read(settings)
    if not data:
        raise ImageError(imaging.EMPTY, f"the {photo.label} is an empty file")
    if len(data) > settings.max_file_bytes:
        raise ImageError(
            imaging.TOO_LARGE_FILE,
            f"the {photo.label} is larger than {settings.max_file_bytes} bytes (FACESEARCH_MAX_FILE_BYTES)",
        )
    future = _decoder.submit(imaging.decode_image, data, settings.max_pixels, settings.max_decode_bytes)
    try:
        image = future.result(timeout=settings.upload_decode_seconds)
    except FutureTimeout as exc:
        raise ImageError(
            "DECODE_TIMEOUT", f"decoding the {photo.label} took longer than {settings.upload_decode_seconds:g} s"
        ) from exc
    except ImageError as exc:
        raise ImageError(exc.reason, f"the {photo.label}: {exc.detail}" if exc.detail else photo.label) from exc
    return Decoded(image, imaging.sha256_bytes(data), photo.label, data)
