"""Article: KubeVirt Certificates Rotation (kb/kubevirt_certificates_rotation.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# What the read-only checks of this article read (the KubeVirt CR and virt-operator's
# Deployment are core reads of every run).
READS = (
    Read(R.SECRETS, "harvester-system"),
    Read(R.CONFIGMAPS, "harvester-system"),
    Read(R.VALIDATING_WEBHOOKS),
    Read(R.MUTATING_WEBHOOKS),
    Read(R.API_SERVICES),
)
