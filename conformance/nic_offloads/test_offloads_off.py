"""Section "Solution", option 2: a CloudInit runs `ethtool -K <nic> gro off` / `gso off` at boot.
On the nodes it selects that booted since the file was rendered, each named NIC exists and
`ethtool -k` reports those offloads off (an upgrade that renamed the NIC makes the commands fail
silently). A node not booted since is pending (judged after its reboot), never a failure."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import cloud_init_files as cif
from harvester_conformance.checks import nic_offloads as off
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, advise

from .conftest import node_labels


@invariant("OFF-01")
def test_offloads_off_on_the_nics_a_cloudinit_names(request: pytest.FixtureRequest, hc: RunContext) -> None:
    items = off.offload_cloudinits(hc.snapshot.list(R.CLOUD_INITS))
    if not items:
        pytest.skip("not applicable: no active CloudInit turns NIC offloads off")
    hosts = request.getfixturevalue("offload_hosts")  # probed only where a CloudInit turns offloads off
    events = hc.snapshot.list(R.EVENTS, cif.EVENT_NAMESPACE)
    labels = node_labels(hc)
    found: list[Finding] = []
    pending: list[str] = []
    judged = 0
    files = {node: read.files for node, read in hosts.facts.items()}
    for ci in items:
        booted, waiting = cif.booted_since_render(ci, files, labels, events)
        pending += waiting
        judged += len(booted)
        for node in booted:
            found += off.check_node(ci, node, hosts.facts[node].offloads)
    what = "NICs a CloudInit turns offloads off for that are missing or still offload"
    if hosts.errors:
        what += f" (not read: {hosts.unread_note()})"
    advise(request, off.with_nodes(found), what)
    if hosts.errors:
        raise Broken(f"{len(hosts.errors)} node(s) could not be read through the node probe: {hosts.unread_note()}")
    if not judged and pending and not found:
        pytest.skip(f"pending: no selected node booted since the file was rendered: {'; '.join(pending)}")
