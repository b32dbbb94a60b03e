"""Article: Using NetApp Storage on Harvester (kb/install_netapp_trident_csi.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# NTA-01: CSIDrivers, StorageClasses, VolumeSnapshotClasses and csi-driver-config (a core read);
# NTA-02: the PSA ClusterRole, its bindings and the operator's ServiceAccount.
READS = (
    Read(R.HARVESTER_SETTINGS),
    Read(R.CSI_DRIVERS),
    Read(R.STORAGE_CLASSES),
    Read(R.VOLUME_SNAPSHOT_CLASSES),
    Read(R.CLUSTER_ROLES),
    Read(R.CLUSTER_ROLE_BINDINGS),
    Read(R.SERVICE_ACCOUNTS),
)
