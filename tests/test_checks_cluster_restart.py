"""RST-01 without a cluster: nodes Ready, and in the system namespaces no failed non-Job pod (the
kubelet's Evicted or node-shutdown leftovers of a fully ready owner excepted) and no crash loop
longer than 15 minutes (Kubernetes pod and node status as the kubelet writes it)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from harvester_conformance.checks import cluster_restart as rst

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def _at(minutes_ago: int) -> str:
    return (NOW - dt.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node(name: str, status: str = "True") -> dict:
    return {
        "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": status, "reason": "KubeletNotReady" if status != "True"
                                   else "KubeletReady", "lastTransitionTime": _at(30)}]},
    }  # fmt: skip


def _owner(kind: str, name: str, uid: str, owner: dict | None = None, **status: int) -> dict:
    meta = {"name": name, "namespace": "harvester-system", "uid": uid}
    if owner:
        meta["ownerReferences"] = [owner]
    spec = {} if kind == "DaemonSet" else {"replicas": 2}
    return {"metadata": meta, "spec": spec, "status": status}


def _ref(kind: str, name: str, uid: str) -> dict:
    return {"kind": kind, "name": name, "uid": uid, "controller": True}


DEPLOY = _owner("Deployment", "harvester-webhook", "d1", readyReplicas=2)
RS = _owner("ReplicaSet", "harvester-webhook-7f", "r1", _ref("Deployment", "harvester-webhook", "d1"), readyReplicas=2)
DS = _owner("DaemonSet", "kube-vip", "ds1", desiredNumberScheduled=3, numberReady=2)
OWNERS = rst.Owners([RS], [DEPLOY], [DS])


def _pod(
    name: str,
    ns: str = "harvester-system",
    phase: str = "Running",
    reason: str = "",
    owner: dict | None = None,
    waiting: str = "",
    ready_since: int | None = None,
) -> dict:
    status: dict = {"phase": phase, "startTime": _at(120)}
    if reason:
        status["reason"] = reason
    if waiting:
        status["containerStatuses"] = [{"name": "main", "restartCount": 7, "state": {"waiting": {"reason": waiting}}}]
    if ready_since is not None:
        status["conditions"] = [{"type": "Ready", "status": "False", "lastTransitionTime": _at(ready_since)}]
    meta: dict = {"name": name, "namespace": ns}
    if owner:
        meta["ownerReferences"] = [owner]
    return {"metadata": meta, "status": status}


def test_ready_nodes_pass_and_not_ready_ones_are_named() -> None:
    assert rst.check_nodes_ready([_node("n0"), _node("n1")]) == []
    [f] = rst.check_nodes_ready([_node("n0"), _node("n1", "Unknown")])
    assert f.object == "Node n1" and "status Unknown" in f.message
    [f] = rst.check_nodes_ready([{"metadata": {"name": "n2"}, "status": {}}])
    assert "no Ready condition" in f.message


def test_healthy_system_pods_pass() -> None:
    pods = [_pod("a"), _pod("b", "cattle-fleet-local-system"), _pod("c", "longhorn-system", phase="Succeeded")]
    assert rst.check_system_pods(pods, OWNERS, NOW) == []


def test_failed_bare_pod_in_a_system_namespace_is_named() -> None:
    """The fault's state: a node-debugger pod left Failed in harvester-system."""
    pod = _pod("node-debugger-n1-x7k2p", phase="Failed")
    pod["status"]["containerStatuses"] = [
        {"name": "debugger", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    ]
    [f] = rst.check_system_pods([pod], OWNERS, NOW)
    assert f.object == "Pod harvester-system/node-debugger-n1-x7k2p"
    assert "Failed (container debugger exited 1 (Error))" in f.message and "no owner" in f.message


def test_failed_pods_outside_system_namespaces_and_job_pods_are_left_out() -> None:
    pods = [
        _pod("vm", "default", phase="Failed"),
        _pod("helm-install-x", "kube-system", phase="Failed", owner=_ref("Job", "helm-install-x", "j1")),
    ]
    assert rst.check_system_pods(pods, OWNERS, NOW) == []


def test_evicted_leftover_of_a_ready_owner_is_excepted() -> None:
    evicted = _pod("harvester-webhook-7f-abc", phase="Failed", reason="Evicted", owner=_ref("ReplicaSet", "x", "r1"))
    shutdown = _pod(
        "harvester-webhook-7f-def", phase="Failed", reason="Terminated", owner=_ref("ReplicaSet", "x", "r1")
    )
    assert rst.check_system_pods([evicted, shutdown], OWNERS, NOW) == []


def test_evicted_pod_of_an_owner_not_fully_ready_is_named() -> None:
    pod = _pod("kube-vip-abc", phase="Failed", reason="Evicted", owner=_ref("DaemonSet", "kube-vip", "ds1"))
    [f] = rst.check_system_pods([pod], OWNERS, NOW)
    assert "DaemonSet kube-vip has 2/3 ready" in f.message
    lost = _pod("x-abc", phase="Failed", reason="Evicted", owner=_ref("StatefulSet", "x", "s1"))
    assert "StatefulSet x" in rst.check_system_pods([lost], OWNERS, NOW)[0].message


def test_failed_pod_of_a_ready_owner_that_crashed_itself_is_named() -> None:
    pod = _pod("harvester-webhook-7f-xyz", phase="Failed", reason="Error", owner=_ref("ReplicaSet", "x", "r1"))
    assert len(rst.check_system_pods([pod], OWNERS, NOW)) == 1


def test_crash_loop_counts_after_fifteen_minutes_not_ready() -> None:
    young = _pod("a", waiting="CrashLoopBackOff", ready_since=10)
    old = _pod("b", "longhorn-system", waiting="CrashLoopBackOff", ready_since=20)
    [f] = rst.check_system_pods([young, old], OWNERS, NOW)
    assert f.object == "Pod longhorn-system/b" and "main (restarts 7)" in f.message and "20 min" in f.message


def test_crash_loop_without_ready_condition_falls_back_to_start_time() -> None:
    pod = _pod("a", waiting="CrashLoopBackOff")
    assert "120 min" in rst.check_system_pods([pod], OWNERS, NOW)[0].message


def test_other_waiting_reasons_and_terminating_pods_are_left_out() -> None:
    pulling = _pod("a", waiting="ImagePullBackOff", ready_since=60)
    going = _pod("b", waiting="CrashLoopBackOff", ready_since=60)
    going["metadata"]["deletionTimestamp"] = _at(1)
    assert rst.check_system_pods([pulling, going], OWNERS, NOW) == []


def test_system_namespaces() -> None:
    assert all(
        rst.is_system_namespace(n) for n in ("cattle-fleet-system", "cattle-fleet-clusters-system", "kube-system")
    )
    assert not any(rst.is_system_namespace(n) for n in ("default", "cattle-monitoring-system", "fleet-local"))


def _deployment(name: str, annotation: str | None = "3", replicas: int | None = 3, ready: int = 3) -> dict:
    meta: dict = {"name": name, "namespace": "cattle-system"}
    if annotation is not None:
        meta["annotations"] = {rst.SCALE_AVAILABLE: annotation}
    spec = {} if replicas is None else {"replicas": replicas}
    return {"metadata": meta, "spec": spec, "status": {"readyReplicas": ready} if ready else {}}


def test_embedded_rancher_as_installed_passes() -> None:
    assert rst.check_embedded_rancher(_deployment("rancher"), None) == []
    assert rst.check_embedded_rancher(_deployment("rancher", "0", 1, 1), _deployment("cattle-cluster-agent", "2")) == []


def test_rancher_left_as_the_shutdown_procedure_leaves_it() -> None:
    """The fault's state: scale-available "" and 0 replicas."""
    found = rst.check_embedded_rancher(_deployment("rancher", "", 0, 0), None)
    assert [f.object for f in found] == ["Deployment cattle-system/rancher"] * 2
    assert "is empty" in found[0].message and "no ready replica" in found[1].message


def test_scale_available_must_be_a_whole_number() -> None:
    for bad in (" 3", "three", "-1", "3.0"):
        [f] = rst.check_embedded_rancher(_deployment("rancher", bad), None)
        assert "not a whole number" in f.message, bad
    [f] = rst.check_embedded_rancher(_deployment("rancher", None), None)
    assert "missing" in f.message


def test_missing_rancher_and_an_agent_at_zero_are_named() -> None:
    assert "does not exist" in rst.check_embedded_rancher(None, None)[0].message
    [f] = rst.check_embedded_rancher(_deployment("rancher"), _deployment("cattle-cluster-agent", "", 0, 0))
    assert f.object == "Deployment cattle-system/cattle-cluster-agent" and "0 replicas" in f.message


# -- RST-02: the VIP ------------------------------------------------------------------------------
def _vip_cm(ip: str = "192.0.2.10") -> dict:
    return {"metadata": {"name": "vip", "namespace": "harvester-system"}, "data": {"enabled": "true", "ip": ip}}


def _lb(name: str, *ips: str, kind: str = "LoadBalancer") -> dict:
    return {
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {"type": kind},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}},
    }


def test_vip_served_by_ingress_expose() -> None:
    assert rst.check_vip(_vip_cm(), {"ingress-expose": _lb("ingress-expose", "192.0.2.10")}) == []


def test_vip_served_by_traefik_where_only_it_exists() -> None:
    services = {"ingress-expose": None, "rke2-traefik": _lb("rke2-traefik", "192.0.2.10")}
    assert rst.check_vip(_vip_cm(), services) == []
    found = rst.check_vip(_vip_cm(), {"ingress-expose": None, "rke2-traefik": _lb("rke2-traefik", "192.0.2.9")})
    assert [f.object for f in found] == ["Service kube-system/rke2-traefik", "ConfigMap harvester-system/vip"]


def test_vip_differing_from_the_load_balancer_address_names_both() -> None:
    found = rst.check_vip(_vip_cm("192.0.2.9"), {"ingress-expose": _lb("ingress-expose", "192.0.2.10")})
    assert [f.object for f in found] == ["Service kube-system/ingress-expose", "ConfigMap harvester-system/vip"]
    assert "192.0.2.9" in found[0].message and "192.0.2.10" in found[0].message


def test_vip_without_service_address_or_configmap() -> None:
    assert "none" in rst.check_vip(_vip_cm(), {"ingress-expose": _lb("ingress-expose")})[0].message
    assert "NodePort" in rst.check_vip(_vip_cm(), {"ingress-expose": _lb("ingress-expose", kind="NodePort")})[0].message
    assert rst.check_vip(None, {})[0].object == "ConfigMap harvester-system/vip"
    assert rst.check_vip(_vip_cm(), {})[0].object == "Service kube-system/ingress-expose"


# -- RST-04: addons and the storage network --------------------------------------------------------
def _addon(name: str, enabled: bool, state: str, failed: str = "") -> dict:
    conds = [{"type": "OperationFailed", "status": "True", "message": failed}] if failed else []
    return {
        "metadata": {"name": name, "namespace": "harvester-system"},
        "spec": {"enabled": enabled},
        "status": {"status": state, "conditions": conds},
    }


def test_enabled_addons_must_be_deployed() -> None:
    addons = [
        _addon("pcidevices-controller", True, "AddonDeploySuccessful"),
        _addon("vm-import-controller", False, ""),
        _addon("harvester-seeder", False, "AddonDisabled"),
        _addon("rancher-logging", True, "AddonEnabling", "addon deployment job helm-install-rancher-logging failed"),
        _addon("nvidia-driver-toolkit", True, ""),
    ]
    found = rst.check_addons(addons)
    assert [f.object for f in found] == [
        "Addon harvester-system/rancher-logging",
        "Addon harvester-system/nvidia-driver-toolkit",
    ]
    assert "helm-install-rancher-logging failed" in found[0].message


NAD = "harvester-system/storagenetwork-hc7q2"


def _lh_pod(
    name: str,
    status: list | None,
    networks: str = '[{"namespace":"harvester-system","name":"storagenetwork-hc7q2","interface":"lhnet1"}]',
) -> dict:  # noqa: E501
    ann = {"k8s.v1.cni.cncf.io/networks": networks}
    if status is not None:
        ann["k8s.v1.cni.cncf.io/network-status"] = json.dumps(status)
    return {
        "metadata": {"name": name, "namespace": "longhorn-system", "annotations": ann},
        "status": {"phase": "Running"},
    }


def test_storage_network_pods_carry_their_address() -> None:
    default = {"name": "k8s-pod-network", "interface": "eth0", "ips": ["10.52.0.4"], "default": True}
    ok = _lh_pod("instance-manager-a", [default, {"name": NAD, "interface": "lhnet1", "ips": ["10.0.12.1"]}])
    missing = _lh_pod("instance-manager-b", [default])
    unannotated = _lh_pod("instance-manager-c", None)
    short_form = _lh_pod("instance-manager-d", [default], networks="harvester-system/storagenetwork-hc7q2@lhnet1")
    other = {"metadata": {"name": "csi-attacher-x", "namespace": "longhorn-system"}, "status": {"phase": "Running"}}
    found = rst.check_storage_network_pods(NAD, [ok, missing, unannotated, short_form, other])
    assert [f.object for f in found] == [
        "Pod longhorn-system/instance-manager-b",
        "Pod longhorn-system/instance-manager-c",
        "Pod longhorn-system/instance-manager-d",
    ]
    assert rst.check_storage_network_pods("", [missing]) == []


@pytest.mark.parametrize("value", ["storagenetwork-hc7q2", "{not json", "harvester-system/storage/network"])
def test_storage_network_setting_that_names_no_nad_fails(value: str) -> None:
    """A value Longhorn's validator would refuse (written past it) is named, not passed over."""
    found = rst.check_storage_network_pods(value, [])
    assert [f.object for f in found] == ["Setting longhorn-system/storage-network"]
    assert repr(value) in found[0].message and "<namespace>/<NetworkAttachmentDefinition name>" in found[0].message
