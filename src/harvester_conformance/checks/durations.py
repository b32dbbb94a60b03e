"""Durations as Kubernetes APIs spell them (Go time.Duration text: "168h", "33.6h", "1h30m")."""

from __future__ import annotations

import datetime as dt
import re

_TOKEN = re.compile(r"(\d+\.?\d*|\.\d+)(h|ms|m|s|us|µs|ns)")
_SECONDS = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_go_duration(text: str) -> dt.timedelta:
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string, got {type(text).__name__}")
    body = text.strip()
    negative = body.startswith("-")
    body = body.lstrip("+-")
    if body == "0":
        return dt.timedelta(0)
    tokens = _TOKEN.findall(body)
    if not body or "".join(n + u for n, u in tokens) != body:
        raise ValueError(f"invalid duration {text!r}")
    seconds = sum(float(n) * _SECONDS[u] for n, u in tokens)
    return dt.timedelta(seconds=-seconds if negative else seconds)


def human(d: dt.timedelta) -> str:
    """Hours with one decimal, as the article writes them (e.g. 33.6h); minutes below an hour."""
    if abs(d) < dt.timedelta(hours=1):
        return f"{d.total_seconds() / 60:.0f}m"
    hours = d.total_seconds() / 3600
    sign = "-" if hours < 0 else ""
    return f"{sign}{abs(hours):.1f}h".replace(".0h", "h")
