"""Article: Use Rook Ceph External Storage with Harvester (kb/use_rook_ceph_external_storage.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# CSI-01: csi-driver-config (a core read), snapshot classes, CSIDrivers and StorageClasses;
# CSI-02: VM images and their classes; CSI-03: VMs, their claims and the claims' classes.
READS = (
    Read(R.HARVESTER_SETTINGS),
    Read(R.VOLUME_SNAPSHOT_CLASSES),
    Read(R.CSI_DRIVERS),
    Read(R.STORAGE_CLASSES),
    Read(R.VM_IMAGES),
    Read(R.VMS),
    Read(R.PVCS),
)
