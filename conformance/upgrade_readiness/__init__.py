"""Harvester's upgrade gate (facts.md §16): the invariants that belong to no article."""

from harvester_conformance import upgrade_state
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# UPG-03: every VMI, the nodes (witness label, unschedulable, labels for node affinity), the
# upgrade-config setting (a core read), and the VMs for v1.8.2's stale-hotplug rule.
# UPG-01: Longhorn volumes; UPG-05: VM backups and their schedules; UPG-06: ManagedCharts, Fleet
# bundles, the local CAPI cluster and its machines, Addons (v1.7.0+); UPG-07: Upgrades. The
# Versions in harvester-system carry v1.5.0's skip annotations (UPG-02, UPG-04). UPG-02's kubelet
# stats and UPG-04's served certificate are read live, once per run (conftest.py); UPG-02's
# COS_STATE size (v1.7.x) through the node probe (test_nodes.HOST_PATHS).
READS = (
    Read(R.NODES),
    Read(R.HARVESTER_SETTINGS),
    Read(R.VMIS),
    Read(R.VMS),
    Read(R.LONGHORN_VOLUMES, "longhorn-system"),
    Read(R.VM_BACKUPS),
    Read(R.SCHEDULE_VM_BACKUPS),
    Read(R.MANAGED_CHARTS, "fleet-local"),
    Read(R.FLEET_BUNDLES),
    Read(R.CAPI_CLUSTERS, "fleet-local"),
    Read(R.CAPI_MACHINES, "fleet-local"),
    Read(R.UPGRADES, "harvester-system"),
    Read(R.VERSIONS, "harvester-system"),
    Read(R.ADDONS),
)
# IPP-06 and UPG-08: the state an upgrade must keep, compared with --baseline.
READS = (*READS, *upgrade_state.READS)
# What the checks ask the API outside the snapshot, for the generated RBAC: UPG-02's kubelet
# stats through the apiserver's node proxy.
RIGHTS = (("", "nodes/proxy", "get"),)
