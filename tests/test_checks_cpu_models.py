"""Pure checks of the CPU-model article (CPU-01, CPU-02, CPU-05), no cluster."""

from __future__ import annotations

from harvester_conformance.checks import cpu_models as cm
from harvester_conformance.checks import node_cpu_labels as ncl


def node(name: str, host: str = "Cascadelake-Server", models: tuple[str, ...] = ("IvyBridge",), **extra) -> dict:
    labels = {ncl.CPU_MODEL + m: "true" for m in models}
    labels[ncl.HOST_MODEL_CPU + host] = "true"
    labels.update(extra.pop("labels", {}))
    return {"metadata": {"name": name, "labels": labels}, "spec": extra}


def kubevirt(model: str | None) -> dict:
    conf = {"cpuModel": model} if model else {}
    return {"metadata": {"name": "kubevirt", "namespace": "harvester-system"}, "spec": {"configuration": conf}}


def vm(name: str, model: str | None) -> dict:
    cpu = {"cores": 1, **({"model": model} if model else {})}
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"template": {"spec": {"domain": {"cpu": cpu}}}},
    }


def vmi(name: str, model: str | None, migratable: bool = True, node_name: str = "n0") -> dict:
    cond = {"type": "LiveMigratable", "status": "True" if migratable else "False"}
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"domain": {"cpu": {"model": model} if model else {}}},
        "status": {"phase": "Running", "nodeName": node_name, "conditions": [cond]},
    }


def test_applicability_needs_two_schedulable_non_witness_nodes() -> None:
    witness = node("w", labels={ncl.WITNESS_LABEL: "true"})
    assert ncl.not_applicable([node("n0"), witness])
    assert ncl.not_applicable([node("n0"), node("n1", unschedulable=True)])
    assert ncl.not_applicable([node("n0"), node("n1")]) is None


def test_cluster_model_unset_or_host_mode_holds() -> None:
    nodes = [node("n0"), node("n1", models=())]
    assert cm.check_cluster_model(kubevirt(None), nodes) is None
    assert cm.check_cluster_model(kubevirt("host-model"), nodes) is None
    assert cm.check_cluster_model(kubevirt("host-passthrough"), nodes) is None


def test_cluster_model_missing_on_a_node_names_the_cr_and_node() -> None:
    nodes = [node("n0"), node("n1", models=("Haswell",)), node("w", models=(), labels={ncl.WITNESS_LABEL: "true"})]
    f = cm.check_cluster_model(kubevirt("IvyBridge"), nodes)
    assert f is not None and f.object == "KubeVirt harvester-system/kubevirt"
    assert "n1" in f.message and "w" not in f.message.split("advertised by")[0]
    assert cm.check_cluster_model(kubevirt("IvyBridge"), [node("n0"), node("n1")]) is None


def test_vm_models_name_the_vm_not_its_vmi() -> None:
    nodes = [node("n0", models=("IvyBridge", "Skylake-Server")), node("n1")]
    vms = [vm("a", "Skylake-Server"), vm("b", None), vm("c", "IvyBridge"), vm("d", "host-passthrough")]
    vmis = [vmi("a", "Skylake-Server"), vmi("e", "Skylake-Server"), vmi("b", "host-model")]
    found = cm.check_vm_models(vms, vmis, nodes)
    assert [f.object for f in found] == ["VirtualMachine default/a", "VirtualMachineInstance default/e"]
    assert "n1" in found[0].message and "advertised by n0" in found[0].message


def test_common_model_passes_with_one_host_model() -> None:
    nodes = [node("n0"), node("n1")]
    assert cm.check_common_model([vmi("a", "host-model")], nodes, kubevirt(None)) == []


def test_common_model_with_mixed_hosts() -> None:
    nodes = [node("n0"), node("n1", host="Icelake-Server"), node("n2", labels={})]
    vmis = [
        vmi("a", "host-model"),
        vmi("b", None),  # defaulted like virt-api would
        vmi("c", "Cascadelake-Server"),
        vmi("d", "Cascadelake-Server"),
        vmi("e", "IvyBridge"),
        vmi("f", "host-passthrough", migratable=False),
    ]
    found = {f.object: f.message for f in cm.check_common_model(vmis, nodes, kubevirt(None))}
    assert set(found) == {f"VirtualMachineInstance default/{n}" for n in "abe"}
    assert "Icelake-Server on n1" in found["VirtualMachineInstance default/a"]
    assert "'Cascadelake-Server'" in found["VirtualMachineInstance default/e"]
    # a cluster-wide model is what an unset VMI runs with
    assert "VirtualMachineInstance default/b" not in {
        f.object for f in cm.check_common_model(vmis, nodes, kubevirt("Cascadelake-Server"))
    }
