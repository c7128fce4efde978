"""Which faces and images each user was recently shown by an audited search or view, so fetching their
thumbnails or files again needs no separate audit entry."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

# How long a face or image returned to a user counts as "already seen".
SEEN_SECONDS = 3600.0


class SeenCache:
    """Per user name, the face and image ids recently shown to them (in memory, per process)."""

    def __init__(self, capacity: int = 20000) -> None:
        self._items: OrderedDict[tuple[str, str, int], float] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity = capacity

    def add(self, user: str, kind: str, ids: Iterable[int]) -> None:
        now = time.monotonic()
        with self._lock:
            for i in ids:
                key = (user, kind, int(i))
                self._items[key] = now
                self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def seen(self, user: str, kind: str, ident: int) -> bool:
        with self._lock:
            t = self._items.get((user, kind, int(ident)))
        return t is not None and time.monotonic() - t < SEEN_SECONDS
