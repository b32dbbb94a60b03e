"""Pure checks of the vm-scheduling article (no cluster): overcommit setting, mutator arithmetic,
scheduler-score model, spread."""

from __future__ import annotations

import json

import pytest

from conformance.vm_scheduling.tables import ARTICLE_SLIPS, SCORED, scored_cells
from harvester_conformance.checks import vm_scheduling as vs

GI = 1 << 30


def _setting(value: str = "", default: str = '{"cpu":1600,"memory":150,"storage":200}') -> dict:
    return {"metadata": {"name": vs.SETTING}, "value": value, "default": default}


def _vm(cpu: str = "1", memory: str = "1Gi", requests: dict | None = None, **extra: object) -> dict:
    domain: dict = {"resources": {"limits": {"cpu": cpu, "memory": memory}}, "devices": {}}
    if requests is not None:
        domain["resources"]["requests"] = requests
    domain.update(extra.pop("domain", {}))  # type: ignore[arg-type]
    meta = {"name": "vm", "namespace": "default", "annotations": extra.pop("annotations", {})}
    return {"metadata": meta, "spec": {"template": {"spec": {"domain": domain}}}}


V131 = vs.Rules((1, 3, 1), None)
DEFAULT = vs.Overcommit(1600, 150, 200, "default")


# -- SCH-01 -----------------------------------------------------------------------------------------
def test_default_setting_parses() -> None:
    """harvester/harvester pkg/settings/settings.go @v1.3.1: default {"cpu":1600,"memory":150,"storage":200}."""
    got, problems = vs.parse_overcommit(_setting())
    assert problems == [] and got == DEFAULT
    assert vs.check_overcommit(_setting(), (1, 3, 1)) is None


@pytest.mark.parametrize(
    "value,fragment",
    [
        ('{"cpu":50,"memory":150,"storage":200}', "cpu is 50: under 100"),
        ('{"cpu":1600,"memory":150}', "storage is 0 (missing)"),
        ('{"cpu":"1600","memory":150,"storage":200}', "not an integer"),
        ('{"cpu":1600.5,"memory":150,"storage":200}', "not an integer"),
        ('{"cpu": 1600,', "not JSON"),
        ("[1600]", "JSON list"),
    ],
)
def test_setting_problems(value: str, fragment: str) -> None:
    """pkg/webhook/resources/setting/validator.go: each of cpu, memory, storage >= 100 ("Cannot
    undercommit"); Go's encoding/json refuses strings and fractions for int fields."""
    finding = vs.check_overcommit(_setting(value), (1, 3, 1))
    assert finding is not None and finding.object == "Setting overcommit-config" and fragment in finding.message


def test_keys_are_matched_case_insensitively_and_default_is_versioned() -> None:
    got, _ = vs.parse_overcommit(_setting('{"CPU":200,"Memory":100,"storage":100}'))
    assert got == vs.Overcommit(200, 100, 100, "value")
    assert vs.default_overcommit((1, 8, 0)) == {"cpu": 1000, "memory": 150, "storage": 100}
    assert vs.parse_overcommit(None)[0] is None


# -- SCH-02 -----------------------------------------------------------------------------------------
def test_article_example_1_cpu_at_1600_is_62m() -> None:
    """mutator.go: cpu milli x 100 / cpu%; memory x 100 / memory% truncated to MiB (facts §15.2)."""
    assert vs.expected_requests(_vm(), (1600, 150), V131) == {"cpu": 62, "memory": 715128832}
    assert vs.expected_requests(_vm("4", "8Gi"), (1600, 150), V131) == {"cpu": 250, "memory": 5461 * vs.MIB}


def test_mutated_vm_passes_and_unmutated_fails() -> None:
    ok = _vm(requests={"cpu": "62m", "memory": "682Mi"})
    assert vs.check_vm_requests(ok, DEFAULT, V131) == vs.RequestsVerdict()
    bad = vs.check_vm_requests(_vm(requests={"cpu": "1", "memory": "1Gi"}), DEFAULT, V131, [(1000, 150)])
    assert bad.failed is not None and "mutator did not run" in bad.failed.message
    assert bad.failed.object == "VirtualMachine default/vm"


def test_requests_of_an_earlier_ratio_are_drift() -> None:
    """mutator.go needUpdateResourceOvercommit (v1.4.3): requests are recomputed only when limits,
    the reservedMemory annotation, dedicated CPU or host devices change (facts §17.2)."""
    old = _vm(requests={"cpu": "62m", "memory": "682Mi"})
    now = vs.Overcommit(1000, 150, 100, "value")
    verdict = vs.check_vm_requests(old, now, V131, [(1600, 150), (1000, 150)])
    assert verdict.failed is None and verdict.drift is not None
    assert "cpu 1600%" in verdict.drift.message and "cpu 1000%" in verdict.drift.message


def test_operator_requests_without_a_limit_are_kept() -> None:
    """patchResourceOvercommit touches a request only when its limit is set."""
    vm = _vm(requests={"cpu": "3", "memory": "682Mi"})
    del vm["spec"]["template"]["spec"]["domain"]["resources"]["limits"]["cpu"]
    assert vs.check_vm_requests(vm, DEFAULT, V131).failed is None


def test_dedicated_cpu_and_host_devices_by_version() -> None:
    """mutator.go: dedicated CPU keeps requests = limits from v1.4.0; host devices and GPUs get
    memory request = guest memory from v1.3.0; the overhead ratio ("0" unset) replaces the 100Mi
    reservation from v1.4.0 (facts §15.2, §17.1)."""
    dedicated = _vm(domain={"cpu": {"dedicatedCpuPlacement": True}})
    assert vs.expected_requests(dedicated, (1600, 150), vs.Rules((1, 4, 0), None)) == {"cpu": 1000, "memory": GI}
    assert vs.expected_requests(dedicated, (1600, 150), V131)["cpu"] == 62
    gpu = _vm(domain={"devices": {"gpus": [{"name": "g", "deviceName": "nvidia"}]}})
    assert vs.expected_requests(gpu, (1600, 150), V131)["memory"] == GI - 100 * vs.MIB
    assert vs.expected_requests(gpu, (1600, 150), vs.Rules((1, 2, 1), None))["memory"] == 715128832
    assert vs.expected_requests(gpu, (1600, 150), vs.Rules((1, 4, 3), "1.5"))["memory"] == GI
    assert vs.expected_requests(gpu, (1600, 150), vs.Rules((1, 4, 3), "0"))["memory"] == GI - 100 * vs.MIB
    gpu["metadata"]["annotations"] = {vs.RESERVED_MEMORY_ANNOTATION: "256Mi"}
    assert vs.expected_requests(gpu, (1600, 150), vs.Rules((1, 4, 3), "1.5"))["memory"] == GI - 256 * vs.MIB


def test_launcher_pod_adds_overhead_to_the_vmi_requests() -> None:
    vmi = {
        "metadata": {"name": "vm", "namespace": "default"},
        "spec": {"domain": {"resources": {"requests": {"cpu": "62m", "memory": "682Mi"}}}},
    }

    def pod(cpu: str, memory: str) -> dict:
        container = {"name": "compute", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
        return {"metadata": {"name": "virt-launcher-vm-x", "namespace": "default"}, "spec": {"containers": [container]}}

    assert vs.check_launcher_pod(pod("62m", str(715128832 + 179 * vs.MIB)), vmi) is None
    bad = vs.check_launcher_pod(pod("1", "682Mi"), vmi)
    assert bad is not None and bad.object == "Pod default/virt-launcher-vm-x" and "plus overhead" in bad.message


def test_quantities() -> None:
    assert vs.milli("62m") == 62 and vs.milli("1.5") == 1500 and vs.whole("1Gi") == GI and vs.whole("1k") == 1000
    with pytest.raises(ValueError):
        vs.quantity("lots")


# -- SCH-03 -----------------------------------------------------------------------------------------
def test_model_reproduces_tables_1_to_4() -> None:
    """kubernetes v1.21 noderesources/least_allocated.go and balanced_allocation.go (facts §15.1):
    every BalancedAllocation, LeastAllocated and Total of Tables 1-3 and every Total of Table 4."""
    cells = scored_cells()
    assert len(cells) == 15 * 3 + 36
    assert [c for c in cells if c[1] != c[2]] == []


def test_article_slip_in_table_3_is_named() -> None:
    """Table 3 prints 1000358 for VM 1 on node-1; its inputs are Table 1's, whose total is 1000433."""
    cpu, mem, *_ = SCORED[("Table 3", "VM 1", "harvester-node-1")]
    model = vs.total_score_121(vs.NodeLoad(6000, 16776437760, cpu, mem))
    assert model == SCORED[("Table 1", "VM", "harvester-node-1")][4] == 1000433
    assert list(ARTICLE_SLIPS.values()) == [1000358]


def test_current_scorer_differs_from_1_21() -> None:
    """From Kubernetes 1.22 (PR kubernetes#101946) BalancedAllocation uses the standard deviation."""
    n = vs.NodeLoad(6000, 16776437760, 5560, 6352273408)
    assert vs.balanced_allocation(n, (1, 21)) == 45
    assert vs.balanced_allocation(n, (1, 27)) == 72


# -- SCH-04 -----------------------------------------------------------------------------------------
def _vmi(name: str, node: str, anti: bool = True) -> dict:
    spec: dict = {}
    if anti:
        term = {"podAffinityTerm": {"topologyKey": vs.HOSTNAME, "labelSelector": {}}, "weight": 100}
        spec["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term]}}
    meta = {"name": name, "namespace": "default"}
    return {"metadata": meta, "spec": spec, "status": {"phase": "Running", "nodeName": node}}


def test_spread_flags_a_crowded_node_without_anti_affinity() -> None:
    nodes = ["n0", "n1", "n2"]
    even = [_vmi(f"a{i}", nodes[i % 3]) for i in range(21)]
    assert vs.check_spread(nodes, even) == []
    pinned = [_vmi(f"p{i}", "n0", anti=False) for i in range(6)]
    found = vs.check_spread(nodes, even + pinned, {"n0": "why"})
    assert [f.object for f in found] == ["Node n0"]
    assert "skew 6 > bound 3" in found[0].message and "default/p0" in found[0].message and "why" in found[0].message
    # Crowded only by VMs that carry the rule: reported as spread, not flagged.
    assert vs.check_spread(nodes, even + [_vmi(f"q{i}", "n0") for i in range(6)]) == []


def test_explain_placement_uses_the_current_scorer() -> None:
    text = vs.explain_placement({"n0": (6000, 16 * GI, 1000, 2 * GI)}, (62, 894783488), (1, 27))["n0"]
    assert "LeastAllocated" in text and "1.27" in text
    assert json.dumps(text)
