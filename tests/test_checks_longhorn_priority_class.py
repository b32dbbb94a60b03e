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


# -- LPC-04: a change while volumes are attached (LM ValidateSetting @v1.5.5 refuses; setting
# controller updatePriorityClass @v1.6.2 defers; status.applied from v1.7.3) --------------------------
IM = {"longhorn.io/component": "instance-manager"}


def _with_uid(pod: dict, uid: str) -> dict:
    pod["metadata"]["uid"] = uid
    return pod


def _state(cls: str, uid: str = "u1") -> dict:
    return lpc.components(
        [_workload("csi-attacher", cls), _workload("longhorn-ui", "x", managed=False)],
        [],
        [_with_uid(_pod("instance-manager-1", IM, cls, 1), uid)],
    )


def test_change_to_the_other_critical_class() -> None:
    assert lpc.change_to("system-cluster-critical") == "system-node-critical"
    assert lpc.change_to("system-node-critical") == "system-cluster-critical"
    assert lpc.change_to("") == "system-node-critical"


def test_components_keep_managed_workloads_and_manager_pods_only() -> None:
    assert _state("c") == {
        f"Deployment {NS}/csi-attacher": ("", "c"),
        f"Pod {NS}/instance-manager-1": ("u1", "c"),
    }


def test_reached_names_changed_templates_and_replaced_or_deleted_pods() -> None:
    before = _state("old")
    assert lpc.reached(before, _state("old"), "new") == []
    found = lpc.reached(before, _state("new", uid="u2"), "new")
    assert [f.object for f in found] == [f"Deployment {NS}/csi-attacher", f"Pod {NS}/instance-manager-1"]
    assert "recreated with new" in found[1].message
    gone = lpc.reached(before, {k: v for k, v in before.items() if k.startswith("Deployment")}, "new")
    assert [f.object for f in gone] == [f"Pod {NS}/instance-manager-1"] and "deleted" in gone[0].message


def test_up_to_15_the_change_must_be_refused() -> None:
    assert lpc.check_change((1, 5, 5), "cannot modify priority class setting", ["v1"], "n", [], None) == []
    found = lpc.check_change((1, 4, 3), None, ["v1"], "n", [], None)
    assert [f.object for f in found] == [f"Setting {NS}/priority-class"]
    assert "refuses it" in found[0].message


def test_from_16_the_change_is_deferred_and_from_17_not_applied() -> None:
    assert lpc.check_change((1, 6, 2), None, ["v1"], "n", [], None) == []
    assert lpc.check_change((1, 7, 3), None, ["v1"], "n", [], False) == []
    assert "status.applied is True" in lpc.check_change((1, 7, 3), None, ["v1"], "n", [], True)[0].message
    assert "was refused" in lpc.check_change((1, 6, 2), "no", ["v1"], "n", [], None)[0].message


def test_a_change_that_reached_components_names_the_setting_and_them() -> None:
    reached = lpc.reached(_state("old"), _state("n", uid="u2"), "n")
    found = lpc.check_change((1, 6, 2), None, ["v1", "v2", "v3", "v4"], "n", reached, None)
    assert [f.object for f in found][0] == f"Setting {NS}/priority-class"
    assert "reached 2 component(s) with 4 volume(s) attached (v1, v2, v3 and 1 more)" in found[0].message
    assert len(found) == 3
