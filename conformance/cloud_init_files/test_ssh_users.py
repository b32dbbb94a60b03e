"""Section "Create cloud-init.yaml": a CloudInit that creates users starts with `#cloud-config` and
puts each user in the admin group; "Reboot Harvester nodes": on the nodes it selects that booted
since the file was rendered, the users exist. A node not booted since is pending (judged after its
reboot), never a failure."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import cloud_init_files as cif
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.hosts import HostFiles
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, advise

from .conftest import cloudinits_or_skip, node_labels


@invariant("CIN-02")
def test_ssh_user_cloudinits_are_cloud_config_with_admin_users(
    request: pytest.FixtureRequest, hc: RunContext, host_files: HostFiles
) -> None:
    items = [ci for ci in cloudinits_or_skip(hc) if cif.creates_users(ci)]
    if not items:
        pytest.skip("not applicable: no CloudInit creates users")
    events = hc.snapshot.list(R.EVENTS, cif.EVENT_NAMESPACE)
    labels = node_labels(hc)
    found: list[Finding | None] = [f for ci in items for f in cif.check_user_contents(ci)]
    pending: list[str] = []
    judged = 0
    readable = host_files.readable()
    for ci in cif.active(items):
        booted, waiting = cif.booted_since_render(ci, readable, labels, events)
        pending += waiting
        judged += len(booted)
        found += [cif.check_users_exist(ci, node, readable[node]) for node in booted]
    what = "CloudInits creating users that are not #cloud-config, not admins, or missing after a reboot"
    if host_files.errors:
        what += f" (not read: {host_files.unread_note()})"
    advise(request, found, what)
    if host_files.errors:
        raise Broken(
            f"{len(host_files.errors)} node(s) could not be read through the node probe: {host_files.unread_note()}"
        )
    if not judged and pending and not any(found):
        pytest.skip(f"pending: no selected node booted since the file was rendered: {'; '.join(pending)}")
