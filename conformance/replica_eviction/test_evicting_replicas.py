"""Section "Evicting replicas from a disk": Longhorn nodes match Kubernetes nodes, and a disk asked
to evict has scheduling off and empties its scheduledReplica map within a bound."""

from __future__ import annotations

import datetime as dt

from harvester_conformance.checks import replica_eviction as ev
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require
from harvester_conformance.waits import TIMEOUTS, WaitTimeout, timeout_scale, wait_for

BOUND = "eviction-done"  # the longest an eviction may keep replicas on its disk


@invariant("EVI-01")
def test_longhorn_nodes_match_kubernetes_nodes(hc: RunContext) -> None:
    snap = hc.snapshot
    require(ev.check_node_mapping(snap.list(R.LONGHORN_NODES, ev.NS), snap.list(R.NODES)), "nodes without a match")


def _still_evicting(hc: RunContext, pending: dict[tuple[str, str], dt.timedelta]) -> list[Finding]:
    """Watch (GET only) the disks still holding replicas until each is empty or has held them for
    the bound; a disk older than the bound in the snapshot is reported without waiting."""
    bound = dt.timedelta(seconds=TIMEOUTS[BOUND] * timeout_scale())
    remaining = max((bound - age for age in pending.values()), default=dt.timedelta(0))
    left: dict[tuple[str, str], tuple[dict, dict]] = {}

    def emptied() -> bool:
        left.clear()
        for node_name, disk in pending:
            node = hc.cluster.get(R.LONGHORN_NODES, node_name, ev.NS) or {}
            replicas = ev.evicting_disks(node).get(disk)
            if replicas:
                left[(node_name, disk)] = (node, replicas)
        return not left

    if remaining.total_seconds() > 0:
        try:
            wait_for(BOUND, emptied, timeout=remaining.total_seconds() / timeout_scale())
        except WaitTimeout:
            pass
    else:
        emptied()
    return [ev.check_stuck(node, disk, replicas, bound) for (_, disk), (node, replicas) in sorted(left.items())]


@invariant("EVI-02")
def test_eviction_requests_are_consistent_and_complete(hc: RunContext) -> None:
    snap = hc.snapshot
    nodes = snap.list(R.LONGHORN_NODES, ev.NS)
    findings = [f for n in nodes for f in ev.check_eviction_flags(n)]
    pending = {}
    for node in nodes:
        for disk in ev.evicting_disks(node):
            since = ev.requested_at(node, disk)
            pending[(node["metadata"]["name"], disk)] = snap.captured_at - since if since else dt.timedelta(0)
    findings += _still_evicting(hc, pending) if pending else []
    require(findings, "disks whose eviction is inconsistent or stuck")
