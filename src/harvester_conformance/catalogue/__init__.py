"""The invariant catalogue as data: one entry per documented invariant ID."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from harvester_conformance import yamltext

HERE = Path(__file__).parent
IMPACTS = ("disruptive", "active", "read_only")
NEEDS = {"node": "node", "rancher": "rancher", "guest-cluster": "guest_cluster", "vendor": "vendor"}


@dataclass(frozen=True)
class Rule:
    """What a check applies on the releases its `versions` select, where that changed upstream."""

    versions: dict[str, str]
    rule: str


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    area: str
    article: str | None
    section: str
    url: str | None
    kind: tuple[str, ...]
    severity: str
    versions: dict[str, str]
    remediation: str
    upstream_note: str | None
    prerequisites: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()

    @property
    def impact(self) -> str:
        """The most intrusive thing its test does: disruptive > active > read_only."""
        if "disruptive" in self.kind:
            return "disruptive"
        if "active" in self.kind:
            return "active"
        return "read_only"

    @property
    def needs(self) -> tuple[str, ...]:
        return tuple(marker for kind, marker in NEEDS.items() if kind in self.kind)

    @property
    def advisory(self) -> bool:
        return "advisory" in self.kind

    @property
    def testable(self) -> bool:
        return "guidance" not in self.kind

    def markers(self) -> tuple[str, ...]:
        extra = tuple(k for k in ("advisory", "regression") if k in self.kind)
        return (self.impact, *self.needs, *extra, self.area)


@functools.cache
def entries() -> dict[str, Entry]:
    raw = yamltext.load((HERE / "invariants.yaml").read_text())
    return {
        e["id"]: Entry(
            id=e["id"],
            title=e["title"],
            area=e["area"],
            article=e["article"],
            section=e["section"],
            url=e["url"],
            kind=tuple(e["kind"]),
            severity=e["severity"],
            versions=dict(e["versions"] or {}),
            remediation=" ".join(e["remediation"].split()),
            upstream_note=e.get("upstream_note"),
            prerequisites=tuple(e.get("prerequisites") or ()),
            rules=tuple(Rule(dict(r["versions"]), " ".join(r["rule"].split())) for r in e.get("rules") or ()),
        )
        for e in raw
    }


@functools.cache
def articles() -> list[dict]:
    return yamltext.load((HERE / "articles.yaml").read_text())


def article_title(entry: Entry) -> str:
    for a in articles():
        if a["file"] == entry.article:
            return a["title"]
    return "Harvester upgrade readiness"


# -- version gates ------------------------------------------------------------------------
_CONSTRAINT = re.compile(r"^\s*(>=|<=|>|<|==)?\s*v?([0-9][0-9.]*)")


def parse_version(text: str) -> tuple[int, ...]:
    """'v1.3.1', '1.1.1-150500.8.15.1', 'v1.27.13+rke2r1' -> (1, 3, 1)."""
    m = re.match(r"^\s*v?(\d+(?:\.\d+)*)", text or "")
    if not m:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(x) for x in m.group(1).split("."))


def satisfies(version: str, constraint: str) -> bool:
    """`constraint`: comparisons joined by `,` (all hold), alternatives joined by `||` (any
    holds), e.g. `<v1.7.2 || >=v1.8.0,<v1.8.1`; `*` or empty: every version."""
    if not constraint or constraint.strip() == "*":
        return True
    v = parse_version(version)
    return any(_all_hold(v, alternative, constraint) for alternative in constraint.split("||"))


def _all_hold(v: tuple[int, ...], alternative: str, constraint: str) -> bool:
    for part in alternative.split(","):
        m = _CONSTRAINT.match(part)
        if not m:
            raise ValueError(f"bad constraint {constraint!r}")
        op, target = m.group(1) or "==", tuple(int(x) for x in m.group(2).split("."))
        width = max(len(v), len(target))
        a, b = v + (0,) * (width - len(v)), target + (0,) * (width - len(target))
        ok = {">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b, "==": a == b}[op]
        if not ok:
            return False
    return True


def _parses(version: str) -> bool:
    try:
        parse_version(version)
    except ValueError:
        return False
    return True


def _gate_version(component: str, version: str | None) -> str | None:
    """The version a gate compares: the detected one; for a Harvester version that is not a
    release number, the release whose rules the run applies (releases.resolve); None: no gate."""
    if not version or _parses(version):
        return version
    if component != "harvester":
        return None
    from harvester_conformance.catalogue.releases import resolve

    return resolve(version).release.harvester


def applies(entry: Entry, detected: dict[str, str | None]) -> tuple[bool, str]:
    """Whether the entry's version gates hold for the detected versions, and why not."""
    for component, constraint in entry.versions.items():
        version = _gate_version(component, detected.get(component))
        if not constraint or constraint == "*" or not version:
            continue
        if not satisfies(version, constraint):
            runs = detected.get(component)
            judged = "" if runs == version else f" (judged as {version})"
            return False, f"{entry.id} applies to {component} {constraint}; this cluster runs {runs}{judged}"
    return True, ""


def rules_for(entry: Entry, detected: dict[str, str | None]) -> tuple[Rule, ...]:
    """The entry's version-split rules that hold on this cluster. A component version that is
    unread or not a version number is taken from the release whose rules the run applies."""
    from harvester_conformance.catalogue.releases import COMPONENTS, resolve

    row = resolve(detected.get("harvester")).release
    versions = {
        c: detected.get(c) if _parses(detected.get(c) or "") else getattr(row, col) for c, col in COMPONENTS.items()
    }
    return tuple(r for r in entry.rules if all(satisfies(versions[c], k) for c, k in r.versions.items()))
