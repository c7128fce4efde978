"""File helpers for crash safety: one atomic write, and recognising files left by dead processes."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import IO


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable (the directory entry, not only the data)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(path: Path, tmp_dir: Path | None = None) -> Path:
    """Where a write of `path` is prepared: in `tmp_dir` as '<pid>-<name>' (so `clear_stale_temp` can tell a dead
    writer's file), else beside `path` as '.<name>.<pid>.<thread>.tmp'."""
    if tmp_dir is not None:
        return tmp_dir / f"{os.getpid()}-{threading.get_ident()}-{path.name}"
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def write_atomic(
    path: Path,
    data: bytes | str | IO[bytes],
    tmp_dir: Path | None = None,
    *,
    durable: bool = True,
    mode: int = 0o600,
    exclusive: bool = False,
    make_parents: bool = True,
) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part.

    A temporary file is written (mode `mode`), flushed and, when `durable`, fsynced; then renamed over `path`
    and, when `durable`, the folder is fsynced, so the new file survives a power failure as well as a killed
    process. `durable=False` is for files the database does not depend on surviving a power failure (a
    thumbnail is re-made by the next ingest of its photo); it still survives `kill -9`. With `exclusive` the
    file is linked into place only if `path` does not exist yet (FileExistsError otherwise): the first of
    several processes wins. `make_parents=False`: a missing folder is an error (FileNotFoundError), not made.
    `data` may be an open binary file: it is copied as a stream (a large file is never held in memory)."""
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    if tmp_dir is not None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path, tmp_dir)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                if isinstance(data, (bytes, str)):
                    fh.write(data.encode() if isinstance(data, str) else data)
                else:
                    shutil.copyfileobj(data, fh, 1 << 20)
                fh.flush()
                if durable:
                    os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if exclusive:
            try:
                os.link(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def clear_stale_temp(tmp_dir: Path) -> None:
    """Remove half-written files of processes that died; live writers keep theirs."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    for f in tmp_dir.iterdir():
        pid = f.name.split("-", 1)[0]
        if not pid.isdigit() or not pid_alive(int(pid)):
            f.unlink(missing_ok=True)
