"""Section "NIC Naming Scheme changed after upgrading to v1.0.1", checked across any upgrade
(NIC-02): against the state recorded before it (--baseline), the networks name the same NICs, and
every NIC they named that a node had before still exists there (/sys/class/net, as NIC-01 reads
it). A baseline taken without reading the hosts cannot tell the second: the invariant is broken,
not passed, when the networks name NICs."""

from __future__ import annotations

from harvester_conformance import upgrade_state
from harvester_conformance.checks import upgrade_regression as ur
from harvester_conformance.context import RunContext
from harvester_conformance.hosts import HostFiles
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken


@invariant("NIC-02")
def test_named_nics_survive_the_upgrade(hc: RunContext, baseline: dict, host_files: HostFiles) -> None:
    if baseline.get("host_nics") is None and upgrade_state.baseline_nics(baseline):
        raise Broken(
            "the baseline recorded no host NICs (taken without a node probe), so whether the hosts "
            "still have the NICs the networks name cannot be told: take it with `snapshot --node-probe ...`"
        )
    after = upgrade_state.of_snapshot(
        hc.snapshot, hc.versions, host_files.readable(), also_nics=upgrade_state.baseline_nics(baseline)
    )
    host_files.judge(
        ur.regressions(ur.diff(baseline, after), ur.NIC),
        "NIC names the networks use changed or vanished across the upgrade",
    )
