"""Article: External CSI Storage Backup and Restore With Velero
(kb/since-seed/2025-05-26_velero-backup-restore.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# VEL-01/03: Velero's server Deployment (any namespace: the install namespace is the user's choice).
# VEL-01: the VolumeSnapshotClasses. VEL-03: the VMs, the PVCs they use and the StorageClasses.
READS = (
    Read(R.DEPLOYMENTS),
    Read(R.VOLUME_SNAPSHOT_CLASSES),
    Read(R.VMS),
    Read(R.PVCS),
    Read(R.STORAGE_CLASSES),
)
