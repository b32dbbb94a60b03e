"""Article: How to create an SSH user for Harvester nodes
(kb/since-seed/2025-09-16_how_to_create_ssh_user.md)."""

from harvester_conformance.checks import cloud_init_files as cif
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read
from harvester_conformance.context import RunContext

# CIN-01/02: the CloudInit resources (cluster-scoped; an empty list before v1.3.0, where the API is
# not served), the nodes with their labels (matchSelector) and node-manager's overwrite Events in
# `default` (when a file was last rewritten). On every node, through the node probe, the files the
# CloudInits render to, /proc/stat (boot time) and /etc/passwd (user names only are kept).
READS = (
    Read(R.NODES),
    Read(R.CLOUD_INITS),
    Read(R.EVENTS, cif.EVENT_NAMESPACE),
)


def HOST_PATHS(hc: RunContext) -> list[str]:
    """/oem/<filename> of every CloudInit, the boot time and the local users, on every node."""
    return [*cif.oem_paths(hc.snapshot.list(R.CLOUD_INITS)), cif.PROC_STAT, cif.USERS_FILE]
