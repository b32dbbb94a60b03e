"""Article: Configure PriorityClass on Longhorn System Components (kb/configure_priority_class_longhorn.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# LPC-01 reads the priority-class setting (Longhorn settings are a core read); LPC-02 the
# PriorityClass; LPC-03 the system-managed workloads and pods in longhorn-system.
READS = (
    Read(R.PRIORITY_CLASSES),
    Read(R.DEPLOYMENTS, "longhorn-system"),
    Read(R.DAEMONSETS, "longhorn-system"),
    Read(R.PODS, "longhorn-system"),
)
