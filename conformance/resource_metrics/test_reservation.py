"""Section "Resource Reservation": the Node pod-requests/pod-limits annotations (facts.md §6)."""

from __future__ import annotations

import datetime as dt

from harvester_conformance.checks import resource_metrics as rm
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require
from harvester_conformance.waits import WaitTimeout, wait_for


@invariant("MET-01")
def test_pod_resource_annotations_match_the_pods(hc: RunContext) -> None:
    snap = hc.snapshot
    findings = [
        rm.check_node_annotations(n, snap.by_node(R.PODS, n["metadata"]["name"]), snap.captured_at)
        for n in snap.list(R.NODES)
    ]
    if any(findings):
        findings = _outlasting([f for f in findings if f], hc)
    require(findings, "nodes whose pod-requests/pod-limits annotations disagree with their pods")


def _outlasting(findings: list[Finding], hc: RunContext) -> list[Finding]:
    """A mismatch in the snapshot may be the controller catching up with pods that came or went
    just before it (one deleted and gone cannot be told from the snapshot): the mismatch counts
    only if the live node and pods still disagree once the controller's lag has passed."""
    names = [f.object.split(" ", 1)[1] for f in findings]
    last: dict[str, Finding | None] = {}

    def agree() -> bool:
        by_node: dict[str, list[dict]] = {}
        for pod in hc.cluster.list(R.PODS):
            by_node.setdefault((pod.get("spec") or {}).get("nodeName") or "", []).append(pod)
        now = dt.datetime.now(dt.UTC)
        for name in names:
            node = hc.cluster.get(R.NODES, name)
            last[name] = rm.check_node_annotations(node, by_node.get(name, []), now) if node else None
        return not any(last.values())

    try:
        wait_for("annotations-settled", agree)
    except WaitTimeout:
        return [f for f in last.values() if f]
    return []
