"""Article: Best Practices for Optimizing Longhorn Disk Performance
(kb/best_practices_for_optimizing_longhorn_disk_performance.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# LHP-01: the replica-count setting and the Longhorn nodes; LHP-02: StorageClasses and the
# locality setting; LHP-03: Harvester's storage-network setting; LHP-04: the nodes' disks; LHP-05:
# recurring jobs, the volumes they reach and their snapshots, and Harvester's backup schedules.
# (Both Setting kinds are core reads too.)
READS = (
    Read(R.LONGHORN_SETTINGS, "longhorn-system"),
    Read(R.LONGHORN_NODES, "longhorn-system"),
    Read(R.STORAGE_CLASSES),
    Read(R.HARVESTER_SETTINGS),
    Read(R.LONGHORN_RECURRING_JOBS, "longhorn-system"),
    Read(R.LONGHORN_VOLUMES, "longhorn-system"),
    Read(R.LONGHORN_SNAPSHOTS, "longhorn-system"),
    Read(R.SCHEDULE_VM_BACKUPS),
)
