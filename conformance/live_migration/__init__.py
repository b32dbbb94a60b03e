"""Article: VM Live Migration Policy and Configuration (kb/vm_live_migration_policy_and_configuration.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# What the read-only checks of this article read (the KubeVirt CR is a core read of every run);
# namespaces for the labels MigrationPolicies select on; MIG-01 reads the kubevirt-migration
# setting on Harvester v1.7+ (settings are also a core read). The active tests read the live cluster.
READS = (
    Read(R.HARVESTER_SETTINGS),
    Read(R.VMIS),
    Read(R.VMIMS),
    Read(R.MIGRATION_POLICIES),
    Read(R.NAMESPACES),
)
