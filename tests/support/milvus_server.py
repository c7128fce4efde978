"""A real Milvus server for the tests: the Milvus 2.3 standalone of PyPI's `milvus` package, started once per
session in a temporary folder on free ports and stopped at the end (import the `milvus_uri` fixture).

FACESEARCH_TEST_MILVUS_URI=milvus://host:19530 runs the same tests against a server of your own instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


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
    from facesearch.index.milvus_index import MilvusIndexError, embedded_server

    server = embedded_server(tmp_path_factory.mktemp("milvus"))
    try:
        uri = server.__enter__()
    except MilvusIndexError as exc:
        pytest.skip(f"the embedded Milvus server could not start: {exc}")
    try:
        yield uri
    finally:
        server.__exit__(None, None, None)
