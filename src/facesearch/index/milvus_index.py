"""A collection's vectors in a Milvus server (standalone or a cluster), behind the same protocol as FAISS.

`FACESEARCH_INDEX_URI=milvus://[user:password@]host[:19530][/namespace][?option=value&...]` selects it.
Each facesearch collection is one Milvus collection `<namespace>_c<id>` (INT64 primary key `id` = face row
id, FLOAT_VECTOR `vector`, inner-product metric), created when missing and loaded. The namespace (default
`facesearch`) lets several facesearch homes share one server. Options in the query string:

    index        the index type of new collections: HNSW (default: M=32, efConstruction=200, ef=512),
                 IVF_SQ8, IVF_PQ, IVF_FLAT, DISKANN or FLAT
    M, efConstruction, nlist, m, nbits   build parameters (HNSW: M, efConstruction; IVF_*: nlist; IVF_PQ: m, nbits)
    ef, nprobe, search_list              search parameters (HNSW; IVF_*; DISKANN), raised to k when smaller
    consistency  Strong (default: a delete vanishes from the next search of any process), Bounded or Session
    db           Milvus database (default: the server's default)
    secure       true for TLS
    token        an API key or user:password (or put user:password before the host)
    timeout      seconds per call (default 30)

Credentials never appear in messages or logs: errors name the URI without them (`public_uri`).

Searches run at Strong consistency by default, so a removal made by any process is absent from the next
search. Strong waits for the server's next time tick (`proxy.timeTickInterval`, 200 ms by default), see
docs/scaling.md. Allow and deny lists go into the search as `id in [...]` / `id not in [...]` filter
expressions; allow lists in chunks of FILTER_CHUNK ids (one search per chunk, top-k merged), with ef /
nprobe / search_list widened by the inverse of the fraction allowed (at most WIDEN_MAX times). The server's
filtered search of not yet indexed (growing) segments can return fewer than k even when k are eligible:
when that happens with an allow list of at most EXACT_ALLOW_MAX ids, those queries are scored exactly on
the client from the allowed ids' own vectors. A deny list is sent whole: about 20 bytes per id, so 1M
opt-outs make a 20 MB expression, below the default 64 MB gRPC limit but parsed on every search.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from .milvus_uri import MilvusIndexError, MilvusTarget, parse_uri
from .topk import empty, merge, top_k

log = logging.getLogger("facesearch.index")

# The search parameter that must be at least k.
_AT_LEAST_K = {"ef", "search_list"}
# How much wider (ef, nprobe, search_list) a filtered search may get than an unfiltered one, and the
# widest ef / search_list it may reach that way.
WIDEN_MAX = 16.0
WIDEN_CAP = 2048
# Allow lists up to this size are scored exactly on the client (see the module docstring).
EXACT_ALLOW_MAX = 16_384
# Ids per `id in [...]` expression for larger allow lists, and per query when fetching or checking ids.
FILTER_CHUNK = 16_384
# Milvus refuses a limit (top-k) above this.
MAX_K = 16_384
# Rows per insert call: about 8 MB of float32 vectors, well under the server's 64 MB message limit.
_INSERT_BYTES = 8 * 2**20


class _NoMvccWarning(logging.Filter):
    """Milvus 2.3 servers do not report an iterator timestamp; pymilvus then warns on every id listing and
    uses its own latest write timestamp, which is what reconciliation needs: the warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "failed to get mvccTs" not in record.getMessage()


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_NoMvccWarning())


def _why(exc: BaseException) -> str:
    """A pymilvus error's own message, one line."""
    text = str(getattr(exc, "message", "") or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


class MilvusIndex:
    """One facesearch collection's vectors in one Milvus collection; see the module docstring."""

    # Written by whoever writes it, read by every process: nothing to catch up from a file when held.
    shared = True

    def __init__(self, client: Any, target: MilvusTarget, name: str, dim: int, kind: str) -> None:
        self._client = client
        self.target = target
        self.name = name
        self.dim = dim
        self._kind = kind
        self._count: int | None = None
        self.dirty = False

    @classmethod
    def open(cls, uri: str, collection_id: int, dim: int) -> MilvusIndex:
        """Connect, create the collection (and its index) when missing, load it, check its dimension."""
        from pymilvus import MilvusClient  # only deployments that use Milvus need pymilvus

        target = parse_uri(uri)
        name = target.collection_name(collection_id)
        try:
            client = MilvusClient(
                uri=target.address, token=target.token, db_name=target.db_name, timeout=target.timeout
            )
        except Exception as exc:
            raise MilvusIndexError(f"cannot reach Milvus at {target.public_uri}: {_why(exc)}") from None
        try:
            if not client.has_collection(name):
                try:
                    _create(client, target, name, dim)
                except Exception:
                    if not client.has_collection(name):  # not merely another process creating it first
                        raise
            described = client.describe_collection(name)
            have = _vector_dim(described)
            if have != dim:
                raise MilvusIndexError(
                    f"Milvus collection {name} at {target.public_uri} holds {have}-d vectors, "
                    f"this collection's model gives {dim}-d: wrong namespace, or a collection "
                    "of another facesearch home"
                )
            kind = _index_type(client, name)
            if kind != target.index_type:
                log.info(
                    "Milvus collection %s keeps its %s index (the URI asks %s for new collections)",
                    name,
                    kind,
                    target.index_type,
                )
            state = str(client.get_load_state(name).get("state", ""))
            if not state.endswith("Loaded"):
                client.load_collection(name)
        except MilvusIndexError:
            client.close()
            raise
        except Exception as exc:
            client.close()
            raise MilvusIndexError(f"Milvus at {target.public_uri}, collection {name}: {_why(exc)}") from None
        return cls(client, target, name, dim, kind)

    # Protocol ------------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """The server's index type of this collection, lower case: hnsw, ivf_sq8, ivf_pq, diskann, flat..."""
        return self._kind.lower()

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Upsert: adding an id already present replaces its vector (Milvus keeps duplicates on insert)."""
        ids = np.ascontiguousarray(ids, np.int64).reshape(-1)
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, np.float32).reshape(len(ids), self.dim)
        step = max(1, _INSERT_BYTES // (4 * self.dim))
        for start in range(0, len(ids), step):
            rows = [
                {"id": i, "vector": v}
                for i, v in zip(ids[start : start + step].tolist(), vectors[start : start + step].tolist(), strict=True)
            ]
            self._call("add vectors", self._client.upsert, self.name, rows)
        self.dirty = True
        if self._count is not None:
            self._count += len(ids)  # an upsert that replaces overcounts: harmless for sizing a search

    def remove(self, ids: np.ndarray) -> int:
        ids = np.unique(np.ascontiguousarray(ids, np.int64).reshape(-1))
        present = self._present(ids)
        for start in range(0, len(present), FILTER_CHUNK):
            chunk = present[start : start + FILTER_CHUNK].tolist()
            self._call("remove vectors", self._client.delete, self.name, ids=chunk)
        self.dirty = self.dirty or len(present) > 0
        if self._count is not None:
            self._count -= len(present)
        return len(present)

    def search(
        self, queries: np.ndarray, k: int, *, allow: np.ndarray | None = None, deny: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, np.float32).reshape(-1, self.dim)
        nq = len(queries)
        if k <= 0 or nq == 0:
            return np.zeros((nq, max(k, 0)), np.float32), np.zeros((nq, max(k, 0)), np.int64)
        if k > MAX_K:
            raise ValueError(f"k={k} exceeds Milvus' top-k limit of {MAX_K}")
        denied = np.unique(np.asarray(deny, np.int64)) if deny is not None and len(deny) else None
        if allow is not None:
            allowed = np.unique(np.asarray(allow, np.int64))
            if denied is not None:
                allowed = np.setdiff1d(allowed, denied, assume_unique=True)
            if len(allowed) == 0:
                return empty(nq, k)
            scores, out = empty(nq, k)
            for start in range(0, len(allowed), FILTER_CHUNK):
                chunk = allowed[start : start + FILTER_CHUNK]
                s, i = self._ann(queries, k, f"id in {_ids_list(chunk)}", len(chunk) / self._size())
                scores, out = merge(scores, out, s, i, k)
            short = (out[:, -1] < 0) & ((out >= 0).sum(axis=1) < len(allowed))
            if short.any() and len(allowed) <= EXACT_ALLOW_MAX:
                # Fewer than k back while more ids are allowed: either they are not in the collection, or
                # the server's filtered search missed them (growing segments): score the allowed ids exactly.
                scores[short], out[short] = self._exact_subset(queries[short], k, allowed)
            return scores, out
        return self._ann(queries, k, f"id not in {_ids_list(denied)}" if denied is not None else "")

    def ids(self) -> np.ndarray:
        """Every id, read with a query iterator (O(n); for reconciliation only)."""
        out: list[np.ndarray] = []
        it = self._call(
            "list ids",
            self._client.query_iterator,
            self.name,
            batch_size=16_384,
            output_fields=["id"],
            consistency_level=self.target.consistency,
        )
        try:
            while True:
                batch = self._call("list ids", it.next)
                if not batch:
                    break
                out.append(np.fromiter((row["id"] for row in batch), np.int64, len(batch)))
        finally:
            it.close()
        return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)

    def __len__(self) -> int:
        rows = self._call(
            "count vectors",
            self._client.query,
            self.name,
            filter="",
            output_fields=["count(*)"],
            consistency_level=self.target.consistency,
        )
        return int(rows[0]["count(*)"])

    def save(self) -> None:
        """Flush: the server seals what it holds in memory into its object storage (and indexes it)."""
        self._call("flush", self._client.flush, self.name)
        self.dirty = False

    # Beyond the protocol -------------------------------------------------------------------------
    def wait_indexed(self, timeout: float = 600.0) -> None:
        """Flush, then wait until the server has indexed every sealed row (before timing searches: until
        then, searches scan growing segments by brute force or the server's interim index)."""
        self.save()
        deadline = time.monotonic() + timeout
        while True:
            names = self._call("describe index", self._client.list_indexes, self.name, field_name="vector")
            info = self._call("describe index", self._client.describe_index, self.name, names[0]) if names else {}
            if int(info.get("pending_index_rows", 0)) == 0 and info.get("state") == "Finished":
                return
            if time.monotonic() > deadline:
                raise MilvusIndexError(
                    f"Milvus at {self.target.public_uri}: collection {self.name} not indexed "
                    f"after {timeout:.0f} s ({info.get('indexed_rows')} of "
                    f"{info.get('total_rows')} rows)"
                )
            time.sleep(0.5)

    def drop(self) -> None:
        """Delete the Milvus collection (an erased facesearch collection, or a test's clean-up)."""
        self._call("drop collection", self._client.drop_collection, self.name)

    def close(self) -> None:
        self._client.close()

    # Internals -----------------------------------------------------------------------------------
    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise MilvusIndexError(
                f"Milvus at {self.target.public_uri}, collection {self.name}: {what} failed: {_why(exc)}"
            ) from None

    def _ann(self, queries: np.ndarray, k: int, expr: str, fraction: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        # A filter that keeps a fraction of the collection leaves a graph walk (HNSW, DiskANN) or the probed
        # lists (IVF) that many fewer eligible candidates: widen the search by as much, up to WIDEN_MAX.
        widen = min(WIDEN_MAX, 1.0 / max(fraction, 1e-9))
        params: dict[str, int] = {}
        for key, value in self.target.search_params.items():
            wide = int(math.ceil(value * widen))
            if key == "nprobe":
                value = min(wide, int(self.target.build_params.get("nlist", wide)))
            else:
                value = max(value, min(wide, WIDEN_CAP))
            params[key] = max(value, k) if key in _AT_LEAST_K else value
        hits = self._call(
            "search",
            self._client.search,
            self.name,
            data=queries.tolist(),
            limit=k,
            filter=expr,
            search_params={"metric_type": "IP", "params": params},
            consistency_level=self.target.consistency,
        )
        scores, out = empty(len(queries), k)
        for row, found in enumerate(hits):
            n = min(len(found), k)
            if n:
                out[row, :n] = [h["id"] for h in found[:n]]
                scores[row, :n] = [h["distance"] for h in found[:n]]
        return scores, out

    def _size(self) -> int:
        """The collection's size as this object last counted it (kept up to date by its own writes): only
        to size a filtered search, so another process's writes since do not matter much."""
        if self._count is None:
            self._count = len(self)
        return max(self._count, 1)

    def _present(self, ids: np.ndarray) -> np.ndarray:
        """Which of these ids the collection holds."""
        found: list[np.ndarray] = []
        for start in range(0, len(ids), FILTER_CHUNK):
            chunk = ids[start : start + FILTER_CHUNK]
            rows = self._call(
                "look up ids",
                self._client.query,
                self.name,
                filter=f"id in {_ids_list(chunk)}",
                output_fields=["id"],
                consistency_level=self.target.consistency,
            )
            found.append(np.fromiter((r["id"] for r in rows), np.int64, len(rows)))
        return np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)

    def _exact_subset(self, queries: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score the allowed ids' own vectors (fetched by id) against the queries: exact, k when k exist."""
        scores, out = empty(len(queries), k)
        for start in range(0, len(allowed), FILTER_CHUNK):
            chunk = allowed[start : start + FILTER_CHUNK]
            rows = self._call(
                "fetch vectors",
                self._client.query,
                self.name,
                filter=f"id in {_ids_list(chunk)}",
                output_fields=["id", "vector"],
                consistency_level=self.target.consistency,
            )
            if not rows:
                continue
            ids = np.fromiter((r["id"] for r in rows), np.int64, len(rows))
            vecs = np.asarray([r["vector"] for r in rows], np.float32).reshape(len(rows), self.dim)
            s, i = top_k(queries @ vecs.T, ids, k)
            scores, out = merge(scores, out, s, i, k)
        return scores, out


def _create(client: Any, target: MilvusTarget, name: str, dim: int) -> None:
    from pymilvus import DataType

    schema = client.create_schema(
        auto_id=False, enable_dynamic_field=False, description="facesearch face embeddings; id = face row id"
    )
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index("vector", index_type=target.index_type, metric_type="IP", params=dict(target.build_params))
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")


def _vector_dim(described: dict[str, Any]) -> int:
    for f in described.get("fields", []):
        if f.get("name") == "vector":
            return int(f.get("params", {}).get("dim", -1))
    return -1


def _index_type(client: Any, name: str) -> str:
    names = client.list_indexes(name, field_name="vector")
    if not names:
        return "none"
    return str(client.describe_index(name, names[0]).get("index_type", "unknown"))


def _ids_list(ids: np.ndarray | None) -> str:
    return "[" + ",".join(map(str, (ids if ids is not None else np.zeros(0, np.int64)).tolist())) + "]"


# The URI's parts are re-exported: callers name the index module only.
__all__ = ["EXACT_ALLOW_MAX", "MilvusIndex", "MilvusIndexError", "MilvusTarget", "parse_uri"]
