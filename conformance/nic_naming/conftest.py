"""The host files every node check shares; NIC-02's baseline."""

from harvester_conformance.hosts import host_files  # noqa: F401 - the shared fixture
from harvester_conformance.upgrade_baseline import baseline  # noqa: F401 - the shared fixture
