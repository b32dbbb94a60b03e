"""Section "How to avoid uneven distribution of VMs?", exercised: VMs carrying the article's
podAntiAffinity (preferred, key harvesterhci.io/creator Exists, topology kubernetes.io/hostname)
are placed by the cluster's own kube-scheduler on distinct nodes while there are enough
schedulable nodes (the InterPodAffinity score plugin, default in every Kubernetes release Harvester
ships). The VMs live in the run's namespace and are deleted by the test's collector."""

from __future__ import annotations

import pytest

from harvester_conformance import vms
from harvester_conformance.changes import Changes
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Violation, require
from harvester_conformance.waits import WaitTimeout

MAX_VMS = 3
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"


def _eligible(node: dict) -> bool:
    """Ready, schedulable and allowed to run VMs (virt-handler's kubevirt.io/schedulable label)."""
    labels = node["metadata"].get("labels") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )
    return (
        ready and not (node.get("spec") or {}).get("unschedulable") and labels.get("kubevirt.io/schedulable") == "true"
    )


@invariant("SCH-05")
def test_anti_affinity_spreads_vms(hc: RunContext, changes: Changes) -> None:
    cl = hc.cluster
    nodes = cl.list(R.NODES)
    eligible = [n["metadata"]["name"] for n in nodes if _eligible(n)]
    if len(eligible) < 2:
        pytest.skip(f"not applicable: {len(eligible)} node(s) can run VMs; spreading needs two")
    count = min(MAX_VMS, len(eligible))
    labels = {vms.CREATOR_LABEL: "harvester"}
    names = [
        vms.create(changes, vms.vm_body(f"hc-sch05-{i}", labels=labels, affinity=vms.ANTI_AFFINITY))[1]
        for i in range(count)
    ]
    ns = changes.namespace()
    placed: dict[str, str] = {}
    for name in names:
        try:
            placed[name] = vms.wait_running(cl, ns, name)["status"]["nodeName"]
        except WaitTimeout as exc:
            raise Violation(
                f"VirtualMachineInstance {ns}/{name} did not start: {exc}", [f"VirtualMachine {ns}/{name}"]
            ) from None
    shared: dict[str, list[str]] = {}
    for name, node in placed.items():
        shared.setdefault(node, []).append(name)
    crowded = {node: sorted(v) for node, v in shared.items() if len(v) > 1}
    if not crowded:
        return
    where = "; ".join(f"{', '.join(v)} on {node}" for node, v in sorted(crowded.items()))
    # kube-scheduler runs as a static pod on every management node (RKE2's pod manifest there).
    schedulers = sorted(
        n["metadata"]["name"] for n in nodes if (n["metadata"].get("labels") or {}).get(CONTROL_PLANE) == "true"
    )
    require(
        [
            Finding(f"VirtualMachineInstance {ns}/{name}", f"shares node {placed[name]} with another anti-affine VM")
            for v in crowded.values()
            for name in v
        ]
        + [
            Finding(
                f"Node {n}",
                "runs kube-scheduler (static pod manifest): its configuration did not honour the preferred "
                "podAntiAffinity while nodes were free",
            )
            for n in schedulers
        ],
        f"VMs with the article's podAntiAffinity share nodes although {len(eligible)} nodes could run them ({where})",
    )
