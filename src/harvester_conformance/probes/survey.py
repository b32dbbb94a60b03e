"""Ask every node the same questions through the node probe, in parallel, keeping per node
either what was learned or why it could not be.

For checks whose reads depend on what a first read showed (list /oem, then read its files;
list /sys/block, then read each device's attributes): the `gather` function does its own
`collect` calls for one node and returns the facts. Static file reads shared by several checks
go through `harvester_conformance.hosts` instead.

A node that could not be read is never guessed about: `judge` fails on the findings of the
nodes that were read, and otherwise says the invariant is broken while some node is unread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from harvester_conformance.checks.findings import Finding
from harvester_conformance.probes.base import NodeProbe, ProbeError, ProbeUnavailable
from harvester_conformance.verdict import Broken, require

T = TypeVar("T")
MAX_PARALLEL = 8  # nodes asked at the same time (pods or SSH sessions in flight)
MAX_ERRORS_LISTED = 5


class UnreadNodes:
    """The verdict rule of node reads, shared by `Survey` and `hosts.HostFiles`: they hold
    `errors`, node -> why it was not read."""

    errors: dict[str, str]

    def unread_note(self) -> str:
        shown = [f"{n} ({why})" for n, why in sorted(self.errors.items())[:MAX_ERRORS_LISTED]]
        more = len(self.errors) - len(shown)
        return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")

    def judge(self, findings: Iterable[Finding | None], what: str) -> None:
        """Fail on the findings of the nodes that were read; else broken while a node is unread."""
        found = [f for f in findings if f is not None]
        if found and self.errors:
            what = f"{what} (not read: {self.unread_note()})"
        require(found, what)
        if self.errors:
            raise Broken(f"{len(self.errors)} node(s) could not be read through the node probe: {self.unread_note()}")


@dataclass
class Survey(UnreadNodes, Generic[T]):
    facts: dict[str, T] = field(default_factory=dict)  # node -> what was learned
    errors: dict[str, str] = field(default_factory=dict)  # node -> why it was not read


def survey(
    probe: NodeProbe, nodes: Sequence[str], gather: Callable[[NodeProbe, str], T], parallel: int = MAX_PARALLEL
) -> Survey[T]:
    """`gather(probe, node)` for every node. ProbeUnavailable on every node means no probe can be
    had (raised, the caller skips); on some nodes only, they are recorded as not read, like a
    ProbeError. A ValueError from `gather` (a host file that does not parse) is recorded too."""
    out: Survey[T] = Survey()
    unavailable: dict[str, str] = {}

    def one(node: str) -> None:
        try:
            out.facts[node] = gather(probe, node)
        except ProbeUnavailable as exc:
            unavailable[node] = exc.reason
        except (ProbeError, ValueError) as exc:
            out.errors[node] = str(exc)[:300]

    if nodes:
        with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(nodes)))) as pool:
            list(pool.map(one, nodes))
    if unavailable and len(unavailable) == len(nodes):
        raise ProbeUnavailable("; ".join(sorted(set(unavailable.values())))[:300])
    out.errors.update({n: f"no probe for this node: {why}" for n, why in unavailable.items()})
    return out
