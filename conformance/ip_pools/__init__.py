"""Article: Upgrade Guest Kubernetes Clusters to be Compatible with Harvester IP Pools
(kb/upgrading_guest_clusters_with_harvester_ip_pool_compatibility.md)."""

from harvester_conformance import upgrade_state
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import GUEST, Read

# IPP-01..04: the pools (cluster-scoped) and the load balancers their allocations and history name.
# IPP-05: the guest cluster's Services (read only when --guest-kubeconfig is given).
# IPP-07 (active) reads the live cluster.
READS = (
    Read(R.IPPOOLS),
    Read(R.LOADBALANCERS),
    Read(R.SERVICES, cluster=GUEST),
)
# IPP-06 and UPG-08: the state an upgrade must keep, compared with --baseline.
READS = (*READS, *upgrade_state.READS)
