"""`facesearch backup` and `facesearch restore`: a consistent snapshot of a home, and a restore into an empty one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .actor import WHO, call, cli_actor_name, fail, load_settings, run
from .output import emit

if TYPE_CHECKING:
    from ..app import backup as backup_uc


def backup(
    path: Path = typer.Argument(..., help="A new folder, or a file name ending in .tar."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Snapshot this home while it runs: database (SQLite online backup), index files, thumbnails, uploads,
    score tables, kept probes and the audit checkpoint, with a manifest of checksums. Logged. The audit key
    is not in it: keep a copy of audit.key apart, and give it to `restore --key`."""
    from ..app import backup as backup_uc

    emit(call(backup_uc.backup, path, as_json=as_json), as_json, _show_backup)


def _show_backup(res: backup_uc.BackupSummary) -> None:
    typer.echo(
        f"backup written to {res.to}: {res.files} files, {res.bytes} bytes; "
        f"{res.collections} collection(s), {res.images} image(s), {res.faces} face(s), "
        f"{res.audit.entries} audit entries"
    )
    if res.thumbnails_missing:
        typer.echo(
            f"  {res.thumbnails_missing} thumbnail(s) referenced by faces were missing "
            "(`facesearch doctor` lists them)",
            err=True,
        )
    if not res.audit.ok:
        typer.echo("  warning: the audit log does not verify; the backup holds it as it is:", err=True)
        for p in res.audit.problems:
            typer.echo(f"    {p}", err=True)


def restore(
    path: Path = typer.Argument(..., help="A backup folder or .tar written by `facesearch backup`."),
    key: Path | None = typer.Option(
        None, "--key", metavar="FILE", help="The audit key (audit.key) of the home the backup was made from."
    ),
    without_key: bool = typer.Option(
        False, "--without-key", help="Restore without the audit key (lost): the restored log cannot be verified."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Restore a backup into an empty home (FACESEARCH_HOME): every file is checked against the manifest
    first, indexes are reconciled with the rows, the audit log is verified with the key given apart (backups
    do not hold it), and the restore is logged in the restored audit log."""
    from ..app import backup as backup_uc
    from ..app.context import Actor

    settings = load_settings()
    # The home is empty, so no account can be looked up yet (and no context opened for `call`): the actor is the
    # operating-system user with a role, admin unless --role says otherwise (restore refuses any other).
    actor = Actor(cli_actor_name(), WHO.role or "admin", via="cli", claimed=WHO.name or None)
    res = run(lambda: backup_uc.restore(settings, actor, path, key, without_key), as_json)
    emit(res, as_json, _show_restore)
    if not res.audit.ok:
        fail("the restored audit log does not verify: " + "; ".join(res.audit.problems[:3]), 1, as_json)


def _show_restore(res: backup_uc.RestoreSummary) -> None:
    typer.echo(
        f"restored {res.files} files into {res.home} (backup of {res.backup_created_at}): "
        f"{res.collections} collection(s), {res.images} image(s), {res.faces} face(s)"
    )
    if res.audit.ok:
        typer.echo(f"  audit log verified: {res.audit.entries} entries")


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
