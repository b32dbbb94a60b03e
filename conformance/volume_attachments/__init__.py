"""Article: Kubernetes VolumeAttachment vs Longhorn VolumeAttachment
(kb/since-seed/2025-11-04_k8s_vs_longhorn_volumeattachment.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# VAT-01/02: the Kubernetes VolumeAttachments (cluster-scoped), the Longhorn VolumeAttachments and
# volumes, and the PVs that map a PV to its Longhorn volume.
READS = (
    Read(R.VOLUME_ATTACHMENTS),
    Read(R.LONGHORN_VOLUME_ATTACHMENTS, "longhorn-system"),
    Read(R.LONGHORN_VOLUMES, "longhorn-system"),
    Read(R.PERSISTENT_VOLUMES),
)
