"""Section "Install Harvester Cluster": a host that runs Rook keeps /var/lib/rook and /var/lib/ceph
on persistent storage and loads the rbd and nbd modules, now and after its next boot (the
install configuration's os.persistent_state_paths and os.modules, as the host's /oem shows them).
A cluster where no host runs Rook holds it trivially."""

from __future__ import annotations

from harvester_conformance.checks import rook_ceph as rc
from harvester_conformance.invariant import invariant
from harvester_conformance.probes.survey import Survey


@invariant("CSI-05")
def test_rook_hosts_keep_state_and_load_rbd_nbd(rook_hosts: Survey[rc.RookHost | None]) -> None:
    rook_hosts.judge(
        [rc.check_rook_host(h) for h in rook_hosts.facts.values() if h is not None],
        "hosts running Rook are not prepared as the article says",
    )
