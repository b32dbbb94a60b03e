"""Article: VM Network Slowness Due to GRO and GSO Offloading Issue
(kb/since-seed/2025-12-08_vm-slowness-issue.md)."""

from harvester_conformance.checks import cloud_init_files as cif
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# OFF-01: the CloudInit resources whose commands turn offloads off, the nodes with their labels
# and node-manager's overwrite Events in `default`. On each selected node, through the node probe
# (conftest.py): /proc/stat (boot time) and `ethtool -k` of each NIC the commands name.
READS = (
    Read(R.NODES),
    Read(R.CLOUD_INITS),
    Read(R.EVENTS, cif.EVENT_NAMESPACE),
)
