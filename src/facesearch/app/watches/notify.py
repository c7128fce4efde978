"""Telling someone of new hits beyond the web header and the hits page: a webhook, the watch's own (under a
prefix the deployment allows) or the deployment's (FACESEARCH_WATCH_WEBHOOK_URL), with ids only.

The body names the watch, each hit's lead, face, image and ingest run, and nothing else: no image, thumbnail,
name, case reference, path or score leaves the deployment this way; the receiver reads the rest through the
API, signed in. Bodies are signed with FACESEARCH_WATCH_WEBHOOK_SECRET (no key: no webhook). Deliveries run in a
thread of their own, never in the ingest's way, retried with backoff; each outcome is logged and written to the
audit log, the target named by a fingerprint of its URL, never the URL."""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ...services.webhooks import deliver
from ...store.watches import ActiveWatch
from ...vocabulary import Action
from ..auditing import record
from ..context import Context, system_actor
from ..when import utc
from .manage import fingerprint

log = logging.getLogger("facesearch.watch")


@dataclass(frozen=True)
class HitNote:
    """What a webhook may say of a hit: ids only."""

    lead: int
    face_id: int
    image_id: int
    ingest_job: int | None


def body(watch_id: int, notes: Sequence[HitNote], sent_at: str) -> bytes:
    return json.dumps(
        {
            "event": "watch_hits",
            "watch": watch_id,
            "hits": [
                {"lead": n.lead, "face_id": n.face_id, "image_id": n.image_id, "ingest_job": n.ingest_job}
                for n in notes
            ],
            "sent_at": sent_at,
        },
        separators=(",", ":"),
    ).encode()


def notify(ctx: Context, found: Sequence[tuple[ActiveWatch, HitNote]]) -> threading.Thread | None:
    """Send the new hits of each watch to its webhook, in a thread (returned, already started; None when there
    is nothing to send). The thread is not a daemon: a command-line ingest waits for its deliveries."""
    secret = ctx.settings.watch_webhook_secret
    if secret is None or not found:
        return None
    grouped: dict[tuple[str, int], list[HitNote]] = defaultdict(list)
    watches: dict[int, ActiveWatch] = {}
    for w, note in found:
        url = w.webhook_url or ctx.settings.watch_webhook_url
        if url:
            grouped[(url, w.id)].append(note)
            watches[w.id] = w
    if not grouped:
        return None
    key = secret.get_secret_value().encode()
    sent_at = utc(ctx.now()).isoformat(timespec="seconds")

    def send() -> None:
        for (url, watch_id), notes in grouped.items():
            w = watches[watch_id]
            target = fingerprint(url)
            try:
                done = deliver(
                    url,
                    body(watch_id, notes, sent_at),
                    key,
                    attempts=ctx.settings.watch_webhook_attempts,
                    backoff=ctx.settings.watch_webhook_backoff_seconds,
                )
                if done.ok:
                    log.info(
                        "watch %d: webhook %s told of %d hit(s) (%d tries)", watch_id, target, len(notes), done.attempts
                    )
                else:
                    log.warning(
                        "watch %d: webhook %s not delivered after %d tries (%s)",
                        watch_id,
                        target,
                        done.attempts,
                        done.error,
                    )
                record(
                    ctx,
                    system_actor("watch"),
                    Action.WATCH_NOTIFY,
                    outcome="ok" if done.ok else "failed",
                    case_ref=w.case_ref,
                    purpose=w.purpose,
                    results={"watch": watch_id, "leads": [n.lead for n in notes], "attempts": done.attempts},
                    details={
                        "target": target,
                        "delivery": done.delivery_id,
                        "status": done.status,
                        "error": done.error,
                    },
                )
            except Exception:  # a thread's failure must not pass silently, nor name the target's URL
                log.exception("watch %d: webhook %s failed", watch_id, target)

    thread = threading.Thread(target=send, name="watch-webhooks")
    thread.start()
    return thread
