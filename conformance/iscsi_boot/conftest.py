"""The nodes that boot from iSCSI, from the host files every node check shares."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import iscsi_boot as isc
from harvester_conformance.hosts import HostFiles, host_files  # noqa: F401 - the shared fixture


def iscsi_booted(files: HostFiles) -> tuple[dict[str, isc.Files], list[str], str]:
    """(files per read node, the iSCSI-booted nodes, a note naming the nodes not concerned);
    skipped as not applicable when no node boots from iSCSI."""
    hosts = files.readable()
    booted = isc.iscsi_nodes(hosts)
    others = isc.not_concerned(hosts)
    if not booted and not files.errors:
        pytest.skip(f"not applicable: no node boots from iSCSI (no iBFT on {', '.join(others) or 'any node'})")
    note = f" (nodes without an iBFT are not concerned: {', '.join(others)})" if others else ""
    return hosts, booted, note
