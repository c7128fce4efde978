"""`facesearch ingest --cluster`: without Ray installed it says how to install it; `auto` needs RAY_ADDRESS;
`local` (or nothing) is this machine's pool. The cluster itself: tests/services/test_ray_cluster.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support.synthetic import write_gallery
from typer.testing import CliRunner

from facesearch.cli import app
from facesearch.config import Settings
from facesearch.errors import ClusterError
from facesearch.services.batching import cluster_address
from facesearch.store import Store
from facesearch.store.audit import entry_dict, iter_entries
from facesearch.vocabulary import Action

runner = CliRunner()
COLLECTION = ["collections", "create", "c", "--source", "test photos", "--legal-basis", "consent", "--keep"]


def test_without_ray_the_cluster_option_says_how_to_install_it(
    tmp_path: Path, synthetic_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as where it is not installed
    write_gallery(tmp_path / "g", [1, 2], 1)
    assert runner.invoke(app, COLLECTION).exit_code == 0
    res = runner.invoke(app, ["ingest", str(tmp_path / "g"), "-c", "c", "--cluster", "ray://127.0.0.1:10001"])
    assert res.exit_code == 2
    assert "pip install 'facesearch[cluster]'" in res.output
    # Nothing ran: no run recorded, and the refusal is in the audit log.
    store = Store(Settings().resolved_database_url)
    assert store.recent_ingest_jobs(5) == []
    [entry] = [entry_dict(e) for e in iter_entries(store) if e.action == Action.INGEST]
    assert entry["outcome"] == "refused" and "facesearch[cluster]" in entry["details"]["reason"]
    # The same through FACESEARCH_CLUSTER; and `--cluster local` overrides it.
    monkeypatch.setenv("FACESEARCH_CLUSTER", "ray://127.0.0.1:10001")
    assert runner.invoke(app, ["ingest", str(tmp_path / "g"), "-c", "c"]).exit_code == 2
    local = runner.invoke(app, ["ingest", str(tmp_path / "g"), "-c", "c", "--cluster", "local", "--json"])
    assert local.exit_code == 0, local.output
    assert '"ingested": 2' in local.stdout


def test_cluster_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cluster_address(None) is None and cluster_address("local") is None and cluster_address(" ") is None
    assert cluster_address("ray://head:10001") == "ray://head:10001"
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ClusterError, match="RAY_ADDRESS"):
        cluster_address("auto")
    monkeypatch.setenv("RAY_ADDRESS", "ray://10.0.0.5:10001")
    assert cluster_address("auto") == "ray://10.0.0.5:10001"
