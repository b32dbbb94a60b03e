"""What the two CPU articles' packages share (cpu_models, migration_node_selectors): the nodes,
or a skip where fewer than two schedulable non-witness nodes make the checks not applicable."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import node_cpu_labels as ncl
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext


def cpu_nodes(hc: RunContext) -> list[dict]:
    nodes = hc.snapshot.list(R.NODES)
    why = ncl.not_applicable(nodes)
    if why:
        pytest.skip(f"not applicable: {why}")
    return nodes
