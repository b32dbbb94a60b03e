"""Sections "Issue" and "Solutions": the CPU node selectors KubeVirt pinned on a migratable VM's
virt-launcher pod must leave it somewhere to go, and nodes whose labels were frozen with
`node-labeller.kubevirt.io/skip-node` are reported (KV migration.go
`prepareNodeSelectorForHostCpuModel`, node labeller `skipNodeLabelling`; v0.54.0 … v1.7.4). Not
applicable with fewer than two schedulable non-witness nodes."""

from __future__ import annotations

import pytest

from conformance.cpu_node_fixtures import cpu_nodes
from harvester_conformance.checks import migration_node_selectors as mns
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise


@invariant("CPU-03")
def test_migratable_vmis_have_a_target_for_their_cpu_selectors(hc: RunContext, request: pytest.FixtureRequest) -> None:
    nodes = cpu_nodes(hc)
    snap = hc.snapshot
    advise(
        request,
        mns.check_launcher_selectors(snap.list(R.VMIS), snap.list(R.PODS), nodes),
        "migratable VMs whose launcher CPU node selectors no other schedulable node satisfies",
    )


@invariant("CPU-04")
def test_frozen_cpu_labels_are_reported(hc: RunContext, request: pytest.FixtureRequest) -> None:
    advise(
        request,
        mns.check_frozen_nodes(cpu_nodes(hc)),
        "nodes whose KubeVirt CPU labels are frozen (the node labeller skips them)",
    )
