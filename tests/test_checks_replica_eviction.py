"""EVI-01/02 without a cluster (longhorn-manager v1beta2 node.go; webhook/resources/node/validator.go
@v1.4.3 and v1.6.2 refuses evictionRequested with allowScheduling, for a node and each disk)."""

from __future__ import annotations

import datetime as dt

from harvester_conformance.checks import replica_eviction as ev


def _node(name: str, disks: dict | None = None, status: dict | None = None, **spec: object) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"allowScheduling": True, "evictionRequested": False, "disks": disks or {}, **spec},
        "status": {"diskStatus": status or {}},
    }


def test_node_mapping_both_ways() -> None:
    found = ev.check_node_mapping(
        [_node("a"), _node("stale")], [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]
    )
    assert [f.object for f in found] == ["Node longhorn-system/stale", "Node b"]
    assert ev.check_node_mapping([_node("a")], [{"metadata": {"name": "a"}}]) == []


def test_eviction_flags_need_scheduling_off() -> None:
    bad = _node("n", {"d1": {"allowScheduling": True, "evictionRequested": True}})
    assert "disk d1" in ev.check_eviction_flags(bad)[0].message
    assert ev.check_eviction_flags(_node("n", evictionRequested=True))  # node-level request
    good = _node("n", {"d1": {"allowScheduling": False, "evictionRequested": True}})
    assert ev.check_eviction_flags(good) == []


def test_evicting_disks_and_request_time() -> None:
    status = {"d1": {"scheduledReplica": {"pvc-1-r-1": 5}}, "d2": {"scheduledReplica": {}}}
    disks = {"d1": {"allowScheduling": False, "evictionRequested": True}, "d2": {"evictionRequested": True}}
    stamp = "2026-01-01T00:00:00Z"
    node = _node("n", disks, status)
    node["metadata"]["managedFields"] = [
        {
            "manager": "kubectl",
            "time": stamp,
            "fieldsV1": {"f:spec": {"f:disks": {"f:d1": {"f:evictionRequested": {}}}}},
        },
        {"manager": "other", "time": "2026-02-01T00:00:00Z", "fieldsV1": {"f:status": {}}},
    ]
    assert ev.evicting_disks(node) == {"d1": {"pvc-1-r-1": 5}}
    assert ev.requested_at(node, "d1") == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert ev.requested_at(node, "d2") is None
    found = ev.check_stuck(node, "d1", {"pvc-1-r-1": 5}, dt.timedelta(seconds=600))
    assert found.object == "Node longhorn-system/n" and "600 s" in found.message and "pvc-1-r-1" in found.message
    assert ev.evicting_disks(_node("n", {"d1": {}}, status, evictionRequested=True)) == {"d1": {"pvc-1-r-1": 5}}


def test_witness_node_needs_no_longhorn_node() -> None:
    witness = {"metadata": {"name": "w", "labels": {ev.WITNESS_LABEL: "true"}}}
    assert ev.check_node_mapping([_node("a")], [{"metadata": {"name": "a"}}, witness]) == []
