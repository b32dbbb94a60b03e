"""Pure checks of the node-selector article (CPU-03, CPU-04), no cluster."""

from __future__ import annotations

from harvester_conformance.checks import migration_node_selectors as mns
from harvester_conformance.checks import node_cpu_labels as ncl

MIG = ncl.CPU_MODEL_MIGRATION + "SierraForest"
FPU, VME = ncl.CPU_FEATURE + "fpu", ncl.CPU_FEATURE + "vme"


def node(name: str, *keys: str, annotations: dict | None = None, **spec) -> dict:
    meta = {"name": name, "labels": {k: "true" for k in keys}, "annotations": annotations or {}}
    return {"metadata": meta, "spec": spec}


def vmi(name: str, node_name: str, migratable: bool = True) -> dict:
    cond = {"type": "LiveMigratable", "status": "True" if migratable else "False"}
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "status": {"phase": "Running", "nodeName": node_name, "conditions": [cond]},
    }


def pod(vmi_name: str, node_name: str, selector: dict, phase: str = "Running") -> dict:
    labels = {"kubevirt.io": "virt-launcher", "kubevirt.io/created-by": f"uid-{vmi_name}"}
    return {
        "metadata": {"name": f"virt-launcher-{vmi_name}-x", "namespace": "default", "labels": labels},
        "spec": {"nodeName": node_name, "nodeSelector": {"kubevirt.io/schedulable": "true", **selector}},
        "status": {"phase": phase},
    }


def test_the_articles_example() -> None:
    """Node A has fpu and vme, node B only vme: a VMI on A pinned to fpu has nowhere to go."""
    nodes = [node("a", MIG, FPU, VME), node("b", MIG, VME)]
    sel = {MIG: "true", FPU: "true", VME: "true"}
    found = mns.check_launcher_selectors([vmi("vm1", "a")], [pod("vm1", "a", sel)], nodes)
    assert [f.object for f in found] == ["VirtualMachineInstance default/vm1"]
    assert "b lacks cpu-feature.node.kubevirt.io/fpu" in found[0].message
    # with a third node offering everything, it can move
    assert (
        mns.check_launcher_selectors([vmi("vm1", "a")], [pod("vm1", "a", sel)], [*nodes, node("c", MIG, FPU, VME)])
        == []
    )


def test_only_migratable_running_vmis_with_cpu_selectors_count() -> None:
    nodes = [node("a", MIG, FPU), node("b")]
    sel = {MIG: "true", FPU: "true"}
    assert mns.check_launcher_selectors([vmi("vm1", "a", migratable=False)], [pod("vm1", "a", sel)], nodes) == []
    assert mns.check_launcher_selectors([vmi("vm1", "a")], [pod("vm1", "a", {"other": "x"})], nodes) == []


def test_cordoned_and_witness_nodes_are_no_target() -> None:
    sel = {ncl.CPU_MODEL + "IvyBridge": "true"}
    key = ncl.CPU_MODEL + "IvyBridge"
    nodes = [node("a", key), node("b", key, unschedulable=True), node("c", key, ncl.WITNESS_LABEL)]
    nodes[2]["metadata"]["labels"][ncl.WITNESS_LABEL] = "true"
    found = mns.check_launcher_selectors([vmi("vm1", "a")], [pod("vm1", "a", sel)], nodes)
    assert found == []  # no other schedulable node at all: nothing to compare (not applicable upstream)
    nodes.append(node("d"))
    assert len(mns.check_launcher_selectors([vmi("vm1", "a")], [pod("vm1", "a", sel)], nodes)) == 1


def test_launcher_is_the_pod_on_the_vmi_node() -> None:
    nodes = [node("a", MIG), node("b", MIG)]
    target = pod("vm1", "b", {MIG: "true", FPU: "true"}, phase="Pending")
    assert mns.check_launcher_selectors([vmi("vm1", "a")], [pod("vm1", "a", {MIG: "true"}), target], nodes) == []


def test_frozen_nodes_are_reported_whatever_the_value() -> None:
    nodes = [
        node("a", ncl.HOST_MODEL_CPU + "Cascadelake-Server", annotations={ncl.SKIP_NODE: "true"}),
        node("b", annotations={ncl.SKIP_NODE: ""}),
        node("c"),
    ]
    found = mns.check_frozen_nodes(nodes)
    assert [f.object for f in found] == ["Node a", "Node b"]
    assert "Cascadelake-Server" in found[0].message
