"""MET-01..05 without a cluster. Upstream: harvester `pkg/controller/master/rancher/pod_resources.go`
(v1.2.1 … v1.8.2: non-terminated pods, init containers as a max, `pods` only when the node has
pods), longhorn-manager `types/types.go` CreateDefaultDisk (storageMaximum × pct / 100) and
`types/setting.go` (the setting from v1.5.0), kubevirt virt-handler device plugins."""

from __future__ import annotations

import datetime as dt
import json

from harvester_conformance.checks import resource_metrics as rm

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def _pod(name: str, req: dict, lim: dict | None = None, phase: str = "Running", init: dict | None = None) -> dict:
    spec: dict = {"nodeName": "n0", "containers": [{"name": "c", "resources": {"requests": req, "limits": lim or {}}}]}
    if init:
        spec["initContainers"] = [{"name": "i", "resources": {"requests": init}}]
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec, "status": {"phase": phase}}


def _node(name: str = "n0", annotations: dict | None = None, **status: object) -> dict:
    return {"metadata": {"name": name, "annotations": annotations or {}, "labels": {}}, "spec": {}, "status": status}


def _ann(req: dict, lim: dict) -> dict:
    return {rm.REQUESTS: json.dumps(req), rm.LIMITS: json.dumps(lim)}


def test_annotations_equal_the_pod_sums() -> None:
    pods = [
        _pod("a", {"cpu": "250m", "memory": "1Gi"}, {"cpu": "1"}),
        _pod("b", {"cpu": "500m"}, init={"cpu": "2"}),  # init container: max(2, 500m)
        _pod("done", {"cpu": "8"}, phase="Succeeded"),  # not counted
    ]
    good = _ann({"cpu": "2250m", "memory": "1Gi", "pods": "2"}, {"cpu": "1"})
    assert rm.check_node_annotations(_node(annotations=good), pods, NOW) is None
    stale = _ann({"cpu": "1500m", "memory": "1Gi", "pods": "1"}, {"cpu": "1"})
    found = rm.check_node_annotations(_node(annotations=stale), pods, NOW)
    assert found is not None and found.object == "Node n0"
    assert "pods 1 (pods sum to 2)" in found.message and "cpu 1.5" in found.message


def test_pods_in_flight_may_be_counted_or_not() -> None:
    """The controller follows pod events with a lag: a pod created or being deleted within the last
    20 seconds may be in the sums or not; an older one must be."""
    old = _pod("old", {"cpu": "1"})
    old["metadata"]["creationTimestamp"] = "2026-01-01T11:00:00Z"
    young = _pod("young", {"cpu": "500m"})
    young["metadata"]["creationTimestamp"] = "2026-01-01T11:59:50Z"
    pods = [old, young]
    for counted in ({"cpu": "1", "pods": "1"}, {"cpu": "1500m", "pods": "2"}):
        assert rm.check_node_annotations(_node(annotations=_ann(counted, {})), pods, NOW) is None
    missing_old = rm.check_node_annotations(_node(annotations=_ann({"cpu": "500m", "pods": "1"}, {})), pods, NOW)
    assert missing_old is not None and "cpu 0.5 (pods sum to between 1 and 1.5)" in missing_old.message
    later = NOW + dt.timedelta(minutes=5)  # once settled, the young pod must be counted too
    assert rm.check_node_annotations(_node(annotations=_ann({"cpu": "1", "pods": "1"}, {})), pods, later) is not None


def test_empty_node_reads_either_form_and_absent_annotations_are_skipped() -> None:
    """Upstream writes `{}` for a node without pods; facts §17.6 says `{"pods":"0"}`: both are an empty node."""
    assert rm.check_node_annotations(_node(annotations=_ann({}, {})), [], NOW) is None
    assert rm.check_node_annotations(_node(annotations=_ann({"pods": "0"}, {})), [], NOW) is None
    assert rm.check_node_annotations(_node(), [_pod("a", {"cpu": "1"})], NOW) is None
    broken = rm.check_node_annotations(_node(annotations={rm.REQUESTS: "not json", rm.LIMITS: "{}"}), [], NOW)
    assert broken is not None and "not a resource list" in broken.message


def test_node_metrics_present_fresh_and_within_capacity() -> None:
    node = _node(capacity={"cpu": "4", "memory": "8Gi"})
    fresh = {"timestamp": "2026-01-01T11:59:30Z", "usage": {"cpu": "1500000000n", "memory": "4Gi"}}
    assert rm.check_node_metrics(node, fresh, NOW) is None
    assert "has no NodeMetrics" in rm.check_node_metrics(node, None, NOW).message
    old = {**fresh, "timestamp": "2026-01-01T11:50:00Z"}
    assert "older than" in rm.check_node_metrics(node, old, NOW).message
    over = {**fresh, "usage": {"cpu": "5", "memory": "4Gi"}}
    assert "cpu usage 5 exceeds capacity 4" in rm.check_node_metrics(node, over, NOW).message


def _lh_node(disks: dict[str, tuple[int, int, int]], missing_status: tuple[str, ...] = ()) -> dict:
    spec = {d: {"path": f"/d/{d}", "storageReserved": r} for d, (_, _, r) in disks.items()}
    status = {
        d: {"storageMaximum": m, "storageAvailable": a} for d, (m, a, _) in disks.items() if d not in missing_status
    }
    return {
        "metadata": {"name": "n0", "namespace": "longhorn-system"},
        "spec": {"disks": spec},
        "status": {"diskStatus": status},
    }


def test_longhorn_figures_per_disk_and_node() -> None:
    ok = _lh_node({"default-disk-ab": (1000, 600, 300), "extra": (2000, 2000, 0)})
    assert rm.check_storage_figures(ok) is None
    over = rm.check_storage_figures(_lh_node({"default-disk-ab": (1000, 600, 1500), "extra": (2000, 2000, 0)}))
    assert over is not None and over.object == "Node longhorn-system/n0"
    assert "storageReserved 1500 exceeds its storageMaximum 1000" in over.message
    assert "available" in rm.check_storage_figures(_lh_node({"d": (1000, 1200, 0)})).message
    missing = rm.check_storage_figures(_lh_node({"d": (1000, 500, 0)}, missing_status=("d",)))
    assert missing is not None and "has no status" in missing.message


def test_reserved_percentage_is_version_aware_and_parsed() -> None:
    def setting(value: str) -> dict:
        return {"metadata": {"name": rm.RESERVED_SETTING}, "value": value}

    assert rm.reserved_percentage(None, "v1.4.3")[0] == 30  # built in before Longhorn 1.5
    assert rm.reserved_percentage(setting("25"), "v1.6.2")[0] == 25
    assert rm.reserved_percentage(setting('{"v1":"20","v2":"20"}'), "v1.10.2")[0] == 20
    assert rm.reserved_percentage(setting("150"), "v1.6.2")[0] is None
    assert rm.reserved_percentage(setting("abc"), "v1.6.2")[0] is None
    assert rm.reserved_percentage(None, "v1.6.2")[0] is None  # the setting exists from 1.5.0


def test_default_disk_reserve_matches_the_percentage() -> None:
    good = _lh_node({"default-disk-ab": (80733671424, 1, 24220101427), "extra": (1000, 1, 0)})  # the KB's example
    assert rm.check_default_disks(good, 30, "x") is None
    stale = rm.check_default_disks(_lh_node({"default-disk-ab": (1000, 1, 200)}), 30, "setting 30")
    assert stale is not None and "expected 300 (30%)" in stale.message and "20.0%" in stale.message


def test_allocatable_and_kubevirt_devices() -> None:
    devices = {d: "1k" for d in rm.KUBEVIRT_DEVICES}
    good = _node(capacity={"cpu": "4", **devices}, allocatable={"cpu": "3800m", **devices})
    assert rm.check_node_capacity(good) is None
    over = rm.check_node_capacity(_node(capacity={"cpu": "4", **devices}, allocatable={"cpu": "5", **devices}))
    assert over is not None and "allocatable cpu 5 exceeds capacity 4" in over.message
    bare = rm.check_node_capacity(_node(capacity={"cpu": "4"}, allocatable={"cpu": "4"}))
    assert bare is not None and "devices.kubevirt.io/kvm (absent)" in bare.message
    cordoned = _node(capacity={"cpu": "4"}, allocatable={"cpu": "4"})
    cordoned["spec"]["unschedulable"] = True
    assert rm.check_node_capacity(cordoned) is None
