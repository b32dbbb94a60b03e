"""Section "Evicting replicas from a disk": Longhorn nodes match Kubernetes nodes, a disk asked
to evict has scheduling off and empties its scheduledReplica map within a bound, and (disruptive,
EVI-03) an eviction the test requests does so with every volume kept healthy, after which the
disk's flags are put back."""

from __future__ import annotations

import datetime as dt

from harvester_conformance.changes import Changes
from harvester_conformance.checks import replica_eviction as ev
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, require
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


def _over_provisioning(hc: RunContext) -> int:
    setting = hc.cluster.get(R.LONGHORN_SETTINGS, ev.OVER_PROVISIONING, ev.NS) or {}
    try:
        return int(str(setting.get("value") or "100"))
    except ValueError:
        return 100


def _flags(hc: RunContext, node: str, disk: str) -> tuple[object, object]:
    d = (((hc.cluster.get(R.LONGHORN_NODES, node, ev.NS) or {}).get("spec") or {}).get("disks") or {}).get(disk) or {}
    return d.get("allowScheduling"), d.get("evictionRequested")


@invariant("EVI-03")
def test_eviction_empties_a_disk_with_volumes_healthy(hc: RunContext, changes: Changes) -> None:
    cl = hc.cluster
    choice = ev.pick_disk(cl.list(R.LONGHORN_NODES, ev.NS), _over_provisioning(hc))
    if choice is None:
        raise Broken(
            "no schedulable disk holds replicas that fit on the other disks of its node: nothing to evict safely"
        )
    node, disk = choice
    before = {
        v["metadata"]["name"]: str((v.get("status") or {}).get("robustness") or "")
        for v in cl.list(R.LONGHORN_VOLUMES, ev.NS)
    }
    original = _flags(hc, node, disk)
    for field in ("allowScheduling", "evictionRequested"):
        changes.save(
            R.LONGHORN_NODES, node, ev.NS, ("spec", "disks", disk, field), lambda: _flags(hc, node, disk) == original
        )
    # The article's procedure: scheduling off first, then the request (the node validator refuses
    # evictionRequested on a disk that still allows scheduling).
    for flags in ({"allowScheduling": False}, {"evictionRequested": True}):
        cl.patch(R.LONGHORN_NODES, node, {"spec": {"disks": {disk: flags}}}, ev.NS)
    seen: dict[str, str] = {}
    left: dict = {}

    def emptied() -> bool:
        seen.update(ev.unhealthy(before, cl.list(R.LONGHORN_VOLUMES, ev.NS)))
        left.clear()
        left.update(ev.scheduled_replicas(cl.get(R.LONGHORN_NODES, node, ev.NS) or {}, disk))
        return not left

    findings = []
    try:
        wait_for(BOUND, emptied)
    except WaitTimeout:
        lh_node = cl.get(R.LONGHORN_NODES, node, ev.NS) or {"metadata": {"name": node}}
        findings.append(ev.check_stuck(lh_node, disk, left, dt.timedelta(seconds=TIMEOUTS[BOUND] * timeout_scale())))
    findings += ev.check_health(node, disk, seen)
    require(findings, "an eviction did not empty its disk, or a volume lost health meanwhile")
