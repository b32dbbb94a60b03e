"""Article: Scan and Repair Root Filesystem of VirtualMachine (kb/scan-and-repair-vm-root-filesystem.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# FSR-01 reads the server-version setting (also a core read of every run).
READS = (Read(R.HARVESTER_SETTINGS),)
