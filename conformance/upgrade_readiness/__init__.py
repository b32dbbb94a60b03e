"""Harvester's upgrade gate (facts.md §16): the invariants that belong to no article."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# UPG-03: every VMI, the nodes (witness label, unschedulable, labels for node affinity), the
# upgrade-config setting (a core read), and the VMs for v1.8.2's stale-hotplug rule.
READS = (
    Read(R.NODES),
    Read(R.HARVESTER_SETTINGS),
    Read(R.VMIS),
    Read(R.VMS),
)
