"""Section "How to avoid the random connectivity issues": one default route per multi-NIC VM."""

from __future__ import annotations

from harvester_conformance.checks import multi_nic_vms as mn
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("MNC-01")
def test_multi_nic_vms_have_one_default_route(hc: RunContext) -> None:
    findings = []
    for vm in hc.snapshot.list(R.VMS):
        if len(mn.interfaces(vm)) < 2:
            continue
        source = mn.network_data_source(vm)
        secret = None
        if source is not None and source.secret is not None:
            secret = hc.snapshot.get(R.SECRETS, source.secret, vm["metadata"].get("namespace"))
        findings.append(mn.check_vm(vm, secret))
    require(findings, "multi-NIC VMs whose cloud-init gives more than one NIC a default route")
