"""LPC-01..03 without a cluster. Upstream: longhorn-manager `controller/setting_controller.go`
`updatePriorityClass` (v1.4.3 … v1.11.2: managed-by workloads, instance-, share- and
backing-image-manager pods), kubernetes `pkg/apis/scheduling/types.go` (SystemCriticalPriority
2e9), harvester `deploy/charts/harvester/values.yaml` @v1.2.0 (priorityClass system-cluster-critical)."""

from __future__ import annotations

from harvester_conformance.checks import longhorn_priority_class as lpc

NS = "longhorn-system"
MANAGED = {"longhorn.io/managed-by": "longhorn-manager"}


def _setting(value: str) -> dict:
    return {"metadata": {"name": "priority-class", "namespace": NS}, "value": value}


def _workload(name: str, cls: str | None, managed: bool = True) -> dict:
    spec = {"priorityClassName": cls} if cls else {}
    labels = {"app": name, **(MANAGED if managed else {})}
    return {"metadata": {"name": name, "namespace": NS, "labels": labels}, "spec": {"template": {"spec": spec}}}


def _pod(name: str, labels: dict, cls: str | None, priority: int | None, phase: str = "Running") -> dict:
    spec: dict = {"priority": priority}
    if cls:
        spec["priorityClassName"] = cls
    return {"metadata": {"name": name, "namespace": NS, "labels": labels}, "spec": spec, "status": {"phase": phase}}


def test_setting_must_be_system_cluster_critical() -> None:
    assert lpc.check_setting(_setting("system-cluster-critical")) is None
    empty = lpc.check_setting(_setting(""))
    assert empty is not None and empty.object == "Setting longhorn-system/priority-class" and "empty" in empty.message
    assert lpc.check_setting(None) is not None
    assert "longhorn-critical" in lpc.check_setting(_setting("longhorn-critical")).message


def test_per_data_engine_json_is_parsed_not_failed() -> None:
    """Longhorn 1.10+ stores data-engine-specific settings as {"v1":…,"v2":…} (facts-releases R4.1)."""
    assert lpc.check_setting(_setting('{"v1":"system-cluster-critical","v2":"system-cluster-critical"}')) is None
    found = lpc.check_setting(_setting('{"v1":"system-cluster-critical","v2":""}'))
    assert found is not None and "v2: empty" in found.message
    assert lpc.setting_values(_setting("{not json")) == {"": "{not json"}


def test_priority_class_value() -> None:
    pc = {"metadata": {"name": "system-cluster-critical"}, "value": 2_000_000_000}
    assert lpc.check_priority_class(pc) is None
    assert "1000" in lpc.check_priority_class({**pc, "value": 1000}).message
    assert lpc.check_priority_class(None).object == "PriorityClass system-cluster-critical"


def test_managed_components_by_version_names() -> None:
    """Longhorn 1.4 instance-manager-e/-r and 1.5+ instance-manager-<hash> are both selected by the
    component label; share- and backing-image-manager pods count; user-deployed parts do not."""
    crit, value = lpc.CRITICAL, lpc.CRITICAL_VALUE
    im = {"longhorn.io/component": "instance-manager", **MANAGED}
    pods = [
        _pod("instance-manager-e-1a2b", im, crit, value),
        _pod("instance-manager-r-1a2b", im, crit, value),
        _pod("instance-manager-9f8e7d", im, crit, value),
        _pod("share-manager-pvc-1", {"longhorn.io/component": "share-manager"}, None, 0),
        _pod("backing-image-manager-5d-1", {"longhorn.io/component": "backing-image-manager"}, crit, 0),
        _pod("longhorn-manager-abcde", {"app": "longhorn-manager"}, None, 0),  # user-deployed
        _pod("instance-manager-old", im, None, 0, phase="Succeeded"),
    ]
    deployments = [
        _workload("csi-resizer", None),
        _workload("csi-attacher", crit),
        _workload("longhorn-ui", None, False),
    ]
    daemonsets = [_workload("longhorn-csi-plugin", crit), _workload("engine-image-ei-1", "other")]
    found = {f.object: f.message for f in lpc.check_components(deployments, daemonsets, pods)}
    assert set(found) == {
        "Deployment longhorn-system/csi-resizer",
        "DaemonSet longhorn-system/engine-image-ei-1",
        "Pod longhorn-system/share-manager-pvc-1",
        "Pod longhorn-system/backing-image-manager-5d-1",
    }
    assert "unset" in found["Deployment longhorn-system/csi-resizer"]
    assert "priority 0" in found["Pod longhorn-system/backing-image-manager-5d-1"]
