"""Declared reads: what an article's read-only checks read, so that the run lists each type once.

Each check package under `conformance/` declares `READS` in its `__init__.py`; the controller
lists the union of the selected packages' declarations (plus the core reads that version
detection needs) before any worker starts, and a read of anything else is an error, never a
silent fetch per worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harvester_conformance.cluster import resources as R

HARVESTER, RANCHER, GUEST = "harvester", "rancher", "guest"
CLUSTERS = (HARVESTER, RANCHER, GUEST)


@dataclass(frozen=True)
class Read:
    """One resource type, in one namespace (None: every namespace, or cluster-scoped), of one
    of the run's clusters."""

    res: R.Resource
    namespace: str | None = None
    cluster: str = HARVESTER

    def __post_init__(self) -> None:
        if self.cluster not in CLUSTERS:
            raise ValueError(f"unknown cluster role {self.cluster!r}")
        if self.namespace and not self.res.namespaced:
            raise ValueError(f"{self.res.key} is cluster-scoped: it has no namespace {self.namespace!r}")

    @property
    def key(self) -> str:
        return f"{self.cluster}:{self.res.key}@{self.namespace or '*'}"

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        on = "" if self.cluster == HARVESTER else f" ({self.cluster} cluster)"
        return f"{self.res.key}{where}{on}"


# Read by every run: version detection and the node list that node checks parametrise over.
CORE: tuple[Read, ...] = (
    Read(R.NODES),
    Read(R.HARVESTER_SETTINGS),
    Read(R.KUBEVIRTS, "harvester-system"),
    Read(R.DEPLOYMENTS, "harvester-system"),
    Read(R.LONGHORN_SETTINGS, "longhorn-system"),
    Read(R.NAMESPACES),  # kube-system's UID names the cluster: the HTML report's history is per cluster
)


def union(declared: Iterable[Read]) -> list[Read]:
    """The lists to make: one per type and cluster; a namespaced read is dropped where the same
    type is read in every namespace (the snapshot filters that list instead)."""
    every = set(declared)
    wide = {(r.cluster, r.res) for r in every if r.namespace is None}
    return sorted((r for r in every if r.namespace is None or (r.cluster, r.res) not in wide), key=lambda r: r.key)
