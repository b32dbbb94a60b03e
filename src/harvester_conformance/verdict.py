"""How a test states its verdict: a violation lists the offending objects; an advisory
deviation warns (or fails under --strict); `Broken` says the invariant could not be evaluated,
and why. The plugin carries each into every report."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from harvester_conformance.checks.findings import Finding

MAX_LISTED = 20


class Broken(Exception):
    """The suite could not evaluate the invariant (an API error, a missing permission, or a
    prerequisite invariant that failed): reported as broken with this reason, never as failed."""

    def __init__(self, reason: str, prerequisite: str | None = None) -> None:
        if prerequisite and prerequisite not in reason:
            reason = f"{reason} (prerequisite {prerequisite})"
        super().__init__(reason)
        self.prerequisite = prerequisite


class Violation(AssertionError):
    """The cluster does not satisfy the invariant; carries the offending objects."""

    def __init__(self, message: str, objects: list[str]) -> None:
        super().__init__(message)
        self.objects = objects


def _message(what: str, findings: list[Finding]) -> str:
    lines = [f"{what}: {len(findings)} offending object(s)"]
    lines += [f"  - {f}" for f in findings[:MAX_LISTED]]
    if len(findings) > MAX_LISTED:
        lines.append(f"  ... and {len(findings) - MAX_LISTED} more")
    return "\n".join(lines)


def require(findings: Iterable[Finding | None], what: str) -> None:
    """Fail the invariant when any finding remains."""
    found = [f for f in findings if f is not None]
    if found:
        raise Violation(_message(what, found), [f.object for f in found])


def advise(request: pytest.FixtureRequest, findings: Iterable[Finding | None], what: str) -> None:
    """An advisory invariant: warn, or fail when the run is strict."""
    found = [f for f in findings if f is not None]
    if not found:
        return
    if request.config.getoption("strict", False):
        raise Violation(_message(what, found) + "\n(advisory; failed because of --strict)", [f.object for f in found])
    request.node.user_properties.append(
        ("hc_warned", {"message": _message(what, found), "objects": [f.object for f in found]})
    )
