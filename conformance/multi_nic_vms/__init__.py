"""Article: Multiple NICs VM Connectivity (kb/multiple-nics-vm-connectivity.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# VMs, and the Secrets their cloud-init may name in networkDataSecretRef: the snapshot keeps
# only the (decoded) network data of cloud-init Secrets, never user data or other keys.
READS = (
    Read(R.VMS),
    Read(R.SECRETS),
)
