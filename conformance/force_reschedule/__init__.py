"""Article: Force Reschedule Non-Ready Virtual Machines During Node Outage
(kb/since-seed/2025-09-08_force_reschedule_non_ready_virtual_machines_during_node_outage.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# FRS-01 reads the vm-force-reset-policy setting (settings are also a core read of every run).
READS = (Read(R.HARVESTER_SETTINGS),)
