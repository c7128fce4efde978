"""The metadata that identifies a recording, from a video container's tags: when it was made and on what.

Phones and cameras write it under their own keys (Apple's `com.apple.quicktime.*`, Android's `com.android.*`,
Matroska's `DATE_RECORDED`, the generic `creation_time`, `make`, `model`); the container's tags win over the
video stream's. The text comes from the file, so it is treated as untrusted: control characters removed,
whitespace trimmed, length capped. Timestamps writers put in when they know none are dropped.
"""

from __future__ import annotations

from .records import Recording

TEXT_MAX = 200  # metadata strings are capped at this length
_CREATION = ("com.apple.quicktime.creationdate", "creation_time", "date_recorded", "date", "datetimeoriginal")
_MAKE = ("com.apple.quicktime.make", "com.android.manufacturer", "make", "manufacturer")
_MODEL = ("com.apple.quicktime.model", "com.android.model", "model")
_SOFTWARE = ("com.apple.quicktime.software", "com.android.version", "software")
_ENCODER = ("encoder", "encoded_by")
_TITLE = ("com.apple.quicktime.title", "title")
# Timestamps writers put in when they know none (the Unix and QuickTime epochs).
_UNSET_TIMES = ("1970-01-01T00:00:00", "1904-01-01T00:00:00")


def recording(container_tags: dict[str, str], stream_tags: dict[str, str]) -> Recording:
    """What identifies the recording, from the container's tags first, then the video stream's."""
    tags: dict[str, str] = {}
    for source in (stream_tags, container_tags):  # the container's win
        for key, value in source.items():
            tags[str(key).lower()] = str(value)

    def first(keys: tuple[str, ...]) -> str | None:
        for key in keys:
            text = _clean(tags.get(key))
            if text:
                return text
        return None

    created = first(_CREATION)
    if created and created.startswith(_UNSET_TIMES):
        created = None
    return Recording(
        creation_time=created,
        make=first(_MAKE),
        model=first(_MODEL),
        software=first(_SOFTWARE),
        encoder=first(_ENCODER),
        title=first(_TITLE),
    )


def _clean(value: str | None) -> str | None:
    """Untrusted text from a file: control characters out, whitespace trimmed, length capped."""
    if value is None:
        return None
    text = "".join(ch for ch in value if ch.isprintable()).strip()
    return text[:TEXT_MAX] or None
