"""A real Milvus server for the tests and the benchmarks: the Milvus 2.3 standalone of PyPI's `milvus` package,
on free ports of 127.0.0.1, data and logs in a folder of the caller's.

The tests start one per session in a temporary folder and stop it at the end (import the `milvus_uri`
fixture); FACESEARCH_TEST_MILVUS_URI=milvus://host:19530 runs the same tests against a server of your own
instead. `facesearch bench search --backend milvus` starts one for its run (`embedded_server`, loaded from
the source checkout). The runtime package never starts a server: a deployment names its own.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from facesearch.index.milvus_index import MilvusIndexError

# Settings facesearch recommends for its own collections (docs/scaling.md), applied to the embedded server:
# a shorter time tick makes Strong-consistency searches wait ~20 ms instead of ~200 ms.
EMBEDDED_SETTINGS: dict[str, object] = {"proxy.timeTickInterval": 20}
# The server process of each running embedded server, by URI (to read its memory use).
EMBEDDED_PIDS: dict[str, int] = {}


class EmbeddedServerError(MilvusIndexError):
    """The embedded server could not start (the message ends with the tail of its log)."""


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`milvus://127.0.0.1:<port>` of a running server; skips (with the reason) when none can be started."""
    given = os.environ.get("FACESEARCH_TEST_MILVUS_URI")
    if given:
        yield given
        return
    try:
        import milvus  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"embedded Milvus needs the `milvus` and `pymilvus` packages (pip install -e '.[dev]'): {exc}")
    server = embedded_server(tmp_path_factory.mktemp("milvus"))
    try:
        uri = server.__enter__()
    except EmbeddedServerError as exc:
        pytest.skip(f"the embedded Milvus server could not start: {exc}")
    try:
        yield uri
    finally:
        server.__exit__(None, None, None)


@contextlib.contextmanager
def embedded_server(
    base_dir: Path, *, start_timeout: float = 120.0, settings: dict[str, object] | None = None
) -> Iterator[str]:
    """Run the Milvus 2.3 standalone server of PyPI's `milvus` package, data and logs in `base_dir`, on free
    ports of 127.0.0.1; yields its `milvus://127.0.0.1:<port>` URI and stops it on exit (data kept in
    base_dir). Raises EmbeddedServerError (with the tail of the server's log) when it cannot start."""
    try:
        import milvus
        from milvus import MilvusServer, MilvusServerConfig
    except ImportError as exc:
        raise EmbeddedServerError("the embedded Milvus server needs the `milvus` package: pip install milvus") from exc
    base_dir = Path(base_dir).resolve()
    (base_dir / "configs").mkdir(parents=True, exist_ok=True)
    # The package's embedded etcd binds fixed ports (2379, 2380) unless given its own config file, so two
    # servers on one machine (tests and a benchmark) would collide: give it free ones, through a copy of
    # the package's config template that points etcd at that file.
    client_port, peer_port = _free_ports(2)
    etcd_conf = base_dir / "configs" / "embedded-etcd.yaml"
    etcd_conf.write_text(
        f"name: facesearch\nlisten-client-urls: http://127.0.0.1:{client_port}\n"
        f"advertise-client-urls: http://127.0.0.1:{client_port}\n"
        f"listen-peer-urls: http://127.0.0.1:{peer_port}\n"
        f"initial-advertise-peer-urls: http://127.0.0.1:{peer_port}\n"
        f"initial-cluster: facesearch=http://127.0.0.1:{peer_port}\n"
    )
    packaged = Path(milvus.__file__).parent / "data" / "config.yaml.template"
    template = base_dir / "configs" / "facesearch.yaml.template"
    text = packaged.read_text()
    anchor = "  use:\n    embed: true"
    if anchor not in text:
        raise EmbeddedServerError(f"unexpected config template in {packaged}: cannot configure embedded etcd")
    template.write_text(text.replace(anchor, f"  config:\n    path: {etcd_conf}\n{anchor}", 1))
    config = MilvusServerConfig(template=str(template))
    config.glog_conf_file = str(packaged.parent / "glog.conf")  # set only when the packaged template is used
    server = MilvusServer(config, wait_for_started=False)
    server.set_base_dir(str(base_dir))
    server.config.update(etcd_port=client_port)
    for key, value in {**EMBEDDED_SETTINGS, **(settings or {})}.items():
        server.config.set(key, value)
    try:
        server.start()
        proc: subprocess.Popen[bytes] = server.server_proc
        _wait_healthy(proc, server.webservice_port, start_timeout, base_dir)
        uri = f"milvus://127.0.0.1:{server.listen_port}"
        EMBEDDED_PIDS[uri] = proc.pid
        yield uri
    finally:
        EMBEDDED_PIDS.pop(f"milvus://127.0.0.1:{server.listen_port}", None)
        server.stop()


def _wait_healthy(proc: subprocess.Popen[bytes], metrics_port: int, timeout: float, base_dir: Path) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{metrics_port}/healthz"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmbeddedServerError(f"embedded Milvus exited with code {proc.returncode}: {_log_tail(base_dir)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - a fixed local http URL
                if b"OK" in resp.read():
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise EmbeddedServerError(f"embedded Milvus not healthy after {timeout:.0f} s: {_log_tail(base_dir)}")


def _free_ports(n: int) -> list[int]:
    """n distinct ports free now on 127.0.0.1 (held open together so the kernel gives distinct ones)."""
    socks = []
    try:
        for _ in range(n):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _log_tail(base_dir: Path) -> str:
    for name in ("milvus-stderr.log", "milvus-stdout.log"):
        path = base_dir / "logs" / name
        with contextlib.suppress(OSError):
            lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
            if lines:
                return f"{path}: " + " | ".join(lines[-3:])[-600:]
    return f"no log in {base_dir / 'logs'}"
