"""Ingest's analysis on a Ray cluster: actors that each load the model pack once, fed batches of file
references, their results streamed back in the order of the files.

- **Actors**: per node, from the CPUs it reports (one actor with a thread per CPU for a pack whose runtime
  is multithreaded, else a single-threaded actor per CPU) or `cluster_workers` per node; each asks Ray for
  its CPUs (and a GPU where the pack has a GPU path and the node has one), placed on its node by a soft
  affinity. Before any work, each actor says what it computes with, and a node whose pack or facesearch
  differs from the driver's is refused (embeddings of another version are not comparable).
- **Two calls per batch** (`pipeline/cluster_worker.py`): `prepare` reads and hashes the files on the node;
  the driver drops the contents already stored or seen, in the order of the files, exactly as a local run
  does; `analyse` decodes, analyses and thumbnails the rest on the same actor, which kept the bytes.
- **Bounded**: at most 2 batches per actor (plus one) are in flight, results wait here only until the batches
  before them are back, and the thumbnails come back with the faces (a few KB each), so memory stays flat.
- **A node that dies** fails its actors' calls: each of their batches goes to another actor (from the read
  if the bytes were lost, the hash checked again), a replacement actor is asked for wherever resources are
  free, and the run goes on. Nothing is committed before its batch is back, and each batch is yielded once,
  so nothing is committed twice; a batch lost `MAX_ATTEMPTS` times fails its images (WORKER_LOST) rather
  than stalling the run. If no actor is left and none can start, the run stops (ClusterError); what was
  committed stays, and the same ingest run again resumes.
- **Checked results** (`cluster_results.py`): a result for a file that was not sent, a hash that is not one,
  an embedding of the wrong size, an oversized thumbnail: the batch's images fail with the reason, nothing
  of them is stored.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from .. import __version__
from ..config import Settings
from ..errors import ClusterError
from ..models import get_entry
from ..models.base import ModelPack
from ..pipeline.cluster_worker import CONCURRENCY, VIDEO, ClusterWorker, Prepared, Task, WorkerConfig
from ..pipeline.sources import Item
from ..pipeline.worker import ImageOutcome
from . import executor
from .cluster_results import REFUSED, BadResult, check_outcomes, check_prepared
from .executor import Analysed, BatchMeta, Reads, batch_limits

INSTALL = "pip install 'facesearch[cluster]'"
CONNECT_ATTEMPTS = 3
ACTOR_START_SECONDS = 180.0  # for a first actor to load its pack
START_GRACE = 20.0  # then for the others, before work starts without them
WAIT_SECONDS = 1.0  # between checks on actors starting while results are awaited
MAX_ATTEMPTS = 3  # a batch whose actor was lost this many times fails its images instead
log = logging.getLogger(__name__)
WORKER_LOST = "WORKER_LOST"
ANALYSIS_FAILED = "ANALYSIS_FAILED"


def import_ray() -> Any:
    """The `ray` module, or a ClusterError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(
            f"ingest on a cluster needs Ray, which is not installed here ({exc}): {INSTALL} on this machine "
            "and on every node of the cluster (docs/scaling.md)"
        ) from None
    return ray


@dataclass
class _Actor:
    handle: Any
    node: str
    host: str
    threads: int
    busy: int = 0
    alive: bool = True


@dataclass
class _Unit:
    """One batch of file references on its way: read and hashed, de-duplicated, analysed, then yielded."""

    refs: list[tuple[int, Item]]
    prepared: list[Prepared] | None = None
    tasks: list[Task] | None = None
    meta: BatchMeta = field(default_factory=dict)
    analysed: list[ImageOutcome] | None = None
    actor: _Actor | None = None  # the actor that read the files (it keeps their bytes)
    attempts: int = 0


class RayExecutor:
    """The actors of one Ray cluster, for one run."""

    worker_class: type[ClusterWorker] = ClusterWorker  # what the actors run (the tests run a rogue one)

    def __init__(self, address: str, settings: Settings, pack: str, per_node: int | None = None) -> None:
        self.ray = import_ray()
        self.where = address
        self.settings = settings
        self.pack = pack
        self.info = get_entry(pack).info
        self.analysed_by: dict[str, int] = {}
        self.loaded_pack: ModelPack | None = None  # the pack is loaded on the nodes, never here
        self.actors: list[_Actor] = []
        self._starting: dict[Any, tuple[Any, int]] = {}  # identity call -> (actor handle, threads)
        self._first_up = 0.0  # when the first actor was up
        self._start_error = ""  # why the last actor that failed to start failed
        self._closed = False
        _CONNECTION.acquire(self.ray, address)
        try:
            self._start(per_node)
        except BaseException:
            self.close()
            raise
        self.workers = len(self.actors)
        self.threads = max(a.threads for a in self.actors)

    # Actors ----------------------------------------------------------------------------------------
    def _config(self, threads: int) -> WorkerConfig:
        return WorkerConfig.from_settings(self.pack, self.settings, threads, executor.BATCH_MAX_PIXELS)

    def _spawn(self, cpus: float, threads: int, node: str | None, gpus: float = 0.0) -> None:
        ray = self.ray
        options: dict[str, Any] = {"num_cpus": cpus, "max_concurrency": CONCURRENCY, "max_restarts": 0}
        if gpus:
            options["num_gpus"] = gpus
        if node is not None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=True)
        handle = ray.remote(self.worker_class).options(**options).remote(self._config(threads))
        self._starting[handle.identity.remote()] = (handle, threads)

    def _start(self, per_node: int | None) -> None:
        nodes = [n for n in self.ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
        if not nodes:
            raise ClusterError(f"the Ray cluster at {self.where} has no node with CPUs to run ingest actors on")
        for node in nodes:
            cpus = float(node["Resources"]["CPU"])
            has_gpu = self.info.gpu and node["Resources"].get("GPU", 0) >= 1
            if per_node:
                count, each = per_node, cpus / per_node
            elif self.info.multithreaded:
                count, each = 1, cpus
            else:
                count, each = max(1, int(cpus)), 1.0
            for _ in range(count):
                self._spawn(each, max(1, int(each)), node["NodeID"], 1.0 if has_gpu else 0.0)
        # Work starts when every actor is up, or START_GRACE seconds after the first one is; the others join
        # as they come up (`_wait` collects them).
        deadline = time.monotonic() + ACTOR_START_SECONDS
        while self._starting and time.monotonic() < deadline:
            self._collect_started(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
            if self.actors:
                deadline = min(deadline, self._first_up + START_GRACE)
        if not self.actors:
            why = f": {self._start_error}" if self._start_error else " (are its CPUs taken by other work?)"
            raise ClusterError(f"no ingest actor started on the Ray cluster at {self.where}{why}")

    def _collect_started(self, timeout: float) -> None:
        """Add the actors whose identity came back (checked); drop those that failed to start."""
        ray = self.ray
        if not self._starting:
            return
        ready, _ = ray.wait(list(self._starting), num_returns=len(self._starting), timeout=timeout)
        for ref in ready:
            handle, threads = self._starting.pop(ref)
            try:
                identity = ray.get(ref)
            except ray.exceptions.RayError as exc:  # its pack failed to load, or its node went away
                self._start_error = _short(exc)
                self._kill(handle)
                continue
            self._check_identity(identity, handle)
            self.actors.append(_Actor(handle, str(identity["node"]), str(identity["host"]), threads))
            self._first_up = self._first_up or time.monotonic()

    def _check_identity(self, identity: Any, handle: Any) -> None:
        info = self.info
        mine = {"pack": info.name, "pack_version": info.version, "dim": info.dim, "files": dict(info.files)}
        theirs = {k: identity.get(k) for k in mine} if isinstance(identity, dict) else {}
        if theirs != mine or identity.get("facesearch") != __version__:
            self._kill(handle)
            host = identity.get("host", "?") if isinstance(identity, dict) else "?"
            version = identity.get("facesearch") if isinstance(identity, dict) else None
            raise ClusterError(
                f"node {host} computes with facesearch {version} and pack {theirs.get('pack')} "
                f"{theirs.get('pack_version')}, this machine with facesearch {__version__} and pack {info.name} "
                f"{info.version}: install the same facesearch and model pack on every node"
            )

    def _lost(self, actor: _Actor) -> None:
        """An actor whose node died (or which died itself): replaced wherever resources are free."""
        if not actor.alive:
            return
        actor.alive = False
        log.warning(
            "lost the ingest actor on node %s (%s): its batches go to other actors; a replacement is asked for",
            actor.host,
            actor.node[:12],
        )
        self._kill(actor.handle)
        if not self._closed:
            self._spawn(float(max(1, actor.threads)), actor.threads, None)

    def _kill(self, handle: Any) -> None:
        try:
            self.ray.kill(handle, no_restart=True)
        except Exception:  # already gone with its node, or the connection is closing
            log.debug("actor already gone", exc_info=True)

    def _live(self) -> list[_Actor]:
        return [a for a in self.actors if a.alive]

    # The run ---------------------------------------------------------------------------------------
    def run(self, items: list[Item], reads: Reads) -> Iterator[Analysed]:
        sizes = batch_limits(executor.FIRST_BATCH, max(1, self.settings.batch_images))
        source = iter(list(enumerate(items)))
        window: deque[_Unit] = deque()  # batches not yet yielded, in the order of the files
        calls: dict[Any, tuple[_Unit, str, _Actor]] = {}
        exhausted = False
        while True:
            limit = 2 * max(1, len(self._live())) + 1
            while not exhausted and len(window) < limit:
                refs = list(islice(source, next(sizes)))
                if not refs:
                    exhausted = True
                    break
                unit = _Unit(refs)
                window.append(unit)
                self._submit(unit, "prepare", calls)
            for unit in window:  # de-duplication in the order of the files, as in a local run
                if unit.tasks is not None:
                    continue
                if unit.prepared is None:
                    break
                self._decide(unit, reads)
                if unit.tasks:
                    self._submit(unit, "analyse", calls)
            while window and window[0].analysed is not None:
                done = window.popleft()
                yield Analysed(done.meta, done.analysed or [])
            if exhausted and not window:
                return
            self._wait(calls)

    def _decide(self, unit: _Unit, reads: Reads) -> None:
        """Failures reported, duplicates dropped; what is left becomes the batch's analysis tasks."""
        paths = dict(unit.refs)
        readable = []
        for key, sha, reason, detail in unit.prepared or []:
            if sha is None and reason == VIDEO:  # ingested by the driver after the photos
                reads.video(paths[key])
            elif sha is None:
                reads.failed((str(paths[key].path), reason, detail))
            else:
                readable.append((key, sha))
        fresh = reads.fresh([sha for _, sha in readable]) if readable else []
        unit.tasks = []
        for (key, sha), new in zip(readable, fresh):
            if new:
                unit.meta[key] = (paths[key], sha)
                unit.tasks.append((key, str(paths[key].path), sha, reads.thumb_prefix(sha)))
        if not unit.tasks:
            unit.analysed = []

    def _submit(self, unit: _Unit, phase: str, calls: dict[Any, tuple[_Unit, str, _Actor]]) -> None:
        live = self._live()
        while not live:  # every actor lost: wait for a replacement to start
            if not self._starting:
                raise ClusterError(
                    f"every ingest actor on the Ray cluster at {self.where} was lost and none can start again; "
                    "what was committed stays, and the same ingest run again resumes"
                )
            self._collect_started(timeout=WAIT_SECONDS)
            live = self._live()
        keeper = unit.actor if phase == "analyse" and unit.actor is not None and unit.actor.alive else None
        actor = keeper or min(live, key=lambda a: a.busy)
        if phase == "prepare":
            unit.actor = actor
            ref = actor.handle.prepare.remote([(key, str(item.path)) for key, item in unit.refs])
        else:
            ref = actor.handle.analyse.remote(unit.tasks)
        actor.busy += 1
        calls[ref] = (unit, phase, actor)

    def _wait(self, calls: dict[Any, tuple[_Unit, str, _Actor]]) -> None:
        ray = self.ray
        pending = list(calls) + list(self._starting)
        if not pending:
            return
        try:
            ready, _ = ray.wait(pending, num_returns=1, timeout=WAIT_SECONDS)
        except ConnectionError as exc:
            raise ClusterError(f"lost the connection to the Ray cluster at {self.where}: {exc}") from None
        for ref in ready:
            if ref in self._starting:
                self._collect_started(timeout=0)
                continue
            unit, phase, actor = calls.pop(ref)
            actor.busy -= 1
            try:
                value = ray.get(ref)
            except ray.exceptions.RayError as exc:
                if _is_task_error(ray, exc):  # the call raised on a live actor: its images fail, once
                    self._fail(unit, phase, ANALYSIS_FAILED, _short(exc))
                    continue
                self._lost(actor)
                unit.attempts += 1
                if unit.attempts >= MAX_ATTEMPTS:
                    self._fail(unit, phase, WORKER_LOST, f"its worker was lost {unit.attempts} times: {_short(exc)}")
                else:
                    self._submit(unit, phase, calls)
                continue
            self._accept(unit, phase, actor, value)

    def _accept(self, unit: _Unit, phase: str, actor: _Actor, value: Any) -> None:
        try:
            if phase == "prepare":
                unit.prepared = check_prepared([key for key, _ in unit.refs], value)
                return
            tasks = unit.tasks or []
            unit.analysed = check_outcomes(
                {key: prefix for key, _, _, prefix in tasks}, value, self.info.dim, self.settings.max_pixels
            )
        except BadResult as exc:
            self._fail(unit, phase, REFUSED, f"node {actor.host}: {exc}")
            return
        self.analysed_by[actor.node] = self.analysed_by.get(actor.node, 0) + len(unit.analysed)

    def _fail(self, unit: _Unit, phase: str, reason: str, detail: str) -> None:
        if phase == "prepare":
            unit.prepared = [(key, None, reason, detail) for key, _ in unit.refs]
        else:
            unit.analysed = [ImageOutcome(key, error=(reason, detail)) for key, _, _, _ in unit.tasks or []]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for handle in [a.handle for a in self.actors] + [h for h, _ in self._starting.values()]:
            self._kill(handle)
        self._starting.clear()
        _CONNECTION.release(self.ray)


class _Connection:
    """This process's one connection to a cluster (Ray allows one per process), shared by the runs that use it
    at the same time (the API's jobs run in threads) and closed when the last of them ends. A connection this
    module did not open (an embedding program's) is used as it is and never closed here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._address: str | None = None  # the address this module connected to, while it holds a connection

    def acquire(self, ray: Any, address: str) -> None:
        with self._lock:
            if self._users and self._address is not None and self._address != address:
                raise ClusterError(
                    f"this process is connected to the Ray cluster at {self._address} for another run; "
                    f"a run on {address} must wait until it ends (one cluster per process)"
                )
            if not self._users and not ray.is_initialized():
                _connect(ray, address)
                self._address = address
            self._users += 1

    def release(self, ray: Any) -> None:
        with self._lock:
            self._users = max(0, self._users - 1)
            if not self._users and self._address is not None:
                self._address = None
                if ray.is_initialized():
                    ray.shutdown()


_CONNECTION = _Connection()


def _connect(ray: Any, address: str) -> None:
    """Connect this process as the run's driver: ray://HOST:PORT through the cluster's client server, or a
    cluster's own address when this process runs on one of its nodes. Ray's log lines stay out of stdout
    (`--json` prints one document there). A client server that fails to start this client's driver process
    (it happens on a loaded head) is asked again, twice; an address that does not answer fails at once."""
    for attempt in range(CONNECT_ATTEMPTS):
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
            return
        except ConnectionAbortedError as exc:
            if attempt + 1 == CONNECT_ATTEMPTS:
                raise ClusterError(f"cannot connect to the Ray cluster at {address}: {_short(exc)}") from None
            time.sleep(2.0 * (attempt + 1))
        except Exception as exc:  # Ray raises ConnectionError, TimeoutError, RuntimeError or ValueError here
            raise ClusterError(f"cannot connect to the Ray cluster at {address}: {_short(exc)}") from None


def _is_task_error(ray: Any, exc: BaseException) -> bool:
    return isinstance(exc, ray.exceptions.RayTaskError) and not isinstance(exc, ray.exceptions.RayActorError)


def _short(exc: BaseException) -> str:
    """One line for an error from the cluster: the innermost exception Ray's text names, else its last line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line)]
    return f"{type(exc).__name__}: {(named or lines or [''])[-1]}"[:500]
