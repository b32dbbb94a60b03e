"""What the Pod Security tests share: the cluster-wide configuration and the default in force."""

from __future__ import annotations

from harvester_conformance.checks import pod_security as pss
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.hosts import host_files  # noqa: F401 - the shared fixture
from harvester_conformance.verdict import Broken


def apiserver_pods(hc: RunContext) -> dict[str, dict]:
    """The kube-apiserver mirror pods by name."""
    return {p["metadata"]["name"]: p for p in hc.snapshot.list(R.PODS, pss.APISERVER_NS)}


def active_configurations(hc: RunContext) -> list[pss.ClusterWide]:
    """The CloudInits that configure cluster-wide enforcement and are not paused."""
    found, _ = pss.cluster_wide(hc.snapshot.list(R.CLOUD_INITS))
    return [c for c in found if not c.paused]


def default_in_force(hc: RunContext) -> pss.Default:
    """The cluster-wide default the apiservers enforce: the CloudInit's once every control-plane
    kube-apiserver runs with its file (PSS-04), else RKE2's privileged default."""
    nodes, pods = hc.snapshot.list(R.NODES), apiserver_pods(hc)
    for conf in active_configurations(hc):
        running = pss.running_with(conf, nodes, pods)
        if running and len(running) < len(pss.control_plane_nodes(nodes)):
            raise Broken(
                f"the cluster-wide default differs between kube-apiservers: only {', '.join(running)} run with "
                f"{conf.ref}'s {conf.config_path}",
                prerequisite="PSS-04",
            )
        if running and conf.default_enforce:
            return pss.Default(conf.default_enforce, frozenset(conf.exemptions), f"{conf.ref} ({conf.config_path})")
    return pss.Default()
