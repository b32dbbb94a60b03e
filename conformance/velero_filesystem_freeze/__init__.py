"""Article: VM Data Consistency for External CSI Storage Backup with Velero
(kb/since-seed/2025-10-07_velero-backup-filesystem-freeze.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# VEL-02: the VMs' template annotations, their VMIs (AgentConnected) and the virt-launcher pods.
READS = (
    Read(R.VMS),
    Read(R.VMIS),
    Read(R.PODS),
)
