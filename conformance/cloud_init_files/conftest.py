"""The CloudInits and node labels both invariants read, from the host files every node check shares."""

from __future__ import annotations

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.hosts import host_files  # noqa: F401 - the shared fixture


def cloudinits_or_skip(hc: RunContext) -> list[dict]:
    """Every CloudInit; skipped as not applicable when there is none."""
    items = hc.snapshot.list(R.CLOUD_INITS)
    if not items:
        pytest.skip("not applicable: no CloudInit resources (the CloudInit API is served from Harvester v1.3.0)")
    return items


def node_labels(hc: RunContext) -> dict[str, dict[str, str]]:
    return {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in hc.snapshot.list(R.NODES)}
