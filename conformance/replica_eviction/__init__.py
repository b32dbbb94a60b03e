"""Article: Evicting Replicas From a Disk (the CLI way) (kb/evicting-replicas-from-a-disk-the-cli-way.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# EVI-01: Kubernetes nodes (a core read) and Longhorn nodes; EVI-02: the Longhorn nodes' disks.
READS = (
    Read(R.NODES),
    Read(R.LONGHORN_NODES, "longhorn-system"),
)
