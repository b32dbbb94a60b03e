"""Article: NIC Naming Scheme (kb/nic-naming-scheme.md)."""

from harvester_conformance import upgrade_state
from harvester_conformance.checks import nic_naming as nic
from harvester_conformance.context import RunContext

# NIC-01: the objects that name NICs (VlanConfigs, and the legacy ClusterNetwork config and
# NodeNetworks), where VlanConfigs were applied (VlanStatuses) and the nodes with their labels.
# NIC-02 compares those, and the rest of the state an upgrade must keep, with --baseline.
READS = upgrade_state.READS


def uses(hc: RunContext) -> list[nic.NicUse]:
    """Every network object naming NICs, with the nodes it applies to."""
    return upgrade_state.nic_uses(hc.snapshot)


def HOST_PATHS(hc: RunContext) -> list[str]:
    """/sys/class/net/<nic>/ifindex of every NIC the networks name now, or named in the baseline,
    read on every node."""
    return upgrade_state.host_paths(uses(hc), upgrade_state.baseline_nics(hc.baseline))
