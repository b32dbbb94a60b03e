"""IPP-06 compares with the state recorded before the upgrade."""

from harvester_conformance.upgrade_baseline import baseline, upgrade_changes  # noqa: F401 - shared fixtures
