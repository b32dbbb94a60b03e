"""Sections "Set Up Cluster-Wide Configuration", "Choosing a CPU Model for Live Migration" and
"Understanding CPU Model Options in Harvester": the model VMs get must be one every node offers,
and a cluster of mixed CPU generations gives its migratable VMs one named model (KV
`setDefaultCPUModel`, `nodeselectorrenderer.go`, node labeller; v0.54.0 … v1.7.4). Not applicable
with fewer than two schedulable non-witness nodes."""

from __future__ import annotations

import pytest

from conformance.cpu_node_fixtures import cpu_nodes
from harvester_conformance.checks import cpu_models as cm
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise, require

KV_NS = "harvester-system"


def _kubevirt(hc: RunContext) -> dict | None:
    return next(iter(hc.snapshot.list(R.KUBEVIRTS, KV_NS)), None)


@invariant("CPU-01")
def test_cluster_wide_cpu_model_is_on_every_node(hc: RunContext) -> None:
    nodes = cpu_nodes(hc)
    require(
        [cm.check_cluster_model(_kubevirt(hc), nodes)],
        "the KubeVirt CR's cluster-wide cpuModel is not offered by every schedulable node",
    )


@invariant("CPU-02")
def test_vm_cpu_models_are_on_every_node(hc: RunContext, request: pytest.FixtureRequest) -> None:
    nodes = cpu_nodes(hc)
    snap = hc.snapshot
    advise(
        request,
        cm.check_vm_models(snap.list(R.VMS), snap.list(R.VMIS), nodes),
        "VMs use a CPU model that not every schedulable node offers",
    )


@invariant("CPU-05")
def test_mixed_hosts_use_one_named_model(hc: RunContext, request: pytest.FixtureRequest) -> None:
    nodes = cpu_nodes(hc)
    advise(
        request,
        cm.check_common_model(hc.snapshot.list(R.VMIS), nodes, _kubevirt(hc)),
        "nodes report different host-model CPUs and migratable VMs do not share one named CPU model",
    )
