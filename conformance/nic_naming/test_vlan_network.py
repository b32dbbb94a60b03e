"""Section "Harvester VLAN Network Configuration": every NIC the cluster networks name (VlanConfig
uplinks from v1.1; the `vlan` ClusterNetwork and `<node>-vlan` NodeNetworks of v1.0.x) exists on
the nodes it applies to, as /sys/class/net shows them (NC pkg/webhook/vlanconfig/mutator.go,
pkg/controller/agent/vlanconfig/controller.go; facts.md §13, §17.6)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import nic_naming as nic
from harvester_conformance.context import RunContext
from harvester_conformance.hosts import HostFiles
from harvester_conformance.invariant import invariant

from . import uses


@invariant("NIC-01")
def test_named_nics_exist_on_their_nodes(hc: RunContext, host_files: HostFiles) -> None:
    named = uses(hc)
    if not nic.referenced_nics(named):
        pytest.skip("not applicable: no cluster network names a NIC (no VlanConfig uplink, no legacy vlan network)")
    host_files.judge(
        nic.check_uses(named, host_files.readable()),
        "network objects naming NICs that the nodes they apply to do not have",
    )
