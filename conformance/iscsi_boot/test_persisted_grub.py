"""Section "5. Permanently edit the GRUB configuration file": on a node booted from iSCSI, every
menuentry of the persisted grub.cfg carries both arguments, so that they survive reboots (an
upgrade rewrites the file without them: re-run after each upgrade). A node that runs without the
arguments is ISC-01's finding; its persisted file is judged once it boots as the article says."""

from __future__ import annotations

from harvester_conformance.checks import iscsi_boot as isc
from harvester_conformance.hosts import HostFiles
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken

from .conftest import iscsi_booted


@invariant("ISC-02")
def test_every_grub_entry_keeps_the_iscsi_arguments(host_files: HostFiles) -> None:
    hosts, booted, note = iscsi_booted(host_files)
    running_without = [n for n in booted if isc.check_running_args(n, hosts[n])]
    judged = [n for n in booted if n not in running_without]
    if running_without:
        note += f" (not judged, running without the arguments: {', '.join(running_without)})"
    host_files.judge(
        [isc.check_persisted_args(n, hosts[n]) for n in judged],
        f"iSCSI-booted nodes whose persisted GRUB entries lack {' '.join(isc.ISCSI_ARGS)}{note}",
    )
    if running_without:
        raise Broken(
            f"{', '.join(running_without)} boot(s) from iSCSI and run(s) without the iSCSI arguments: ISC-01's "
            "finding; the persisted GRUB configuration is judged once the node boots with them",
            prerequisite="ISC-01",
        )
