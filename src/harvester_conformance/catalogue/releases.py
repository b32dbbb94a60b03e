"""The Harvester releases the suite knows (`releases.yaml`, the only loader of that table) and
which release's rules apply to a cluster. A version the table lacks is never an error: the checks
use the nearest known row and the run's report says which one and why."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from harvester_conformance import yamltext
from harvester_conformance.catalogue import HERE, parse_version, satisfies

# The table's columns that version constraints can name; `kubernetes` is RKE2's Kubernetes.
COMPONENTS = {
    "harvester": "harvester",
    "kubevirt": "kubevirt",
    "longhorn": "longhorn",
    "rke2": "rke2",
    "kubernetes": "rke2",
}
_PLAIN = re.compile(r"^\s*v?\d+(\.\d+)*\s*$")


@dataclass(frozen=True)
class Release:
    """One row of `releases.yaml`."""

    harvester: str
    tagged: str
    kubevirt: str
    longhorn: str
    rke2: str
    rancher: str
    cdi: str | None
    min_upgradable: str
    candidate: str | None = None
    unverified: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How reports name the row: a release known only from its candidates by that tag."""
        return self.candidate or self.harvester

    @property
    def key(self) -> tuple[int, ...]:
        return _padded(parse_version(self.harvester))

    @property
    def minor(self) -> tuple[int, ...]:
        return self.key[:2]

    def components(self) -> dict[str, str | None]:
        return {
            "harvester": self.label,
            "kubevirt": self.kubevirt,
            "longhorn": self.longhorn,
            "rke2": self.rke2,
            "rancher": self.rancher,
            "cdi": self.cdi,
        }


def _padded(v: tuple[int, ...]) -> tuple[int, ...]:
    return v + (0,) * (3 - len(v))


def _row(raw: dict) -> Release:
    return Release(
        harvester=raw["harvester"],
        tagged=str(raw["tagged"]),
        kubevirt=raw["kubevirt"],
        longhorn=raw["longhorn"],
        rke2=raw["rke2"],
        rancher=raw["rancher"],
        cdi=raw.get("cdi"),
        min_upgradable=raw["min_upgradable"],
        candidate=raw.get("candidate"),
        unverified=dict(raw.get("unverified") or {}),
    )


@functools.cache
def releases() -> tuple[Release, ...]:
    """Every known release, oldest version first (version order, not tag-date order)."""
    rows = sorted((_row(r) for r in yamltext.load((HERE / "releases.yaml").read_text())), key=lambda r: r.key)
    keys = [r.key for r in rows]
    if len(set(keys)) != len(keys):
        raise ValueError("releases.yaml lists a release twice")
    return tuple(rows)


def newest() -> Release:
    return releases()[-1]


def oldest() -> Release:
    return releases()[0]


def known(version: str) -> Release | None:
    """The row of exactly this release (a candidate tag names its release's row), else None."""
    try:
        key = _padded(parse_version(version))
    except ValueError:
        return None
    return next((r for r in releases() if r.key == key), None)


# -- which row's rules apply -----------------------------------------------------------------
@dataclass(frozen=True)
class Resolution:
    """The row whose rules a run applies, how it was chosen (`match`) and the report's note."""

    detected: str | None
    release: Release
    match: str
    note: str | None

    @property
    def rules_from(self) -> str:
        return self.release.label

    def record(self) -> dict:
        """summary.json's `versions` block."""
        return {
            "harvester": self.detected,
            "rules_from": self.rules_from,
            "match": self.match,
            "note": self.note,
            "release": self.release.components(),
        }


def resolve(detected: str | None) -> Resolution:
    """The known release whose rules apply to a cluster reporting Harvester `detected`.

    Exact release: its row. Pre-release or candidate build: its release's row. Unknown patch, or a
    release newer than the table: the newest known row not newer than it. Branch build (`v1.8-head`):
    the newest row of that minor. Older than the table, unparsable or unread: the oldest or the
    newest row, and the note says so."""
    if not detected:
        return Resolution(
            None,
            newest(),
            "undetected",
            f"the Harvester version could not be read: version gates do not apply and the checks use "
            f"the rules of {newest().label}, the newest known release",
        )
    try:
        parsed = parse_version(detected)
    except ValueError:
        return Resolution(
            detected,
            newest(),
            "unparsable",
            f"Harvester version {detected!r} is not a release number (a development build?): the checks "
            f"use the rules of {newest().label}, the newest known release",
        )
    if len(parsed) < 3:
        branch = [r for r in releases() if r.minor == _padded(parsed)[:2]]
        if branch:
            return _nearest(detected, branch[-1], "branch", "the newest known release of its branch")
    key = _padded(parsed)
    exact = next((r for r in releases() if r.key == key), None)
    if exact is not None:
        return _exact(detected, exact)
    before = [r for r in releases() if r.key < key]
    if not before:
        return Resolution(
            detected,
            oldest(),
            "older",
            f"Harvester {detected} is older than every release the suite knows: the checks use the rules "
            f"of {oldest().label}, the oldest known release, which may not hold there",
        )
    row = before[-1]
    if row == newest():
        return _nearest(detected, row, "newer", "the newest known release")
    if row.minor == key[:2]:
        return _nearest(detected, row, "unknown-patch", "the newest known release of its minor before it")
    return _nearest(detected, row, "unknown", "the newest known release before it")


def _exact(detected: str, row: Release) -> Resolution:
    if row.candidate:
        return Resolution(
            detected,
            row,
            "candidate",
            f"{row.harvester} is known only from its release candidates: the checks use the shapes of {row.candidate}",
        )
    if not _PLAIN.match(detected):
        return Resolution(
            detected, row, "prerelease", f"Harvester {detected} is a build of {row.harvester}: its rules apply"
        )
    return Resolution(detected, row, "exact", None)


def _nearest(detected: str, row: Release, match: str, why: str) -> Resolution:
    shapes = f" (release-candidate shapes of {row.candidate})" if row.candidate else ""
    return Resolution(
        detected,
        row,
        match,
        f"Harvester {detected} is not in the suite's release table: the checks use the rules of "
        f"{row.harvester}{shapes}, {why}",
    )


# -- which rows a constraint selects ------------------------------------------------------------
def holds(row: Release, constraints: Mapping[str, str]) -> bool:
    """Whether every component constraint (catalogue `versions` syntax) holds for the row."""
    for component, constraint in constraints.items():
        column = COMPONENTS.get(component)
        if column is None:
            raise KeyError(f"no column {component!r} in the release table (known: {', '.join(COMPONENTS)})")
        if not satisfies(getattr(row, column), constraint):
            return False
    return True


def selected(constraints: Mapping[str, str]) -> tuple[Release, ...]:
    """The known releases the constraints select."""
    return tuple(r for r in releases() if holds(r, constraints))


def compact(rows: Iterable[Release]) -> str:
    """`v1.2.1..v1.7.1, v1.8.0`: runs of consecutive table rows; `all` or `none`."""
    wanted = {r.key for r in rows}
    table = releases()
    if not wanted:
        return "none"
    if wanted == {r.key for r in table}:
        return "all"
    runs: list[list[Release]] = []
    for i, r in enumerate(table):
        if r.key not in wanted:
            continue
        if runs and table[i - 1].key in wanted and runs[-1][-1] == table[i - 1]:
            runs[-1].append(r)
        else:
            runs.append([r])
    return ", ".join(run[0].label if len(run) == 1 else f"{run[0].label}..{run[-1].label}" for run in runs)
