"""Section "Apply the YAML file": node-manager renders each CloudInit into /oem/<filename> on the
nodes its matchSelector selects, with the same contents, and removes it from the others; its
status.rollouts agrees (node-manager `pkg/controller/cloudinit`, v0.2.0 ... v1.8.2). Paused
CloudInits are left out: node-manager neither writes nor removes their files."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import cloud_init_files as cif
from harvester_conformance.context import RunContext
from harvester_conformance.hosts import HostFiles
from harvester_conformance.invariant import invariant

from .conftest import cloudinits_or_skip, node_labels


@invariant("CIN-01")
def test_cloudinit_files_in_sync_on_selected_nodes(hc: RunContext, host_files: HostFiles) -> None:
    items = cif.active(cloudinits_or_skip(hc))
    if not items:
        pytest.skip("not applicable: every CloudInit is paused (node-manager leaves their files alone)")
    host_files.judge(
        cif.check_rollouts(items, node_labels(hc), host_files.readable()),
        "CloudInit files missing, stale or left over under /oem",
    )
