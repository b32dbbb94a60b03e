"""Kubernetes timestamps (RFC 3339, "Z" for UTC) as aware datetimes: the one reader the checks use."""

from __future__ import annotations

import datetime as dt


def parse_time(text: object) -> dt.datetime | None:
    """The time, or None for an empty, missing or malformed value (the caller says what that means)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
