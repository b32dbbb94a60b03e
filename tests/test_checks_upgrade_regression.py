"""The state an upgrade must keep, and its diff (IPP-06, NIC-02, UPG-08): pure, no cluster."""

from __future__ import annotations

import copy

import pytest

from harvester_conformance.catalogue.releases import known
from harvester_conformance.checks import nic_naming as nic
from harvester_conformance.checks import upgrade_regression as ur

V131, V132 = known("v1.3.1"), known("v1.3.2")


def _vm(name: str, printable: str, ready: bool = False) -> dict:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "status": {"printableStatus": printable, "ready": ready},
    }


def _versions(row) -> dict:  # noqa: ANN001
    return {"harvester": row.harvester, "kubevirt": row.kubevirt, "longhorn": row.longhorn, "rke2": row.rke2}


def _state(row=V131, **over) -> dict:  # noqa: ANN001
    doc = ur.record(
        taken_at="2026-12-03T00:00:00+00:00",
        versions=_versions(row),
        vms=[_vm("web", "Running", True), _vm("db", "Stopped")],
        load_balancers=[{"metadata": {"name": "lb", "namespace": "default"}, "status": {"address": "192.0.2.130"}}],
        ip_pools=[
            {
                "metadata": {"name": "pool"},
                "status": {
                    "allocated": {"192.0.2.130": "default/lb"},
                    "allocatedHistory": {"192.0.2.131": "default/x"},
                },
            }
        ],
        settings=[
            {"metadata": {"name": "server-version"}, "value": row.harvester},
            {"metadata": {"name": "vm-force-reset-policy"}, "value": "", "default": '{"enable":true,"period":300}'},
            {"metadata": {"name": "backup-target"}, "value": '{"type":"nfs"}'},
        ],
        nic_uses=[nic.NicUse("VlanConfig vm-net", ("eno2",), ("n1", "n2"), "spec.uplink.nics")],
        host_nics={"n1": ["eno2"], "n2": ["eno2"]},
    )
    for key, value in over.items():
        doc[key] = value
    return doc


def _regressions(before: dict, after: dict) -> list[tuple[str, str]]:
    return [(c.invariant, c.object) for c in ur.diff(before, after) if not c.expected]


def test_the_same_state_has_no_change() -> None:
    assert ur.diff(_state(), _state()) == []


def test_power_states() -> None:
    assert ur.vm_power(_vm("a", "Migrating")) == "running"
    assert ur.vm_power(_vm("a", "", ready=True)) == "running"
    assert ur.vm_power(_vm("a", "")) == "stopped"
    assert ur.vm_power(_vm("a", "Paused")) == "Paused"


def test_a_vm_left_stopped_or_gone_is_a_regression_of_upg08() -> None:
    after = _state()
    after["vms"] = {"default/web": "stopped"}
    assert _regressions(_state(), after) == [
        ("UPG-08", "VirtualMachine default/db"),
        ("UPG-08", "VirtualMachine default/web"),
    ]


def test_a_new_address_or_lost_history_is_a_regression_of_ipp06() -> None:
    after = _state()
    after["load_balancers"]["default/lb"] = "192.0.2.140"
    after["ip_pools"]["pool"] = {"allocated": {"192.0.2.140": "default/lb"}, "history": {}}
    (pool, lb) = [c for c in ur.diff(_state(), after) if not c.expected]
    assert (lb.invariant, lb.object) == ("IPP-06", "LoadBalancer default/lb") and "192.0.2.140" in lb.message
    assert pool.object == "IPPool pool"
    assert "192.0.2.130 was allocated to default/lb, now not allocated" in pool.message
    assert "history entry 192.0.2.131 -> default/x lost" in pool.message


def test_an_ip_released_with_its_deleted_load_balancer_is_reported_once() -> None:
    after = _state()
    after["load_balancers"] = {}
    after["ip_pools"]["pool"] = {"allocated": {}, "history": {"192.0.2.130": "default/lb", "192.0.2.131": "default/x"}}
    assert _regressions(_state(), after) == [("IPP-06", "LoadBalancer default/lb")]


def test_a_renamed_nic_is_a_regression_of_nic02_on_the_object_and_the_host() -> None:
    after = _state()
    after["host_nics"] = {"n1": ["eno2"], "n2": []}
    assert _regressions(_state(), after) == [("NIC-02", "Node n2")]
    after["networks"]["VlanConfig vm-net"]["nics"] = ["enp3s0f1"]
    assert ("NIC-02", "VlanConfig vm-net") in _regressions(_state(), after)


def test_hosts_are_compared_only_when_both_states_read_them() -> None:
    after = _state(host_nics=None)
    assert ur.diff(_state(), after) == []


def test_settings_a_changed_value_regresses_a_changed_default_is_the_releases() -> None:
    after = _state()
    after["settings"]["backup-target"] = {"value": "", "default": ""}
    after["settings"]["vm-force-reset-policy"]["default"] = '{"enable":true,"period":15}'
    after["settings"]["new-thing"] = {"value": "", "default": "x"}
    changes = {c.object: c.expected for c in ur.diff(_state(), after)}
    assert changes == {"Setting backup-target": False, "Setting vm-force-reset-policy": True, "Setting new-thing": True}


def test_an_upgrade_to_a_known_release_expects_its_components() -> None:
    before, after = _state(V131), _state(V132)
    changes = ur.diff(before, after)
    assert [c for c in changes if not c.expected] == []
    assert {c.object for c in changes} >= {"KubeVirt harvester-system/kubevirt", "Setting server-version"}
    after["versions"]["kubevirt"] = "1.1.1-150500.8.15.1"  # the old one: virt-operator not upgraded
    assert _regressions(before, after) == [("UPG-08", "KubeVirt harvester-system/kubevirt")]


def test_a_step_too_far_and_a_component_changed_without_upgrade_regress() -> None:
    older = _state(known("v1.2.1"))
    assert ("UPG-08", "Setting server-version") in _regressions(older, _state(V132))
    after = _state()
    after["versions"]["longhorn"] = "v9.9.9"
    assert _regressions(_state(), after) == [("UPG-08", "Setting longhorn-system/current-longhorn-version")]


def test_a_file_that_is_no_state_is_refused_with_its_format() -> None:
    with pytest.raises(ur.NotAState, match="format 'x'"):
        ur.diff({"format": "x"}, _state())
    with pytest.raises(ur.NotAState, match="list"):
        ur.load([])


def test_regressions_come_first_and_per_invariant() -> None:
    after = copy.deepcopy(_state(V132))
    after["vms"]["default/web"] = "stopped"
    changes = ur.diff(_state(V131), after)
    assert not changes[0].expected and changes[-1].expected
    assert [f.object for f in ur.regressions(changes, ur.UPG)] == ["VirtualMachine default/web"]
    assert ur.regressions(changes, ur.IPP) == []
