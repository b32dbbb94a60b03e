"""Section "4. On first boot, edit kernel boot parameters in the GRUB kernel command line": a node
the firmware booted from iSCSI (iBFT present) runs with both iSCSI arguments; nodes without an
iBFT pass, and with none at all the invariant is not applicable."""

from __future__ import annotations

from harvester_conformance.checks import iscsi_boot as isc
from harvester_conformance.hosts import HostFiles
from harvester_conformance.invariant import invariant

from .conftest import iscsi_booted


@invariant("ISC-01")
def test_iscsi_booted_node_runs_with_the_iscsi_arguments(host_files: HostFiles) -> None:
    hosts, booted, note = iscsi_booted(host_files)
    host_files.judge(
        [isc.check_running_args(n, hosts[n]) for n in booted],
        f"iSCSI-booted nodes running without {' '.join(isc.ISCSI_ARGS)}{note}",
    )
