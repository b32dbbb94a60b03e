"""Article: NIC Naming Scheme (kb/nic-naming-scheme.md)."""

from harvester_conformance.checks import nic_naming as nic
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read
from harvester_conformance.context import RunContext

# The v1.0.x NodeNetwork (NC <= v0.3.2). Harvester v1.2+ answers 404 for it: an empty list.
NODE_NETWORKS = R.Resource("network.harvesterhci.io", "v1beta1", "nodenetworks", "NodeNetwork", False)

# NIC-01: the objects that name NICs (VlanConfigs, and the legacy ClusterNetwork config and
# NodeNetworks), where VlanConfigs were applied (VlanStatuses) and the nodes with their labels.
READS = (
    Read(R.NODES),
    Read(R.VLAN_CONFIGS),
    Read(R.VLAN_STATUSES),
    Read(R.CLUSTER_NETWORKS),
    Read(NODE_NETWORKS),
)


def uses(hc: RunContext) -> list[nic.NicUse]:
    """Every network object naming NICs, with the nodes it applies to."""
    snap = hc.snapshot
    nodes = snap.list(R.NODES)
    return [
        *nic.vlan_config_uses(snap.list(R.VLAN_CONFIGS), snap.list(R.VLAN_STATUSES), nodes),
        *nic.legacy_uses(snap.list(R.CLUSTER_NETWORKS), snap.list(NODE_NETWORKS), nodes),
    ]


def HOST_PATHS(hc: RunContext) -> list[str]:
    """/sys/class/net/<nic>/ifindex of every NIC the networks name, read on every node."""
    return nic.host_paths(uses(hc))
