"""Section "How to avoid uneven distribution of VMs?": the spread of running VMs over the nodes,
and the crowded nodes whose VMs carry no hostname anti-affinity (advisory)."""

from __future__ import annotations

import statistics

import pytest

from harvester_conformance.checks import vm_scheduling as vs
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise

DONE = ("Succeeded", "Failed")


def _nodes(hc: RunContext) -> list[dict]:
    """Nodes VMs can be placed on: schedulable, not witness nodes."""
    return [
        n
        for n in hc.snapshot.list(R.NODES)
        if not (n.get("spec") or {}).get("unschedulable")
        and vs.WITNESS_LABEL not in ((n.get("metadata") or {}).get("labels") or {})
    ]


def _explain(hc: RunContext, nodes: list[dict], vmis: list[dict]) -> dict[str, str]:
    """The current scorer's view of each node, for one more VM of the median launcher request."""
    loads, launchers = {}, []
    for node in nodes:
        name = node["metadata"]["name"]
        alloc = (node.get("status") or {}).get("allocatable") or {}
        try:
            cpu, mem = vs.milli(alloc.get("cpu", 0)), vs.whole(alloc.get("memory", 0))
        except ValueError:
            continue
        pods = [p for p in hc.snapshot.by_node(R.PODS, name) if (p.get("status") or {}).get("phase") not in DONE]
        requested = [vs.pod_requests(p) for p in pods]
        launchers += [
            vs.pod_requests(p)
            for p in pods
            if (p["metadata"].get("labels") or {}).get("kubevirt.io") == "virt-launcher"
        ]
        loads[name] = (cpu, mem, sum(r[0] for r in requested), sum(r[1] for r in requested))
    if not launchers or not vmis:
        return {}
    incoming = (int(statistics.median(r[0] for r in launchers)), int(statistics.median(r[1] for r in launchers)))
    return vs.explain_placement(loads, incoming, vs.version_tuple(hc.versions.get("kubernetes")))


@invariant("SCH-04")
def test_vm_spread_across_nodes(hc: RunContext, request: pytest.FixtureRequest) -> None:
    nodes = _nodes(hc)
    vmis = hc.snapshot.list(R.VMIS)
    names = [n["metadata"]["name"] for n in nodes]
    findings = vs.check_spread(names, vmis)
    if findings:
        findings = vs.check_spread(names, vmis, _explain(hc, nodes, vmis))
    advise(request, findings, "VMs crowd a node without a hostname podAntiAffinity")
