"""The emulator's clock and the one timestamp format its objects carry (RFC 3339, whole seconds,
UTC, as the apiserver writes `creationTimestamp`), so that every simulated controller agrees."""

from __future__ import annotations

import datetime as dt

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stamp(t: dt.datetime | None = None) -> str:
    return (t or now()).astimezone(dt.UTC).strftime(FORMAT)


def parse_stamp(text: str | None) -> dt.datetime | None:
    """Tolerates fractional seconds and offsets' absence: the first 19 characters carry the time."""
    if not text:
        return None
    return dt.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
