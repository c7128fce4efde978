"""Sign-in throttling: after 5 failed sign-ins for one name from one address within 15 minutes, refuse for
15 minutes (in memory, per process). Attempts are counted before the password is checked."""

from __future__ import annotations

import threading
import time


class LoginThrottle:
    def __init__(self, limit: int = 5, window: float = 900.0) -> None:
        self.limit, self.window = limit, window
        self._fails: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, key: tuple[str, str]) -> bool:
        """Count an attempt as failed in advance; False (and not counted) when the key is locked out."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._fails.get(key, []) if now - t < self.window]
            if len(recent) >= self.limit:
                self._fails[key] = recent
                return False
            recent.append(now)
            self._fails[key] = recent
            return True

    def fail(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._fails.setdefault(key, []).append(time.monotonic())

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._fails.pop(key, None)
