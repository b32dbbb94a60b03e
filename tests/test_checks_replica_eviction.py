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


# -- EVI-03: the disk to evict, and health meanwhile (LM replica_scheduler.go @v1.6.2) --------------------
GI = 1024**3


def _disk(allow: bool = True, evict: bool = False, reserved: int = 0) -> dict:
    return {"allowScheduling": allow, "evictionRequested": evict, "storageReserved": reserved}


def _status(maximum: int, replicas: dict[str, int]) -> dict:
    return {"storageMaximum": maximum, "storageScheduled": sum(replicas.values()), "scheduledReplica": replicas}


def test_pick_disk_first_node_fewest_replicas_that_fit_on_the_node() -> None:
    a = _node(
        "a",
        {"d1": _disk(), "d2": _disk(), "d3": _disk()},
        {
            "d1": _status(100 * GI, {"r1": 10 * GI, "r2": 10 * GI}),
            "d2": _status(100 * GI, {"r3": 10 * GI}),
            "d3": _status(100 * GI, {}),
        },
    )
    b = _node("b", {"x": _disk()}, {"x": _status(100 * GI, {"r4": GI})})
    assert ev.pick_disk([b, a], 100) == ("a", "d2")


def test_pick_disk_needs_room_and_a_usable_other_disk() -> None:
    full = _node(
        "a",
        {"d1": _disk(), "d2": _disk()},
        {"d1": _status(100 * GI, {"r": 60 * GI}), "d2": _status(100 * GI, {"q": 60 * GI})},
    )
    assert ev.pick_disk([full], 100) is None
    assert ev.pick_disk([full], 200) == ("a", "d1")
    off = _node(
        "a",
        {"d1": _disk(), "d2": _disk(allow=False)},
        {"d1": _status(100 * GI, {"r": GI}), "d2": _status(100 * GI, {})},
    )
    assert ev.pick_disk([off], 100) is None
    cordoned = _node(
        "a", {"d1": _disk(), "d2": _disk()}, {"d1": _status(100 * GI, {"r": GI}), "d2": _status(100 * GI, {})}
    )
    cordoned["spec"]["allowScheduling"] = False
    assert ev.pick_disk([cordoned], 100) is None


def test_health_names_volumes_that_degraded_or_faulted() -> None:
    before = {"v1": "healthy", "v2": "degraded", "v3": "healthy"}
    now = [
        {"metadata": {"name": "v1"}, "status": {"robustness": "degraded"}},
        {"metadata": {"name": "v2"}, "status": {"robustness": "degraded"}},
        {"metadata": {"name": "v3"}, "status": {"robustness": "unknown"}},
        {"metadata": {"name": "v4"}, "status": {"robustness": "faulted"}},
    ]
    seen = ev.unhealthy(before, now)
    assert seen == {"v1": "degraded", "v4": "faulted"}
    found = ev.check_health("n", "d", seen)
    assert [f.object for f in found] == ["Volume longhorn-system/v1", "Volume longhorn-system/v4"]
