"""NIC-01 without a cluster: which nodes each network object's NICs must exist on (NC's
VlanConfig mutator and agent, the v1.0.x ClusterNetwork/NodeNetwork of the article), and the
sysfs files that say whether a host has them."""

from __future__ import annotations

import json

import pytest

from harvester_conformance.checks import nic_naming as nic


def node(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}}


NODES = [node("n0", zone="a"), node("n1", zone="a"), node("n2", zone="b")]


def vc(name: str, nics: list[str], selector: dict | None = None, matched: list[str] | None = None) -> dict:
    meta: dict = {"name": name}
    if matched is not None:
        meta["annotations"] = {nic.MATCHED_NODES: json.dumps(matched)}
    return {"metadata": meta, "spec": {"clusterNetwork": "vm-net", "nodeSelector": selector, "uplink": {"nics": nics}}}


def vs(vc_name: str, node_name: str) -> dict:
    return {"metadata": {"name": f"vm-net-{node_name}-0"}, "status": {"vlanConfig": vc_name, "node": node_name}}


def hosts(**links: list[str]) -> dict[str, dict[str, bytes | None]]:
    """node -> the sysfs ifindex files of its links, for every NIC the tests name."""
    names = ["eno1", "eno2", "eno9", "enp3s0f1"]
    return {n: {nic.ifindex_path(x): (b"3\n" if x in have else None) for x in names} for n, have in links.items()}


def test_empty_selector_applies_to_every_node() -> None:
    [use] = nic.vlan_config_uses([vc("vm-net-vc", ["eno2"], {})], [], NODES)
    assert use == nic.NicUse("VlanConfig vm-net-vc", ("eno2",), ("n0", "n1", "n2"), "spec.uplink.nics")


def test_selector_annotation_and_status_add_up_to_existing_nodes() -> None:
    config = vc("zone-a", ["eno2"], {"zone": "a"}, matched=["n0", "gone"])
    [use] = nic.vlan_config_uses([config], [vs("zone-a", "n2"), vs("other", "n1")], NODES)
    assert use.nodes == ("n0", "n1", "n2")  # n2 from its VlanStatus; "gone" is no node
    [narrow] = nic.vlan_config_uses([vc("zone-b", ["eno2"], {"zone": "b"})], [], NODES)
    assert narrow.nodes == ("n2",)
    assert nic.vlan_config_uses([vc("x", ["eno2"], {"zone": "a"}, matched="not json")], [], NODES)[0].nodes == (
        "n0",
        "n1",
    )


def test_healthy_uplinks_pass() -> None:
    uses = nic.vlan_config_uses([vc("vm-net-vc", ["eno2"], {})], [], NODES)
    assert nic.check_uses(uses, hosts(n0=["eno1", "eno2"], n1=["eno2"], n2=["eno2"])) == []


def test_renamed_uplink_names_the_vlan_config_and_the_nodes() -> None:
    """The NIC-01 fault: vm-net-vc's uplink eno9, which no host has."""
    uses = nic.vlan_config_uses([vc("vm-net-vc", ["eno9"], {})], [], NODES)
    [found] = nic.check_uses(uses, hosts(n0=["eno2"], n1=["eno2"], n2=["eno2"]))
    assert found.object == "VlanConfig vm-net-vc"
    assert "eno9 does not exist on n0, n1, n2" in found.message


def test_only_nodes_the_config_applies_to_and_that_were_read_count() -> None:
    uses = nic.vlan_config_uses([vc("zone-b", ["enp3s0f1"], {"zone": "b"})], [], NODES)
    assert nic.check_uses(uses, hosts(n0=[], n1=[], n2=["enp3s0f1"])) == []
    [found] = nic.check_uses(uses, hosts(n2=["eno2"]))  # NIC-02's rename on n2
    assert "enp3s0f1 does not exist on n2" in found.message
    assert nic.check_uses(uses, hosts(n0=[])) == []  # n2 not read: the host reader reports that


@pytest.mark.parametrize("name", ["eno1", "enp3s0f1", "bond0.100", "a" * 15])
def test_valid_interface_names(name: str) -> None:
    assert nic.valid_name(name)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "eth0:1", "has space", "a" * 16, "tab\t"])
def test_invalid_interface_names_are_findings_without_a_read(name: str) -> None:
    assert not nic.valid_name(name)
    uses = nic.vlan_config_uses([vc("vc", [name], {})], [], NODES)
    assert nic.host_paths(uses) == []
    [found] = nic.check_uses(uses, hosts(n0=[], n1=[], n2=[]))
    assert "not a valid interface name" in found.message


def test_legacy_cluster_network_and_node_networks() -> None:
    """v1.0.x: `vlan` ClusterNetwork's default NIC, overridden per node by `<node>-vlan`."""
    cns = [
        {"metadata": {"name": "vlan"}, "enable": True, "config": {"defaultPhysicalNIC": "eno1"}},
        {"metadata": {"name": "off"}, "enable": False, "config": {"defaultPhysicalNIC": "eno9"}},
        {"metadata": {"name": "mgmt"}, "status": {}},
    ]
    nns = [{"metadata": {"name": "n2-vlan"}, "spec": {"nodeName": "n2", "type": "vlan", "nic": "enp3s0f1"}}]
    uses = nic.legacy_uses(cns, nns, NODES)
    assert [(u.object, u.nics, u.nodes) for u in uses] == [
        ("NodeNetwork n2-vlan", ("enp3s0f1",), ("n2",)),
        ("ClusterNetwork vlan", ("eno1",), ("n0", "n1")),
    ]
    found = nic.check_uses(uses, hosts(n0=["eno1"], n1=["eno2"], n2=["eno1"]))
    assert [(f.object, "does not exist on" in f.message) for f in found] == [
        ("NodeNetwork n2-vlan", True),
        ("ClusterNetwork vlan", True),
    ]
    assert "eno1 does not exist on n1" in found[1].message and "config.defaultPhysicalNIC" in found[1].message


def test_paths_cover_every_named_nic_once() -> None:
    uses = [
        *nic.vlan_config_uses([vc("a", ["eno2", "eno3"], {}), vc("b", ["eno2"], {})], [], NODES),
        *nic.legacy_uses([], [{"metadata": {"name": "x"}, "spec": {"nodeName": "n0", "nic": "eno1"}}], NODES),
    ]
    assert nic.host_paths(uses) == [
        "/sys/class/net/eno1/ifindex",
        "/sys/class/net/eno2/ifindex",
        "/sys/class/net/eno3/ifindex",
    ]


def test_the_emulator_hosts_mirror_sysfs(tmp_path) -> None:
    """The seeded links appear as /sys/class/net/<name>/ifindex files (what the check reads)."""
    from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs

    hostfs.write_links(tmp_path, "n0", hostfs.nics(0))
    for link in hostfs.nics(0):
        assert hostfs.read(tmp_path, "n0", nic.ifindex_path(link["name"])) == f"{link['index']}\n".encode()
    assert hostfs.read(tmp_path, "n0", nic.ifindex_path("eno9")) is None
