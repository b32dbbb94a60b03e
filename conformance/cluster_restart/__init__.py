"""Article: Shutdown and Restart a Harvester Cluster
(kb/since-seed/2024-07-22_harvester_cluster_shutdown_and_restart.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# RST-01: the nodes; the pods of the system namespaces and the workloads that own them. The
# `cattle-fleet-*` namespaces are a pattern, so these are read in every namespace and filtered.
# RST-03: the Deployments cattle-system/rancher and cattle-system/cattle-cluster-agent.
# RST-02: the VIP ConfigMap and the ingress Services of kube-system.
# RST-04: the Addons, Longhorn's storage-network setting and the pods (above).
READS = (
    Read(R.NODES),
    Read(R.PODS),
    Read(R.REPLICASETS),
    Read(R.DEPLOYMENTS),
    Read(R.DAEMONSETS),
    Read(R.CONFIGMAPS, "harvester-system"),
    Read(R.SERVICES, "kube-system"),
    Read(R.ADDONS),
    Read(R.LONGHORN_SETTINGS, "longhorn-system"),
)
