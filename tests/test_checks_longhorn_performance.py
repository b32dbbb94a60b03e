"""LHP-01..04 without a cluster (longhorn-manager types/setting.go @v1.4.3 … v1.10.0: plain
`default-replica-count` "3", JSON `{"v1":"3","v2":"3"}` from 1.10.0; v1beta2 node.go fields)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import longhorn_performance as lp


def _node(name: str, allow: bool = True, schedulable: str = "True", disks: dict | None = None) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"allowScheduling": allow, "evictionRequested": False, "disks": disks or {}},
        "status": {"conditions": [{"type": "Schedulable", "status": schedulable}], "diskStatus": {}},
    }


NODES = [_node("n0"), _node("n1"), _node("n2")]


def _setting(value: str) -> dict:
    return {"metadata": {"name": "default-replica-count"}, "value": value}


@pytest.mark.parametrize(
    ("raw", "v2", "expected"),
    [
        ("3", False, {"v1": 3}),
        ('{"v1":"3","v2":"2"}', False, {"v1": 3}),
        ('{"v1":"3","v2":"2"}', True, {"v1": 3, "v2": 2}),
    ],
)
def test_engine_values_plain_and_per_engine_json(raw: str, v2: bool, expected: dict) -> None:
    assert lp.engine_values(raw, v2) == expected


@pytest.mark.parametrize("raw", ["three", '{"v1":"x"}', '{"v2":"3"}', '{"v1":'])
def test_engine_values_refuses_malformed(raw: str) -> None:
    with pytest.raises(ValueError):
        lp.engine_values(raw, False)


def test_replica_count_fails_above_schedulable_nodes_and_advises_outside_2_to_3() -> None:
    assert lp.check_replica_count(_setting("3"), NODES, False) == ([], [])
    assert lp.check_replica_count(_setting('{"v1":"2","v2":"3"}'), NODES, False) == ([], [])
    failed, _ = lp.check_replica_count(_setting("3"), [*NODES[:2], _node("n2", schedulable="False")], False)
    assert failed and failed[0].object == "Setting longhorn-system/default-replica-count"
    assert "2 schedulable" in failed[0].message and "n0, n1" in failed[0].message
    failed, _ = lp.check_replica_count(_setting('{"v1":"3","v2":"4"}'), NODES, True)
    assert len(failed) == 1 and "v2 engine" in failed[0].message
    failed, advice = lp.check_replica_count(_setting("1"), NODES, False)
    assert not failed and "recommends 2" in advice[0].message and "1 (v1 engine" in advice[0].message
    failed, _ = lp.check_replica_count(_setting("abc"), NODES, False)
    assert "not a whole number" in failed[0].message
    assert lp.check_replica_count(None, NODES, False)[0]


def _sc(name: str, params: dict, provisioner: str = lp.DRIVER) -> dict:
    return {"metadata": {"name": name}, "provisioner": provisioner, "parameters": params}


def test_strict_local_only_with_one_replica() -> None:
    assert lp.check_data_locality(_sc("a", {"dataLocality": "best-effort"}), "disabled", 3) is None
    assert lp.check_data_locality(_sc("a", {"numberOfReplicas": "3"}), "disabled", 3) is None
    assert lp.check_data_locality(_sc("a", {"dataLocality": "strict-local", "numberOfReplicas": "1"}), "", 3) is None
    found = lp.check_data_locality(_sc("sl", {"dataLocality": "strict-local", "numberOfReplicas": "3"}), "", 3)
    assert found is not None and found.object == "StorageClass sl" and "best-effort" in found.message
    assert lp.check_data_locality(_sc("d", {}), "strict-local", 2) is not None  # from the setting
    assert lp.check_data_locality(_sc("x", {"dataLocality": "strict-local"}, "other.csi"), "", 3) is None


def test_storage_network_empty_warns() -> None:
    assert lp.check_storage_network({"value": '{"vlan":100,"clusterNetwork":"storage","range":"10.0.0.0/24"}'}) is None
    found = lp.check_storage_network({"value": "", "default": ""})
    assert found is not None and found.object == "Setting storage-network"
    assert lp.check_storage_network(None) is not None


def _disk(path: str, allow: bool = True, evict: bool = False) -> dict:
    return {"path": path, "allowScheduling": allow, "evictionRequested": evict}


def test_dedicated_disk_schedulable_or_holding_replicas() -> None:
    root = lp.DEFAULT_DATA_PATH
    ok = _node("n0", disks={"default": _disk(root), "extra": _disk("/var/lib/harvester/extra-disks/x")})
    assert lp.check_data_disk(ok, root) is None
    retired = _node(
        "n2", disks={"default": _disk(root), "extra": _disk("/var/lib/harvester/extra-disks/x", False, True)}
    )
    found = lp.check_data_disk(retired, root)
    assert found is not None and found.object == "Node longhorn-system/n2" and "not schedulable" in found.message
    retired["status"]["diskStatus"] = {"extra": {"scheduledReplica": {"pvc-1-r-1": 1}}}
    assert lp.check_data_disk(retired, root) is None  # an eviction in progress: the data is still there
    assert lp.check_data_disk(_node("n3", disks={"default": _disk(root)}), root) is not None
    assert lp.check_data_disk(_node("w", allow=False), root) is None
