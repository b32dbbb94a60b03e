"""MNC-01 without a cluster: default routes in cloud-init network data, inline or in a Secret."""

from __future__ import annotations

import base64

import yaml

from harvester_conformance.checks import multi_nic_vms as mn


def _v1(*subnets: dict) -> str:
    config = [{"type": "physical", "name": f"eth{i}", "subnets": [s]} for i, s in enumerate(subnets)]
    return yaml.safe_dump({"network": {"version": 1, "config": config}})


def _vm(nics: int, ci: dict) -> dict:
    interfaces = [{"name": f"nic{i}"} for i in range(nics)]
    spec = {"domain": {"devices": {"interfaces": interfaces}}, "volumes": [{"name": "ci", "cloudInitNoCloud": ci}]}
    return {"metadata": {"name": "vm-1", "namespace": "default"}, "spec": {"template": {"spec": spec}}}


STATIC = {"type": "static", "address": "10.0.0.100/24"}


def test_one_dhcp_nic_passes_two_fail() -> None:
    """The article: DHCP on both NICs gives two default routes; the secondary NIC goes static."""
    assert mn.check_vm(_vm(2, {"networkData": _v1({"type": "dhcp"}, STATIC)})) is None
    bad = mn.check_vm(_vm(2, {"networkData": _v1({"type": "dhcp"}, {"type": "dhcp"})}))
    assert bad is not None and bad.object == "VirtualMachine default/vm-1" and "eth0, eth1" in bad.message


def test_single_nic_is_out_of_scope_and_static_gateway_counts() -> None:
    assert mn.check_vm(_vm(1, {"networkData": _v1({"type": "dhcp"}, {"type": "dhcp"})})) is None
    gw = {**STATIC, "gateway": "10.0.0.1"}
    assert mn.check_vm(_vm(2, {"networkData": _v1({"type": "dhcp"}, gw)})) is not None


def test_version_2_and_route_overrides() -> None:
    v2 = {"version": 2, "ethernets": {"eth0": {"dhcp4": True}, "eth1": {"dhcp4": True}}}
    assert mn.check_vm(_vm(2, {"networkData": yaml.safe_dump(v2)})) is not None
    v2["ethernets"]["eth1"]["dhcp4-overrides"] = {"use-routes": False}
    assert mn.check_vm(_vm(2, {"networkData": yaml.safe_dump(v2)})) is None


def test_network_data_from_the_referenced_secret_and_base64() -> None:
    """kubevirt pkg/cloud-init/cloud-init.go: networkDataSecretRef, keys networkdata/networkData;
    the snapshot keeps them decoded under `decoded` (cluster/sanitize.py)."""
    vm = _vm(2, {"networkDataSecretRef": {"name": "vm-1-ci"}, "secretRef": {"name": "vm-1-ci"}})
    secret = {"metadata": {"name": "vm-1-ci"}, "decoded": {"networkdata": _v1({"type": "dhcp"}, {"type": "dhcp"})}}
    found = mn.check_vm(vm, secret)
    assert found is not None and "Secret default/vm-1-ci" in found.message
    missing = mn.check_vm(vm, None)
    assert missing is not None and "does not exist" in missing.message
    encoded = base64.b64encode(_v1({"type": "dhcp"}, {"type": "dhcp"}).encode()).decode()
    assert mn.check_vm(_vm(2, {"networkDataBase64": encoded})) is not None


def test_unparsable_network_data_fails_without_quoting_it() -> None:
    found = mn.check_vm(_vm(2, {"networkData": "network: [unclosed"}))
    assert found is not None and "unclosed" not in found.message
