"""Sections "5.2 Restart the Worker Nodes" and "Healthy Check / Basic Components": after the
restart every node is Ready, and the components in the system namespaces run; a pod still Failed,
or in CrashLoopBackOff beyond the 15 minutes a powered-on node may need, needs troubleshooting."""

from __future__ import annotations

from harvester_conformance.checks import cluster_restart as rst
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("RST-01")
def test_every_node_is_ready(hc: RunContext) -> None:
    require(rst.check_nodes_ready(hc.snapshot.list(R.NODES)), "nodes not Ready after the restart")


@invariant("RST-01")
def test_system_components_run(hc: RunContext) -> None:
    snap = hc.snapshot
    owners = rst.Owners(snap.list(R.REPLICASETS), snap.list(R.DEPLOYMENTS), snap.list(R.DAEMONSETS))
    require(
        rst.check_system_pods(snap.list(R.PODS), owners, snap.captured_at),
        "system pods Failed or crash-looping (cattle-fleet-*, cattle-system, harvester-system, kube-system, "
        "longhorn-system)",
    )
