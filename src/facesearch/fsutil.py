"""File helpers: one atomic write, recognising files left by dead processes, and opening a file beneath a
folder without following a link on the way (`open_beneath`)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO


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


def open_beneath(root: Path, rel: str | PurePosixPath) -> BinaryIO:
    """The regular file `root/rel`, opened for reading without following a symbolic link in any component
    below `root` (each folder is opened with O_NOFOLLOW relative to the one before, so a component swapped
    for a link between a check and the open is refused too). `rel` must be relative, without `..`.

    Raises OSError: ELOOP (or ENOTDIR) for a link on the way, EINVAL for a path that leaves `root` or a file
    that is not regular (a FIFO, a device: opened non-blocking, never waited on), ENOENT when absent."""
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or any(p in ("..", ".") for p in parts):
        raise OSError(errno.EINVAL, "not a path beneath the folder", str(rel))
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    directory = getattr(os, "O_DIRECTORY", 0)
    fd = os.open(root, os.O_RDONLY | directory)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | directory | nofollow, dir_fd=fd)
            os.close(fd)
            fd = inner
        flags = os.O_RDONLY | nofollow | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        found = os.open(parts[-1], flags, dir_fd=fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(found).st_mode):
        os.close(found)
        raise OSError(errno.EINVAL, "not a regular file", str(rel))
    return os.fdopen(found, "rb")
