"""Article: Best Practices for Harvester Security (kb/harvester_security_best_practices.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# Settings (http-proxy, auto-rotate-rke2-certs, additional-ca, ssl-certificates, ssl-parameters,
# containerd-registry), the nodes' InternalIPs that noProxy must cover and their RKE2 version (SEC-06)
# (both core reads too).
READS = (
    Read(R.HARVESTER_SETTINGS),
    Read(R.NODES),
)
