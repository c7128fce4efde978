"""File helpers for crash safety: atomic writes and recognising files left by dead processes."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_atomic(path: Path, data: bytes, tmp_dir: Path) -> None:
    """Write via a temporary file named '<pid>-<name>' in tmp_dir, then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{os.getpid()}-{path.name}"
    try:
        tmp.write_bytes(data)
    except FileNotFoundError:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
    os.replace(tmp, path)


def clear_stale_temp(tmp_dir: Path) -> None:
    """Remove half-written files of processes that died; live writers keep theirs."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    for f in tmp_dir.iterdir():
        pid = f.name.split("-", 1)[0]
        if not pid.isdigit() or not pid_alive(int(pid)):
            f.unlink(missing_ok=True)
