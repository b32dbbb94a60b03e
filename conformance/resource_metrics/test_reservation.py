"""Section "Resource Reservation": the Node pod-requests/pod-limits annotations (facts.md §6)."""

from __future__ import annotations

from harvester_conformance.checks import resource_metrics as rm
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("MET-01")
def test_pod_resource_annotations_match_the_pods(hc: RunContext) -> None:
    snap = hc.snapshot
    findings = [
        rm.check_node_annotations(n, snap.by_node(R.PODS, n["metadata"]["name"]), snap.captured_at)
        for n in snap.list(R.NODES)
    ]
    require(findings, "nodes whose pod-requests/pod-limits annotations disagree with their pods")
