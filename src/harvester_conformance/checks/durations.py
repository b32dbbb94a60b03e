"""Durations as Kubernetes APIs spell them (Go time.Duration text: "168h", "33.6h", "1h30m").

`parse_go_duration` accepts exactly what Go's `time.ParseDuration` accepts, which is what
`metav1.Duration.UnmarshalJSON` calls (k8s.io/apimachinery `pkg/apis/meta/v1/duration.go`,
vendored in kubevirt/kubevirt at v0.54.0 … v1.5.0): one optional sign, then one or more
`<number><unit>` groups with units ns, us, µs (U+00B5), μs (U+03BC), ms, s, m, h; "0" alone is
zero; no spaces, no days ("7d" is refused), magnitude at most 2^63-1 ns (about 292 years). The
error messages are Go's, e.g. `time: unknown unit "d" in duration "7d"`.
"""

from __future__ import annotations

import datetime as dt

_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_MAX = 1 << 63  # Go: |d| <= 1<<63 while parsing; a positive result must be <= 1<<63 - 1


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _digits(s: str) -> tuple[str, str]:
    i = 0
    while i < len(s) and "0" <= s[i] <= "9":
        i += 1
    return s[:i], s[i:]


def parse_go_duration_ns(text: str) -> int:
    """Nanoseconds, exactly as Go's time.ParseDuration computes them (float64 for fractions)."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string, got {type(text).__name__}")
    invalid = ValueError(f"time: invalid duration {_quote(text)}")
    s, neg = text, False
    if s and s[0] in "+-":
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        whole, s = _digits(s)
        if whole and int(whole) > _MAX:
            raise invalid
        frac = ""
        if s and s[0] == ".":
            frac, s = _digits(s[1:])
        if not whole and not frac:
            raise invalid  # no digits: ".s", "-.s"
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise ValueError(f"time: missing unit in duration {_quote(text)}")
        unit_text, s = s[:i], s[i:]
        unit = _NS.get(unit_text)
        if unit is None:
            raise ValueError(f"time: unknown unit {_quote(unit_text)} in duration {_quote(text)}")
        v = int(whole or "0")
        if v > _MAX // unit:
            raise invalid
        v *= unit
        f, scale = 0, 1.0
        for ch in frac:  # Go's leadingFraction stops accumulating before overflowing
            if f > (_MAX - 1) // 10 or f * 10 + int(ch) > _MAX:
                break
            f, scale = f * 10 + int(ch), scale * 10
        if f > 0:
            v += int(float(f) * (float(unit) / scale))
            if v > _MAX:
                raise invalid
        total += v
        if total > _MAX:
            raise invalid
    if neg:
        return -total
    if total > _MAX - 1:
        raise invalid
    return total


def parse_go_duration(text: str) -> dt.timedelta:
    """A Go duration as a timedelta (truncated to whole microseconds, timedelta's resolution)."""
    ns = parse_go_duration_ns(text)
    return dt.timedelta(microseconds=(abs(ns) // 1000) * (-1 if ns < 0 else 1))


def human(d: dt.timedelta) -> str:
    """Hours with one decimal, as the article writes them (e.g. 33.6h); minutes below an hour."""
    if abs(d) < dt.timedelta(hours=1):
        return f"{d.total_seconds() / 60:.0f}m"
    hours = d.total_seconds() / 3600
    sign = "-" if hours < 0 else ""
    return f"{sign}{abs(hours):.1f}h".replace(".0h", "h")
