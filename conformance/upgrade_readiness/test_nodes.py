"""The gate's node rules (HV pkg/webhook/resources/upgrade/validator.go `checkNodes`,
`checkDiskSpace`, v1.2.1 … v1.8.2): every node Ready and schedulable, and (used + 13 GiB) of the
kubelet's root filesystem within its imageGCHighThresholdPercent (kubelet default 85). The gate
reads /stats/summary and /configz from each kubelet; here they come through the API server's node
proxy. A node whose figures cannot be read leaves the invariant unknown (broken), never passed.
Not checked: the v1.7.x pre-check's COS_STATE size (needs the node probe)."""

from __future__ import annotations

from harvester_conformance.checks import upgrade_readiness as ur
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, require

from .conftest import KubeletDisk


@invariant("UPG-02")
def test_nodes_ready_schedulable_with_disk_room(hc: RunContext, kubelet_disks: dict[str, KubeletDisk]) -> None:
    nodes = hc.snapshot.list(R.NODES)
    findings = [ur.check_node_state(n) for n in nodes]
    unknown = []
    for node in nodes:
        name = node["metadata"]["name"]
        disk = kubelet_disks.get(name)
        if disk is None or disk.fs is None:
            unknown.append(f"Node {name} ({disk.error if disk else 'not read'})")
            continue
        findings.append(ur.check_disk_room(name, disk.fs, disk.threshold))
    require(findings, "nodes the upgrade gate refuses")
    if unknown:
        raise Broken(f"disk room unknown: kubelet stats not readable for {'; '.join(unknown)}", prerequisite="MET-02")
