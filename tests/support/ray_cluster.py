"""A real Ray cluster for the tests: a head and a second node joining it, both on this machine, both bound to
the loopback address, started once per session on first use (import the `ray_cluster` fixture) and killed at
the end. Skipped, with the reason, where Ray is not installed.

Loopback only: `ray start --node-ip-address 127.0.0.1 --address 127.0.0.1:PORT` alone does not do it: Ray
(2.60) swaps a loopback address, given as the node's or the head's, for the machine's outward one
(`ray._private.services.resolve_ip_for_localhost`), unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, its switch for
single-machine clusters, which `ray start` honours by refusing to add a second node. So every process of the
cluster runs with that switch (the processes Ray starts itself, such as the client server's drivers, keep
127.0.0.1), and `ray start` runs through its own entry point with the swap turned off and the refusal lifted
(`_RAY_START`). Every node's address is then 127.0.0.1, and Ray's servers bind to 127.0.0.1 when that is the
node's address. `listening_addresses` lets a test check it.

Each node's processes (`ray start --block` and everything under it: GCS, raylet, workers) are ended by their
process ids, never by name: other Ray clusters on the machine are left alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .paths import MODELS

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 90.0
NODE_CPUS = 1  # each node: one CPU, so each runs one single-threaded actor and both take part


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# `ray start ARGS`, with loopback addresses kept as they are given (see the module's docstring).
_RAY_START = [
    sys.executable,
    "-c",
    "import sys; import ray._private.services as s; import ray._private.ray_constants as c; "
    "s.resolve_ip_for_localhost = lambda host: host; c.ENABLE_RAY_CLUSTER = True; "
    "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()",
    "start",
]


def descendants(pid: int) -> list[int]:
    """A process's descendants (children of every thread, recursively), from /proc."""
    out: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            for child in children:
                if child not in out:
                    out.append(child)
                    stack.append(child)
    return out


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a node, as when its machine dies: its `ray start` process and every process under it, by id,
    the deepest first (so that each is reaped by its parent, which is still there)."""
    for pid in [*reversed(descendants(proc.pid)), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)


def stop_node(proc: subprocess.Popen[bytes]) -> None:
    """Stop a node the way `ray stop` does, through its own `ray start` process; killed if it lingers."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=45)
    except subprocess.TimeoutExpired:
        kill_tree(proc)


def start_node(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [*_RAY_START, "--block", "--disable-usage-stats", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@dataclass
class RayCluster:
    """The session's cluster: `address` is what `--cluster` takes (ray://127.0.0.1:PORT)."""

    address: str
    gcs: str
    temp_dir: Path
    env: dict[str, str]
    head: subprocess.Popen[bytes]
    second: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def start_second(self) -> None:
        """Start the second node (again) and wait until the cluster counts two live nodes."""
        log = self.temp_dir / f"second-{len(self.logs)}.log"
        self.logs.append(log)
        self.second = start_node(
            [
                "--address",
                self.gcs,
                "--node-ip-address",
                "127.0.0.1",
                "--num-cpus",
                str(NODE_CPUS),
                "--object-store-memory",
                str(100 * 2**20),
            ],
            self.env,
            log,
        )
        self.wait_for_nodes(2)

    def kill_second(self) -> None:
        if self.second is not None and self.second.poll() is None:
            kill_tree(self.second)
        self.second = None

    def ensure_second(self) -> None:
        if self.second is None or self.second.poll() is not None:
            self.start_second()

    def wait_for_nodes(self, count: int) -> None:
        """Wait until the cluster counts `count` live nodes (through one client connection)."""
        import ray

        deadline = time.monotonic() + START_SECONDS
        alive = 0
        host, port = self.address.removeprefix("ray://").rsplit(":", 1)
        while time.monotonic() < deadline:  # the client server listens: a client now connects at once
            try:
                socket.create_connection((host, int(port)), timeout=1.0).close()
                break
            except OSError:
                time.sleep(0.5)
        while True:
            try:
                ray.init(address=self.address, logging_level="ERROR", log_to_driver=False)
                break
            except Exception as exc:  # the client server is still starting
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cannot reach the test Ray cluster: {exc}; logs: {self.tail()}") from exc
                time.sleep(1.0)
        try:
            while time.monotonic() < deadline:
                alive = sum(1 for n in ray.nodes() if n.get("Alive"))
                if alive >= count:
                    return
                time.sleep(0.5)
        finally:
            ray.shutdown()
        raise RuntimeError(f"the test Ray cluster has {alive} live nodes, not {count}; logs: {self.tail()}")

    def listening_addresses(self) -> set[str]:
        """The local addresses the cluster's processes listen on (TCP), from /proc."""
        pids = {self.head.pid, *descendants(self.head.pid)}
        if self.second is not None:
            pids |= {self.second.pid, *descendants(self.second.pid)}
        inodes: set[str] = set()
        for pid in pids:
            try:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
            except OSError:
                continue
        found: set[str] = set()
        for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
            try:
                lines = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                    found.add(_address(cols[1].split(":")[0], width))
        return found

    def tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in self.logs if p.exists())

    def stop(self) -> None:
        if self.second is not None:
            stop_node(self.second)
            self.second = None
        stop_node(self.head)
        keep = os.environ.get("FACESEARCH_TEST_RAY_LOGS")  # a folder to keep the cluster's logs in
        if keep:
            shutil.copytree(self.temp_dir, Path(keep) / self.temp_dir.name, ignore=shutil.ignore_patterns("sockets"))
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _address(hex_ip: str, width: int) -> str:
    raw = bytes.fromhex(hex_ip)
    if width == 8:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def start_cluster() -> RayCluster:
    gcs_port, client_port = _free_port(), _free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="fsray"))  # short: Ray's socket paths must stay under 107 bytes
    env = dict(
        os.environ,
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        # A node that dies is noticed in about 2 s instead of Ray's default of half a minute or so.
        RAY_health_check_period_ms="500",
        RAY_health_check_timeout_ms="1000",
        RAY_health_check_failure_threshold="3",
        FACESEARCH_TEST_PACKS="1",
        FACESEARCH_MODELS_DIR=str(MODELS),
        # The workers import facesearch from this checkout, as the tests do (and `support`, for a rogue node).
        PYTHONPATH=os.pathsep.join(
            p for p in (str(ROOT / "src"), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")) if p
        ),
    )
    env.pop("RAY_ADDRESS", None)
    head_log = temp_dir / "head.log"
    head = start_node(
        [
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(gcs_port),
            "--ray-client-server-port",
            str(client_port),
            "--num-cpus",
            str(NODE_CPUS),
            "--object-store-memory",
            str(100 * 2**20),
            "--include-dashboard",
            "false",
            "--temp-dir",
            str(temp_dir),
        ],
        env,
        head_log,
    )
    cluster = RayCluster(
        f"ray://127.0.0.1:{client_port}", f"127.0.0.1:{gcs_port}", temp_dir, env, head, None, [head_log]
    )
    try:
        cluster.wait_for_nodes(1)
        cluster.start_second()
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """The session's two-node Ray cluster (started on first use); skips where Ray is not installed."""
    pytest.importorskip("ray", reason="the cluster tests need Ray: pip install -e '.[dev]' (or '.[cluster]')")
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()
