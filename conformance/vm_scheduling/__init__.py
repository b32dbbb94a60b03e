"""Article: VM Scheduling (kb/vm-scheduling.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# What the checks of this article read (Settings and Nodes are core reads of every run; listed
# here too so the package states its needs): VMs and their requests (SCH-02), running VMIs and
# their virt-launcher pods (SCH-02, SCH-04; SCH-05's placements), the nodes they run on.
READS = (
    Read(R.HARVESTER_SETTINGS),
    Read(R.NODES),
    Read(R.VMS),
    Read(R.VMIS),
    Read(R.PODS),
)
