"""Article: Troubleshooting VM Live Migration Issues Caused by Node Selectors
(kb/since-seed/2025-12-09_troubleshooting_vm_scheduling_issues_nodeselector.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# CPU-03: the VMIs, their virt-launcher pods (in every namespace) and the nodes' labels.
# CPU-04: the nodes' annotations.
READS = (
    Read(R.NODES),
    Read(R.VMIS),
    Read(R.PODS),
)
