"""Article: Mitigating filesystem trim Risk (kb/the_potential_risk_with_filesystem_trim.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# VMIs and their Paused condition (TRM-02). TRM-01 reads server-version and Longhorn's
# current-longhorn-version, core reads of every run.
READS = (Read(R.VMIS),)
