"""Article: Configuring Harvester to Boot from an iSCSI Root Disk in Special Circumstances
(kb/install_iscsi_firmware_install_boot.md)."""

from harvester_conformance.checks import iscsi_boot as isc
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# The nodes (a core read) to probe; on each, the iBFT, the running kernel command line and the
# persisted GRUB configuration (read once per run through the node probe: harvester_conformance.hosts).
READS = (Read(R.NODES),)
HOST_PATHS = isc.HOST_PATHS
