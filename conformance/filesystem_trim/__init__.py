"""Article: Mitigating filesystem trim Risk (kb/the_potential_risk_with_filesystem_trim.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# VMIs and their Paused condition (TRM-02).
READS = (Read(R.VMIS),)
