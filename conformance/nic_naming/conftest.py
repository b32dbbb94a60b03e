"""The host files every node check shares."""

from harvester_conformance.hosts import host_files  # noqa: F401 - the shared fixture
