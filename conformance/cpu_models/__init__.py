"""Article: Setting up a common CPU model for virtual machine migration
(kb/since-seed/2025-09-30_setup_common_cpu_model_for_vm_live_migration.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# CPU-01: the KubeVirt CR (a core read) and the nodes' CPU labels.
# CPU-02: the VMs' templates and the VMIs. CPU-05: the VMIs (model, LiveMigratable) and the nodes.
READS = (
    Read(R.NODES),
    Read(R.KUBEVIRTS, "harvester-system"),
    Read(R.VMS),
    Read(R.VMIS),
)
