"""A FAISS index as files: the index file, its JSON sidecar, and the temporaries of writers that died.

`<index>` is what `faiss.write_index` writes: one of the structures `FaissIndex` knows (flat or HNSW behind an
id map, or IVF with 8-bit codes); reading refuses anything else, and an index of another dimension. Beside it,
`<index>.meta.json` holds what FAISS does not keep (the kind's tuned search parameters, HNSW tombstones).

Every write goes through the project's one atomic write: the sidecar with `fsutil.write_atomic`; the index,
which FAISS writes itself, into `fsutil.temp_name(path)` and then fsync, rename, fsync of the folder (the
same steps). The sidecar is written before the index file, so tombstones are durable no later than the
index they apply to; a sidecar that lists ids the index lacks (a crash between the two renames) is
harmless, ids are never reused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import faiss

from ..fsutil import fsync_dir, pid_alive, temp_name, write_atomic

META_SUFFIX = ".meta.json"
META_FORMAT = 1
# Files at least this big are memory-mapped when opened (read-only; copied into memory on the first write),
# so a big gallery opens in seconds. Smaller ones are simply read.
MMAP_MIN_BYTES = 256 * 2**20


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + META_SUFFIX)


def build_path(path: Path) -> Path:
    """Where a new index of `path` is built (beside it, named with the builder's pid) before it is swapped in."""
    return path.with_name(f"{path.name}.build.{os.getpid()}.tmp")


def kind_of(index: faiss.Index) -> str:
    """flat, hnsw or ivfpq: the kind of a structure this module reads and writes."""
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(inner, faiss.IndexFlat):
        return "flat"
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    return "ivfpq"


# Reading -----------------------------------------------------------------------------------------
def read_index(path: Path, dim: int, mmap_kind: str | None = None) -> faiss.Index:
    """Read an index file and check it is one facesearch writes, of `dim`; memory-mapped when `mmap_kind`
    (the kind the sidecar names: FAISS maps flat and HNSW vectors and IVF lists with different flags)."""
    flags = 0
    if mmap_kind == "ivfpq":
        flags = faiss.IO_FLAG_MMAP
    elif mmap_kind is not None:
        flags = faiss.IO_FLAG_MMAP_IFC
    index = faiss.read_index(str(path), flags)
    if index.d != dim:
        raise ValueError(f"index dimension {index.d} != collection dimension {dim}")
    if isinstance(index, faiss.IndexIDMap2):
        inner = faiss.downcast_index(index.index)
        if not isinstance(inner, (faiss.IndexFlatIP, faiss.IndexHNSWFlat)):
            raise ValueError(f"unexpected index inside the id map ({type(inner).__name__})")
        if faiss.vector_to_array(index.id_map).shape[0] != index.ntotal:
            raise ValueError("ids and vectors differ in number")
        return index
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return index
    raise ValueError(f"not an index facesearch writes ({type(index).__name__})")


def read_meta(path: Path) -> dict[str, Any]:
    """The sidecar of the index at `path`; empty when missing or unreadable (files older than the sidecar)."""
    try:
        meta = json.loads(meta_path(path).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


# Writing -----------------------------------------------------------------------------------------
def write_meta(path: Path, meta: dict[str, Any]) -> None:
    """The sidecar of the index at `path`, replaced atomically and durably."""
    write_atomic(meta_path(path), json.dumps(meta))


def write_index(index: faiss.Index, path: Path) -> None:
    """The index file, replaced atomically and durably: FAISS writes a temporary file of the one atomic write's
    naming, which is fsynced and renamed over `path`; the caller fsyncs the folder (`fsync_dir`) once it has
    written everything that belongs together."""
    tmp = temp_name(path)
    try:
        faiss.write_index(index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def touch(path: Path) -> None:
    """Only the sidecar changed (tombstones): touch the index file so that other processes, which notice a
    changed index by its file's identity, reopen it and see the removals."""
    os.utime(path)


def move_into(path: Path, live_path: Path) -> None:
    """Move a built index and its sidecar over the live ones, durably. Index first, sidecar second: a crash
    between leaves the new index with the old sidecar, whose tombstones name ids the rebuilt index left out
    and whose parameters are ignored when the kind differs."""
    src_meta = meta_path(path)
    os.replace(path, live_path)
    if src_meta.is_file():
        os.replace(src_meta, meta_path(live_path))
    fsync_dir(live_path.parent)


def clear_stale(path: Path) -> None:
    """Remove temporary files of `path` (saves, sidecars, builds) left by writers that died.

    Three namings: the one atomic write's `.<name>.<pid>.<thread>.tmp`, `<name>[.build|.meta.json].<pid>.tmp`
    (builds, and files left by earlier versions), and a build's sidecar `<name>.build.<pid>.tmp.meta.json`."""
    folder = path.parent
    if not folder.is_dir():
        return
    found = [
        *folder.glob(f"{path.name}.*.tmp"),
        *folder.glob(f".{path.name}.*.tmp"),
        *folder.glob(f"{path.name}.build.*.tmp{META_SUFFIX}"),
    ]
    for stale in found:
        name = stale.name.removesuffix(META_SUFFIX)
        parts = name.split(".")
        pid = parts[-3] if name.startswith(".") else parts[-2]
        if pid.isdigit() and not pid_alive(int(pid)):
            stale.unlink(missing_ok=True)
