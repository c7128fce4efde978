"""Where a Milvus index lives and how it is built: the `milvus://` URI, read into a `MilvusTarget`.

`milvus://[user:password@]host[:19530][/namespace][?option=value&...]`; the options are listed in
`milvus_index`'s docstring. Credentials (user:password before the host, or `token=`) go into the target's
`token` and never into `public_uri`, the form every message and log line uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ..errors import FacesearchError, redact

DEFAULT_PORT = 19530
DEFAULT_NAMESPACE = "facesearch"
DEFAULT_TIMEOUT = 30.0
# Build and search parameters per index type (Milvus' names), each overridable in the URI.
INDEX_TYPES: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    "HNSW": ({"M": 32, "efConstruction": 200}, {"ef": 512}),
    "IVF_SQ8": ({"nlist": 1024}, {"nprobe": 32}),
    "IVF_PQ": ({"nlist": 1024, "m": 32, "nbits": 8}, {"nprobe": 32}),
    "IVF_FLAT": ({"nlist": 1024}, {"nprobe": 32}),
    "DISKANN": ({}, {"search_list": 100}),
    "FLAT": ({}, {}),
}
CONSISTENCY = {"strong": "Strong", "bounded": "Bounded", "session": "Session"}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
_PARAM_KEYS = {"M", "efConstruction", "nlist", "m", "nbits", "ef", "nprobe", "search_list"}
_SEARCH_KEYS = {"ef", "nprobe", "search_list"}


class MilvusIndexError(FacesearchError):
    """The Milvus server could not be used: unreachable, refused, or holding an incompatible collection."""


@dataclass(frozen=True)
class MilvusTarget:
    """A parsed `milvus://` URI. `public_uri` is the URI without credentials, for messages and logs."""

    address: str
    public_uri: str
    namespace: str = DEFAULT_NAMESPACE
    index_type: str = "HNSW"
    build_params: dict[str, int] = field(default_factory=dict)
    search_params: dict[str, int] = field(default_factory=dict)
    consistency: str = "Strong"
    db_name: str = ""
    timeout: float = DEFAULT_TIMEOUT
    token: str = field(default="", repr=False)

    def collection_name(self, collection_id: int) -> str:
        return f"{self.namespace}_c{int(collection_id)}"


def parse_uri(uri: str) -> MilvusTarget:
    """Read `milvus://[user:password@]host[:port][/namespace][?options]` (see the module docstring)."""
    parts = urlsplit(uri)
    if "@" in uri.partition("://")[2][len(parts.netloc) :]:
        # A password with an unencoded `/`, `#` or `?` ends the host part early: the rest of it would be read as
        # the namespace or the options (and shown in messages). Refuse without echoing any of it.
        raise MilvusIndexError(
            f"the user information of the Milvus URI {_strip(uri)} holds an unencoded '/', '#' or '?': "
            "percent-encode the password (%2F, %23, %3F)"
        )
    public_host = parts.hostname or ""
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise MilvusIndexError(f"bad port in Milvus URI {_strip(uri)}") from exc
    if parts.scheme != "milvus" or not public_host:
        raise MilvusIndexError(f"not a Milvus URI: {_strip(uri)} (expected milvus://host:19530[/namespace])")
    host = f"[{public_host}]" if ":" in public_host else public_host
    namespace = parts.path.strip("/") or DEFAULT_NAMESPACE
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    token = options.pop("token", "")
    if parts.username:
        token = token or f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    public_query = "&".join(f"{k}={quote(v)}" for k, v in options.items())
    public = f"milvus://{host}:{port}/{namespace}" + (f"?{public_query}" if public_query else "")
    if not _NAME.match(namespace):
        raise MilvusIndexError(
            f"Milvus namespace {namespace!r} in {public}: use letters, digits and _, starting with a letter or _"
        )
    index_type = options.pop("index", "HNSW").upper().replace("-", "_")
    if index_type not in INDEX_TYPES:
        raise MilvusIndexError(f"unknown Milvus index {index_type!r} in {public}: choose {', '.join(INDEX_TYPES)}")
    build, search = (dict(p) for p in INDEX_TYPES[index_type])
    consistency = options.pop("consistency", "strong").lower()
    if consistency not in CONSISTENCY:
        raise MilvusIndexError(f"unknown consistency {consistency!r} in {public}: choose strong, bounded or session")
    secure = options.pop("secure", "false").lower() in ("1", "true", "yes")
    db_name = options.pop("db", "")
    try:
        timeout = float(options.pop("timeout", DEFAULT_TIMEOUT))
        for key in list(options):
            if key in _PARAM_KEYS:
                (search if key in _SEARCH_KEYS else build)[key] = int(options.pop(key))
    except ValueError as exc:
        raise MilvusIndexError(f"a numeric option of {public} is not a number") from exc
    if options:
        raise MilvusIndexError(f"unknown option(s) {', '.join(sorted(options))} in {public}")
    address = f"{'https' if secure else 'http'}://{host}:{port}"
    return MilvusTarget(
        address=address,
        public_uri=public,
        namespace=namespace,
        index_type=index_type,
        build_params=build,
        search_params=search,
        consistency=CONSISTENCY[consistency],
        db_name=db_name,
        timeout=timeout,
        token=token,
    )


def _strip(uri: str) -> str:
    """The URI without user, password and token, for messages: `errors.redact`, which also covers a password
    with an unencoded `/`, `#` or `?` that the URI parser would take for the path, fragment or query."""
    return redact(uri)
