"""Article: Handling Disks That Don't Appear in the Harvester GUI
(kb/since-seed/2025-07-09_handle_disks_without_wwns.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# DSK-01: node-disk-manager's BlockDevices (in longhorn-system): WWN, provisioning and provisioner.
READS = (Read(R.BLOCK_DEVICES),)
