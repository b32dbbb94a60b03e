"""The emulated Longhorn says what upstream says, release by release (issue 9, facts.md §17.3).

Pure model functions are checked without a cluster; behaviour that needs the API (webhooks, the
simulated longhorn-manager, seeded objects) on live emulated clusters of the profiles concerned:
v1.2.1 (Longhorn v1.4.3), v1.3.1 (v1.6.2), v1.4.3 (v1.7.3), v1.5.0 (v1.8.1).
"""

from __future__ import annotations

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.areas import longhorn
from harvester_conformance.emulator.areas import longhorn_conversion as C
from harvester_conformance.emulator.areas import longhorn_model as M
from harvester_conformance.emulator.areas import longhorn_webhook as W
from harvester_conformance.emulator.profiles import PROFILES, STORAGE_NETWORK
from harvester_conformance.emulator.simulator.webhooks import ConversionError, respond_conversion
from harvester_conformance.waits import wait_for

NS = "longhorn-system"


# -- pure model ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("longhorn", "refused", "applied"),
    [("v1.4.3", True, False), ("v1.5.5", True, False), ("v1.6.2", False, False), ("v1.7.3", False, True)],
)
def test_priority_class_rule_by_version(longhorn: str, refused: bool, applied: bool) -> None:
    """LM datastore/longhorn.go ValidateSetting refuses priority-class unless every volume is
    detached at v1.4.3 and v1.5.5, not at v1.6.2 (setting_controller.go updatePriorityClass
    defers instead); Setting.status.applied exists from v1.7.3 (v1beta2 setting.go)."""
    assert M.priority_refused_while_attached(longhorn) is refused
    assert M.setting_status_applied(longhorn) is applied


def test_node_spec_fields_by_version() -> None:
    """LM k8s/pkg/apis/longhorn/v1beta2/node.go: engine/replicaManagerCPURequest at v1.4.3,
    instanceManagerCPURequest from v1.5.5; disk diskType from 1.5, diskDriver from 1.7."""
    old = M.node_spec("n", 0, 30, "v1.4.3")
    assert (old["engineManagerCPURequest"], old["replicaManagerCPURequest"]) == (0, 0)
    assert "instanceManagerCPURequest" not in old
    assert all("diskType" not in d and "diskDriver" not in d for d in old["disks"].values())
    mid = M.node_spec("n", 0, 30, "v1.6.2")
    assert mid["instanceManagerCPURequest"] == 0 and "engineManagerCPURequest" not in mid
    assert all(d["diskType"] == "filesystem" and "diskDriver" not in d for d in mid["disks"].values())
    new = M.node_spec("n", 0, 30, "v1.8.1")
    assert all(d["diskDriver"] == "" for d in new["disks"].values())


def test_disk_and_node_status_fields_by_version() -> None:
    """LM v1beta2 node.go DiskStatus: diskType/filesystemType at v1.5.5; diskName, diskPath,
    diskDriver, instanceManagerName from v1.7.3; scheduledBackingImage from v1.8.1; NodeStatus
    autoEvicting from v1.5.5."""
    assert M.disk_status_fields("v1.4.3", "d", "/p", "im") == {}
    assert set(M.disk_status_fields("v1.6.2", "d", "/p", "im")) == {"diskType", "filesystemType"}
    seven = M.disk_status_fields("v1.7.3", "d", "/p", "im")
    assert set(seven) == {"diskType", "filesystemType", "diskName", "diskPath", "diskDriver", "instanceManagerName"}
    assert (seven["diskName"], seven["diskPath"], seven["instanceManagerName"]) == ("d", "/p", "im")
    assert M.disk_status_fields("v1.8.1", "d", "/p", "im")["scheduledBackingImage"] == {}
    assert M.node_status_fields("v1.4.3") == {}
    assert M.node_status_fields("v1.6.2") == {"autoEvicting": False}


def test_node_validator_rule() -> None:
    """LM webhook/resources/node/validator.go (v1.4.3, v1.6.2): evictionRequested with
    allowScheduling is refused for the node and for each disk; either alone is fine."""
    node = {"metadata": {"name": "n"}, "spec": {"allowScheduling": True, "evictionRequested": False, "disks": {}}}
    assert W.eviction_problems(node) == []
    node["spec"]["evictionRequested"] = True
    assert W.eviction_problems(node) == [
        "need to disable scheduling on node n for node eviction, or cancel eviction to enable scheduling on this node"
    ]
    node["spec"] = {
        "allowScheduling": False,
        "evictionRequested": True,
        "disks": {"d1": {"allowScheduling": False, "evictionRequested": True}, "d2": {"allowScheduling": True}},
    }
    assert W.eviction_problems(node) == []
    node["spec"]["disks"]["d2"]["evictionRequested"] = True
    assert W.eviction_problems(node) == [
        "need to disable scheduling on disk d2 for disk eviction, or cancel eviction to enable scheduling on this disk"
    ]


@pytest.mark.parametrize("profile", ["v1.2.1", "v1.3.1", "v1.4.3", "v1.5.0"])
def test_installer_settings_in_value(profile: str) -> None:
    """HV deploy/charts/harvester/values.yaml (v1.2.1 … v1.5.0): concurrent engine upgrade limit 3,
    auto-cleanup-snapshot-when-delete-backup true from v1.4.3; HI rancherd-10-harvester.yaml from
    v1.4.3: node-drain-policy allow-if-replica-is-stopped and detach-manually-attached-volumes-
    when-cordoned true; otherwise Longhorn's defaults (LM types/setting.go: disable-revision-counter
    false up to 1.6, true from 1.7; storage-over-provisioning-percentage 200 up to 1.4.x, 100 after)."""
    spec = PROFILES[profile]
    values = M.settings(spec.longhorn, spec.harvester)
    assert values["concurrent-automatic-engine-upgrade-per-node-limit"] == "3"
    assert values["priority-class"] == M.CRITICAL
    newer = profile in ("v1.4.3", "v1.5.0")
    assert values["node-drain-policy"] == ("allow-if-replica-is-stopped" if newer else "block-if-contains-last-replica")
    assert values["disable-revision-counter"] == ("true" if newer else "false")
    assert (
        values.get("detach-manually-attached-volumes-when-cordoned")
        == {
            "v1.2.1": None,  # the setting appears in Longhorn 1.5
            "v1.3.1": "false",
            "v1.4.3": "true",
            "v1.5.0": "true",
        }[profile]
    )
    assert values.get("auto-cleanup-snapshot-when-delete-backup") == ("true" if newer else None)
    assert values["storage-over-provisioning-percentage"] == ("200" if profile == "v1.2.1" else "100")


def test_user_deployed_components_priority() -> None:
    """HV values.yaml from v1.3.0 (longhornManager/longhornDriver/longhornUI.priorityClass):
    system-cluster-critical; v1.2.1's chart sets none."""
    for harvester, want in (("v1.2.1", ""), ("v1.3.1", M.CRITICAL)):
        deployments, daemonsets = M.components("v1.6.2", M.CRITICAL, harvester)
        user = {
            d["metadata"]["name"]: d for d in deployments + daemonsets if d["metadata"]["name"].startswith("longhorn-")
        }
        assert set(user) == {"longhorn-driver-deployer", "longhorn-ui", "longhorn-manager", "longhorn-csi-plugin"}
        for name in ("longhorn-driver-deployer", "longhorn-ui", "longhorn-manager"):
            assert user[name]["spec"]["template"]["spec"].get("priorityClassName", "") == want, (harvester, name)
            assert "longhorn.io/managed-by" not in user[name]["metadata"]["labels"]


def test_backing_image_name_by_release() -> None:
    """HV pkg/util/image.go: `<namespace>-<name>` up to v1.3.x, `vmi-<image UID>` from v1.4.0."""
    assert M.backing_image_name("v1.3.1", "default", "img", "u-1") == "default-img"
    assert M.backing_image_name("v1.4.3", "default", "img", "u-1") == "vmi-u-1"


def test_whereabouts_allocations() -> None:
    """whereabouts keeps a pod's offset, frees a gone pod's and gives the lowest free one to a new
    pod; `ifname` only from v0.8.0 (RKE2 of Harvester v1.4+: rke2 scripts/build-images)."""
    first = M.pool_allocations({}, ["ns/a", "ns/b"], ifname=False)
    assert [(k, v["podref"]) for k, v in first.items()] == [("1", "ns/a"), ("2", "ns/b")]
    assert all(set(v) == {"id", "podref"} for v in first.values())
    second = M.pool_allocations(first, ["ns/b", "ns/c"], ifname=True)
    assert [(k, v["podref"]) for k, v in second.items()] == [("1", "ns/c"), ("2", "ns/b")]
    assert second["1"]["ifname"] == "lhnet1"
    assert not M.whereabouts_has_ifname("v1.3.1") and M.whereabouts_has_ifname("v1.4.3")
    assert M.whereabouts_pool_name("10.0.12.0/24") == "10.0.12.0-24"


def test_engine_reflects_a_failed_replica() -> None:
    """The engine's replicaModeMap: RW per healthy replica, ERR for a failed one (what makes the
    volume degraded); a detached volume's engine is stopped."""
    good = {"metadata": {"name": "r1"}, "spec": {"nodeID": "n1"}, "status": {"currentState": "running"}}
    bad = {"metadata": {"name": "r2"}, "spec": {"nodeID": "n2", "failedAt": "t"}, "status": {"currentState": "error"}}
    st = M.engine_status({}, "v", "v1.6.2", "n1", "im", [good, bad])
    assert st["replicaModeMap"] == {"r1": "RW", "r2": "ERR"} and st["currentState"] == "running"
    assert list(st["currentReplicaAddressMap"]) == ["r1"]
    stopped = M.engine_status(st, "v", "v1.6.2", "", "", [good, bad])
    assert stopped["currentState"] == "stopped" and stopped["replicaModeMap"] == {}


def test_ready_waits_for_every_seeded_volume() -> None:
    """`up` says ready only once every Longhorn claim has its volume and engine, attached and healthy
    on the node of the VMI using it, detached otherwise (at 30 nodes / 600 VMs it said ready with
    372 volumes still creating or detached)."""
    pvc = {"metadata": {"namespace": "ns", "name": "c"}, "spec": {"storageClassName": "lh", "volumeName": "pvc-1"}}
    other = {"metadata": {"namespace": "ns", "name": "t"}, "spec": {"storageClassName": "trident", "volumeName": "x"}}
    attached = {"status": {"state": "attached", "robustness": "healthy", "currentNodeID": "n1"}}
    users = {("ns", "c"): "n1"}
    assert longhorn.volumes_settled([pvc, other], {"lh"}, {"pvc-1": attached}, {"pvc-1-e-0"}, users)
    assert not longhorn.volumes_settled([pvc], {"lh"}, {"pvc-1": attached}, set(), users)  # no engine yet
    assert not longhorn.volumes_settled([pvc], {"lh"}, {}, {"pvc-1-e-0"}, users)  # no volume yet
    creating = {"status": {"state": "creating", "robustness": "unknown"}}
    assert not longhorn.volumes_settled([pvc], {"lh"}, {"pvc-1": creating}, {"pvc-1-e-0"}, users)
    detached = {"status": {"state": "detached", "robustness": "unknown"}}
    assert not longhorn.volumes_settled([pvc], {"lh"}, {"pvc-1": detached}, {"pvc-1-e-0"}, users)
    assert longhorn.volumes_settled([pvc], {"lh"}, {"pvc-1": detached}, {"pvc-1-e-0"}, {})
    elsewhere = {"status": {"state": "attached", "robustness": "healthy", "currentNodeID": "n2"}}
    assert not longhorn.volumes_settled([pvc], {"lh"}, {"pvc-1": elsewhere}, {"pvc-1-e-0"}, users)


# -- live clusters -------------------------------------------------------------------------------------
def _client(emulated, profile: str) -> Cluster:
    return Cluster.from_kubeconfig(str(emulated(profile).kubeconfig))


@pytest.fixture(scope="module")
def cl121(emulated):
    cl = _client(emulated, "v1.2.1")
    yield cl
    cl.close()


@pytest.fixture(scope="module")
def cl143(emulated):
    cl = _client(emulated, "v1.4.3")
    yield cl
    cl.close()


@pytest.fixture(scope="module")
def cl150(emulated):
    cl = _client(emulated, "v1.5.0")
    yield cl
    cl.close()


def _setting(cl: Cluster, name: str) -> dict:
    return cl.get(R.LONGHORN_SETTINGS, name, NS) or {}


def _attached(cl: Cluster) -> list[dict]:
    return [v for v in cl.list(R.LONGHORN_VOLUMES, NS) if (v.get("status") or {}).get("state") == "attached"]


def _component_classes(cl: Cluster) -> set[str]:
    deps = cl.list(R.DEPLOYMENTS, NS, "longhorn.io/managed-by=longhorn-manager")
    return {(d["spec"]["template"]["spec"].get("priorityClassName") or "") for d in deps}


def test_v121_priority_class_refused_while_attached(cl121):
    """Longhorn v1.4.3 (LM datastore/longhorn.go ValidateSetting, through webhook/resources/setting/
    validator.go on CREATE and UPDATE): with volumes attached any write of priority-class is refused,
    the same value included; no status.applied is ever written (v1.4.3 has none)."""
    assert _attached(cl121), "the v1.2.1 profile's running VMs attach their volumes"
    for value in ("", M.CRITICAL):
        with pytest.raises(ApiError) as err:
            cl121.patch(R.LONGHORN_SETTINGS, "priority-class", {"value": value}, NS)
        assert M.PRIORITY_NOT_DETACHED in err.value.message
    assert _setting(cl121, "priority-class")["value"] == M.CRITICAL
    assert all("applied" not in (s.get("status") or {}) for s in cl121.list(R.LONGHORN_SETTINGS, NS))
    cl121.patch(R.LONGHORN_SETTINGS, "default-data-locality", {"value": "disabled"}, NS)  # others pass


def test_v143_priority_class_deferred_and_status_applied(cl143):
    """Longhorn v1.7.3: the change is accepted while volumes are attached; the setting controller
    defers it (setting_controller.go updatePriorityClass) and writes status.applied false, true
    again once the value matches the components (syncSetting); every synced setting reads applied."""
    assert _attached(cl143)
    wait_for(
        "cluster-seeded",
        lambda: all((s.get("status") or {}).get("applied") for s in cl143.list(R.LONGHORN_SETTINGS, NS)),
    )
    try:
        cl143.patch(R.LONGHORN_SETTINGS, "priority-class", {"value": ""}, NS)
        wait_for(
            "cluster-seeded", lambda: (_setting(cl143, "priority-class").get("status") or {}).get("applied") is False
        )
        assert _component_classes(cl143) == {M.CRITICAL}
    finally:
        cl143.patch(R.LONGHORN_SETTINGS, "priority-class", {"value": M.CRITICAL}, NS)
    wait_for("cluster-seeded", lambda: (_setting(cl143, "priority-class").get("status") or {}).get("applied") is True)


@pytest.mark.parametrize("profile", ["v1.2.1", "v1.4.3"])
def test_node_validator_refuses_eviction_with_scheduling(emulated, profile: str):
    """LM webhook/resources/node/validator.go (v1.4.3, v1.6.2): an UPDATE requesting eviction on a
    disk (or node) that still allows scheduling is refused; scheduling off first, then eviction."""
    cl = _client(emulated, profile)
    try:
        node = "harvester-node-1"
        disk = M.extra_disk_name(node)
        with pytest.raises(ApiError) as err:
            cl.patch(R.LONGHORN_NODES, node, {"spec": {"disks": {disk: {"evictionRequested": True}}}}, NS)
        assert f"need to disable scheduling on disk {disk}" in err.value.message
        with pytest.raises(ApiError) as err:
            cl.patch(R.LONGHORN_NODES, node, {"spec": {"evictionRequested": True}}, NS)
        assert f"need to disable scheduling on node {node}" in err.value.message
        spec = cl.get(R.LONGHORN_NODES, node, NS)["spec"]
        assert not spec["evictionRequested"] and not spec["disks"][disk]["evictionRequested"]
    finally:
        cl.close()


@pytest.mark.parametrize(
    ("profile", "present", "absent"),
    [
        ("v1.2.1", {"engineManagerCPURequest", "replicaManagerCPURequest"}, {"instanceManagerCPURequest"}),
        ("v1.4.3", {"instanceManagerCPURequest"}, {"engineManagerCPURequest", "replicaManagerCPURequest"}),
    ],
)
def test_node_fields_as_the_release_writes_them(emulated, profile: str, present: set, absent: set):
    """LM v1beta2 node.go at the profile's Longhorn: node spec CPU requests, disk status fields and
    autoEvicting only where the release has them."""
    cl = _client(emulated, profile)
    try:
        longhorn = PROFILES[profile].longhorn
        want_disk = set(M.disk_status_fields(longhorn, "d", "/p", "im"))
        all_versioned = set(M.disk_status_fields("v1.8.1", "d", "/p", "im"))
        for node in cl.list(R.LONGHORN_NODES, NS):
            assert present <= set(node["spec"]) and not absent & set(node["spec"])
            assert ("autoEvicting" in node["status"]) is (M.version(longhorn) >= (1, 5, 0))
            for name, st in node["status"]["diskStatus"].items():
                assert set(st) & all_versioned == want_disk, name
    finally:
        cl.close()


def test_v150_disk_status_and_volume_backup_target(cl150):
    """Longhorn v1.8.1: disks report scheduledBackingImage; volumes carry backupTargetName
    "default" (LM webhook/resources/volume/mutator.go)."""
    for node in cl150.list(R.LONGHORN_NODES, NS):
        assert all("scheduledBackingImage" in st for st in node["status"]["diskStatus"].values())
    vols = cl150.list(R.LONGHORN_VOLUMES, NS)
    assert vols and all(v["spec"]["backupTargetName"] == "default" for v in vols)


@pytest.mark.parametrize("profile", ["v1.2.1", "v1.4.3"])
def test_rwo_volumes_are_not_migratable(emulated, profile: str):
    """LM csi/util.go (v1.4.3, v1.6.2): the migratable class parameter only holds for RWX volumes."""
    cl = _client(emulated, profile)
    try:
        vols = cl.list(R.LONGHORN_VOLUMES, NS)
        assert {v["spec"]["accessMode"] for v in vols} == {"rwo", "rwx"}
        assert all(v["spec"]["migratable"] is (v["spec"]["accessMode"] == "rwx") for v in vols)
    finally:
        cl.close()


def test_v143_seeded_objects(cl143):
    """A real v1.4.3 cluster has: the installer's settings in `value`; an Engine per volume labelled
    longhornvolume=<volume> mirroring its state; the image's BackingImage named `vmi-<uid>` (HV
    pkg/util/image.go @v1.4.0+) with a manager per disk holding a copy; longhorn-manager, driver and
    UI with system-cluster-critical (HV values.yaml @v1.3.0+); the storage network's whereabouts
    pool with an allocation (ifname lhnet1) per instance-manager pod."""
    cl = cl143
    assert _setting(cl, "node-drain-policy")["value"] == "allow-if-replica-is-stopped"
    assert _setting(cl, "detach-manually-attached-volumes-when-cordoned")["value"] == "true"
    assert _setting(cl, "auto-cleanup-snapshot-when-delete-backup")["value"] == "true"
    vols = cl.list(R.LONGHORN_VOLUMES, NS)
    engines = {e["metadata"]["labels"]["longhornvolume"]: e for e in cl.list(R.LONGHORN_ENGINES, NS)}
    assert set(engines) == {v["metadata"]["name"] for v in vols}
    for v in vols:
        running = engines[v["metadata"]["name"]]["status"]["currentState"] == "running"
        assert running is (v["status"]["state"] == "attached")
        if running:
            assert set(engines[v["metadata"]["name"]]["status"]["replicaModeMap"].values()) == {"RW"}
    image = cl.get(R.VM_IMAGES, M.IMAGE, M.IMAGE_NS)
    sc = cl.get(R.STORAGE_CLASSES, image["status"]["storageClassName"])
    assert sc["parameters"]["backingImage"] == f"vmi-{image['metadata']['uid']}"
    bi = cl.get(R.LONGHORN_BACKING_IMAGES, sc["parameters"]["backingImage"], NS)
    assert bi is not None and set(bi["status"]["diskFileStatusMap"]) == set(bi["spec"]["disks"])
    bims = cl.list(M.BACKING_IMAGE_MANAGERS, NS)
    assert {b["spec"]["diskUUID"] for b in bims} == set(bi["spec"]["disks"])
    for name in ("longhorn-ui", "longhorn-driver-deployer"):
        assert cl.get(R.DEPLOYMENTS, name, NS)["spec"]["template"]["spec"]["priorityClassName"] == M.CRITICAL
    assert cl.get(R.DAEMONSETS, "longhorn-manager", NS)["spec"]["template"]["spec"]["priorityClassName"] == M.CRITICAL
    ims = {
        f"{NS}/{p['metadata']['name']}"
        for p in cl.list(R.PODS, NS, "longhorn.io/component=instance-manager")
        if not p["metadata"].get("deletionTimestamp")
    }

    def pool_follows() -> bool:
        pool = cl.get(M.WHEREABOUTS_POOLS, "10.0.12.0-24", "kube-system") or {}
        allocations = (pool.get("spec") or {}).get("allocations") or {}
        return {a["podref"] for a in allocations.values()} == ims

    wait_for("cluster-seeded", pool_follows)
    pool = cl.get(M.WHEREABOUTS_POOLS, "10.0.12.0-24", "kube-system")
    assert pool["spec"]["range"] == STORAGE_NETWORK["range"]
    assert all(a["ifname"] == "lhnet1" for a in pool["spec"]["allocations"].values())


def test_v121_pool_without_ifname_and_legacy_backing_image(cl121):
    """Harvester v1.2.1: whereabouts v0.6.1 writes no ifname; the image's backing image is
    `<namespace>-<name>`; the user-deployed components carry no priority class (chart < v1.3.0)."""
    wait_for("cluster-seeded", lambda: cl121.get(M.WHEREABOUTS_POOLS, "10.0.12.0-24", "kube-system") is not None)
    pool = cl121.get(M.WHEREABOUTS_POOLS, "10.0.12.0-24", "kube-system")
    assert pool["spec"]["allocations"] and all("ifname" not in a for a in pool["spec"]["allocations"].values())
    sc = cl121.get(R.STORAGE_CLASSES, f"longhorn-{M.IMAGE}")
    assert sc["parameters"]["backingImage"] == f"{M.IMAGE_NS}-{M.IMAGE}"
    assert cl121.get(R.LONGHORN_BACKING_IMAGES, f"{M.IMAGE_NS}-{M.IMAGE}", NS) is not None
    assert not cl121.get(R.DAEMONSETS, "longhorn-manager", NS)["spec"]["template"]["spec"].get("priorityClassName")


def test_v1beta1_served_for_strategy_none_kinds(cl143):
    """LM k8s/crds.yaml (v1.4.3 … v1.8.1) serves v1beta1 with conversion strategy None for Setting,
    Replica, Engine, InstanceManager, RecurringJob, BackingImageManager: the same objects read
    through v1beta1 (Harvester's upgrade writes v1beta1 Settings)."""
    got = cl143.request("GET", f"/apis/longhorn.io/v1beta1/namespaces/{NS}/settings/priority-class")
    assert (got["apiVersion"], got["value"]) == ("longhorn.io/v1beta1", M.CRITICAL)
    listing = cl143.request("GET", "/apis/longhorn.io/v1beta1")
    kinds = {r["kind"] for r in listing["resources"] if "/" not in r["name"]}
    strategy_none = {"Setting", "Replica", "Engine", "InstanceManager", "RecurringJob", "BackingImageManager"}
    assert kinds == strategy_none | {"Node", "Volume", "EngineImage", "BackingImage"}  # + conversion webhook


# -- v1beta1 through the conversion webhook (pure) ---------------------------------------------------------
# Upstream: LM k8s/pkg/apis/longhorn/v1beta1/{node,volume,engineimage,backingimage}.go ConvertTo /
# ConvertFrom and conversion.go (copyConditionsFromMapToSlice, copyConditionFromSliceToMap), the
# same text at v1.4.3, v1.6.2, v1.7.3 and v1.8.1 except backingimage.go (diskFileSpecMap from v1.7.0).
_CONDS = [
    {"type": "Ready", "status": "True", "reason": "", "message": "", "lastProbeTime": "", "lastTransitionTime": "t"},
    {
        "type": "Schedulable",
        "status": "True",
        "reason": "",
        "message": "",
        "lastProbeTime": "",
        "lastTransitionTime": "t",
    },
]


def _by_type(conditions: list) -> dict:
    return {c["type"]: c for c in conditions}


def test_conditions_map_and_list() -> None:
    """LM v1beta1/conversion.go @v1.8.1: slice to map keys each condition by its type, map to slice
    takes the values (the key is not used)."""
    as_map = C.conditions_to_map(_CONDS)
    assert set(as_map) == {"Ready", "Schedulable"} and as_map["Ready"]["type"] == "Ready"
    assert C.conditions_to_list(as_map) == _CONDS
    assert C.conditions_to_map(None) == {} and C.conditions_to_list(None) == []
    with pytest.raises(ConversionError):
        C.conditions_to_list(_CONDS)


@pytest.mark.parametrize("longhorn", ["v1.4.3", "v1.6.2", "v1.7.3", "v1.8.1"])
def test_node_round_trips_through_v1beta1(longhorn: str) -> None:
    """LM v1beta1/node.go @v1.4.3 … @v1.8.1 ConvertFrom/ConvertTo: status.conditions and each
    diskStatus's conditions are a map in v1beta1, a list in v1beta2; the seeded node of each
    release comes back unchanged."""
    node = M.longhorn_node("n1", 0, 30, longhorn)
    node["status"] = {
        "conditions": _CONDS,
        "diskStatus": {"d": {"conditions": _CONDS[:1], "storageMaximum": 10}},
    }
    old = C.convert_object(node, C.SPOKE, longhorn)
    assert old["apiVersion"] == "longhorn.io/v1beta1"
    assert set(old["status"]["conditions"]) == {"Ready", "Schedulable"}
    assert old["status"]["diskStatus"]["d"]["conditions"]["Ready"]["status"] == "True"
    assert old["spec"] == node["spec"] and old["metadata"] == node["metadata"]
    assert C.convert_object(old, C.HUB, longhorn) == node


def test_volume_and_engine_image_conditions_and_data_locality() -> None:
    """LM v1beta1/volume.go and engineimage.go @v1.8.1: conditions map <-> list; a v1beta1
    Volume without dataLocality becomes "disabled" in v1beta2 (ConvertTo)."""
    vol = {
        "apiVersion": C.HUB,
        "kind": "Volume",
        "metadata": {"name": "v"},
        "spec": {"dataLocality": "best-effort"},
        "status": {"conditions": _CONDS, "state": "attached"},
    }
    old = C.convert_object(vol, C.SPOKE, "v1.8.1")
    assert old["status"]["conditions"]["Ready"] == _CONDS[0] and old["status"]["state"] == "attached"
    assert C.convert_object(old, C.HUB, "v1.8.1") == vol
    bare = {"apiVersion": C.SPOKE, "kind": "Volume", "metadata": {"name": "v"}, "spec": {"size": "1"}}
    assert C.convert_object(bare, C.HUB, "v1.8.1")["spec"] == {"size": "1", "dataLocality": "disabled"}
    ei = {
        "apiVersion": C.HUB,
        "kind": "EngineImage",
        "metadata": {"name": "ei"},
        "spec": {"image": "i"},
        "status": {"conditions": _CONDS[:1], "state": "deployed", "cliAPIVersion": 8},
    }
    old = C.convert_object(ei, C.SPOKE, "v1.8.1")
    assert old["status"]["conditions"] == {"Ready": _CONDS[0]}
    assert C.convert_object(old, C.HUB, "v1.8.1") == ei


def test_backing_image_disks_and_the_v17_conversion_panic() -> None:
    """LM v1beta1/backingimage.go: spec.disks is a set ({disk: {}}) in v1beta1 and {disk: ""} in
    v1beta2 (v1.4.3, v1.6.2 round-trip); from v1.7.0 ConvertTo also writes diskFileSpecMap[disk]
    into a nil map (a panic), so a v1beta1 BackingImage with disks cannot be converted back."""
    body, status = M.backing_image("bi", "v1.6.2", ["u1", "u2"])
    bi = {"kind": "BackingImage", **body, "status": status}
    old = C.convert_object(bi, C.SPOKE, "v1.6.2")
    assert old["spec"]["disks"] == {"u1": {}, "u2": {}}
    assert old["status"] == bi["status"]
    assert C.convert_object(old, C.HUB, "v1.6.2") == bi
    body, status = M.backing_image("bi", "v1.8.1", ["u1"])
    old = C.convert_object({"kind": "BackingImage", **body, "status": status}, C.SPOKE, "v1.8.1")
    assert old["spec"]["disks"] == {"u1": {}}
    with pytest.raises(ConversionError, match="nil map"):
        C.convert_object(old, C.HUB, "v1.8.1")
    empty = {"apiVersion": C.SPOKE, "kind": "BackingImage", "metadata": {"name": "e"}, "spec": {"disks": {}}}
    assert C.convert_object(empty, C.HUB, "v1.8.1")["spec"]["disks"] == {}


@pytest.mark.parametrize("review_version", ["apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1"])
def test_conversion_review_envelope(review_version: str) -> None:
    """The apiserver sends the first of the CRD's conversionReviewVersions it knows; upstream's CRDs
    list [v1beta2, v1beta1], so apiextensions.k8s.io/v1beta1 (LM k8s/crds.yaml @v1.8.1), and
    LM webhook/conversion/conversion.go answers in the request's version, uid echoed; a failed
    object fails the whole review."""
    obj = {"apiVersion": C.HUB, "kind": "EngineImage", "metadata": {"name": "ei"}, "status": {"conditions": _CONDS}}
    review = {
        "apiVersion": review_version,
        "kind": "ConversionReview",
        "request": {"uid": "u-1", "desiredAPIVersion": C.SPOKE, "objects": [obj]},
    }
    out = respond_conversion(review, lambda o, d, _: C.convert_object(o, d, "v1.8.1"), None)
    assert (out["apiVersion"], out["kind"], out["response"]["uid"]) == (review_version, "ConversionReview", "u-1")
    assert out["response"]["result"]["status"] == "Success"
    assert set(out["response"]["convertedObjects"][0]["status"]["conditions"]) == {"Ready", "Schedulable"}
    review["request"]["objects"] = [{**obj, "kind": "Snapshot"}]
    failed = respond_conversion(review, lambda o, d, _: C.convert_object(o, d, "v1.8.1"), None)["response"]
    assert failed["result"]["status"] == "Failure" and "convertedObjects" not in failed


# -- v1beta1 through the conversion webhook (live) ---------------------------------------------------------
def _v1beta1(res: R.Resource) -> R.Resource:
    return R.Resource(res.group, "v1beta1", res.plural, res.kind, res.namespaced)


_CONVERTED = {
    "Node": R.LONGHORN_NODES,
    "Volume": R.LONGHORN_VOLUMES,
    "EngineImage": R.LONGHORN_ENGINE_IMAGES,
    "BackingImage": R.LONGHORN_BACKING_IMAGES,
}


def test_v1beta1_served_through_the_conversion_webhook(cl143):
    """LM k8s/crds.yaml @v1.7.3 (and v1.4.3, v1.6.2, v1.8.1): nodes, volumes, engineimages and
    backingimages serve v1beta1 (not stored) with `conversion: strategy: Webhook`, served by
    longhorn-conversion-webhook at /v1/webhook/conversion."""
    for kind, res in _CONVERTED.items():
        crd = cl143.get(R.CRDS, res.key)
        versions = {v["name"]: (v["served"], v["storage"]) for v in crd["spec"]["versions"]}
        assert versions == {"v1beta1": (True, False), "v1beta2": (True, True)}, kind
        webhook = crd["spec"]["conversion"]["webhook"]
        assert crd["spec"]["conversion"]["strategy"] == "Webhook"
        assert webhook["clientConfig"]["url"].endswith("/v1/webhook/conversion") and webhook["clientConfig"]["caBundle"]
    listing = cl143.request("GET", "/apis/longhorn.io/v1beta1")
    assert set(_CONVERTED) <= {r["kind"] for r in listing["resources"] if "/" not in r["name"]}


def test_v1beta1_reads_conditions_as_a_map(cl143):
    """LM v1beta1/{node,volume,engineimage,backingimage}.go @v1.7.3 ConvertFrom: read as v1beta1,
    Node, its disks, Volume and EngineImage conditions are maps keyed by type, the same conditions
    as the v1beta2 list; BackingImage spec.disks is a set of the v1beta2 disks."""
    wait_for("cluster-seeded", lambda: bool(cl143.list(R.LONGHORN_VOLUMES, NS)))
    for kind, res in _CONVERTED.items():
        new = {o["metadata"]["name"]: o for o in cl143.list(res, NS)}
        old = {o["metadata"]["name"]: o for o in cl143.list(_v1beta1(res), NS)}
        assert new and set(old) == set(new), kind
        for name, obj in old.items():
            assert obj["apiVersion"] == "longhorn.io/v1beta1"
            conds = (obj.get("status") or {}).get("conditions")
            if kind == "BackingImage":
                assert obj["spec"]["disks"] == {d: {} for d in new[name]["spec"]["disks"]}
                continue
            assert isinstance(conds, dict), f"{kind} {name}"
            assert conds == _by_type(new[name]["status"].get("conditions") or []), f"{kind} {name}"
            if kind == "Node":
                for disk, st in obj["status"]["diskStatus"].items():
                    assert st["conditions"] == _by_type(new[name]["status"]["diskStatus"][disk]["conditions"])
                    assert "Ready" in st["conditions"]
                assert {"Ready", "Schedulable"} <= set(conds)
    name = cl143.list(R.LONGHORN_NODES, NS)[0]["metadata"]["name"]
    got = cl143.get(_v1beta1(R.LONGHORN_NODES), name, NS)
    assert got["kind"] == "Node" and isinstance(got["status"]["conditions"], dict)


def test_v1beta1_write_reads_back_as_v1beta2(cl143):
    """LM v1beta1/node.go and volume.go @v1.7.3 ConvertTo: a Node written as v1beta1 (conditions a
    map) is stored as v1beta2 with the same conditions as a list; a v1beta1 Volume without
    dataLocality gets "disabled" (checked with a server-side dry run)."""
    name = cl143.list(R.LONGHORN_NODES, NS)[0]["metadata"]["name"]
    before = cl143.get(R.LONGHORN_NODES, name, NS)
    old = cl143.get(_v1beta1(R.LONGHORN_NODES), name, NS)
    old["metadata"].setdefault("annotations", {})["conformance.test/v1beta1-write"] = "yes"
    try:
        written = cl143.replace(_v1beta1(R.LONGHORN_NODES), old)
        assert written["apiVersion"] == "longhorn.io/v1beta1" and isinstance(written["status"]["conditions"], dict)
        after = cl143.get(R.LONGHORN_NODES, name, NS)
        assert after["metadata"]["annotations"]["conformance.test/v1beta1-write"] == "yes"
        assert isinstance(after["status"]["conditions"], list)
        assert _by_type(after["status"]["conditions"]).keys() == _by_type(before["status"]["conditions"]).keys()
        assert after["spec"] == before["spec"]
    finally:
        cl143.patch(R.LONGHORN_NODES, name, {"metadata": {"annotations": {"conformance.test/v1beta1-write": None}}}, NS)
    vol = cl143.list(_v1beta1(R.LONGHORN_VOLUMES), NS)[0]
    vol["spec"].pop("dataLocality", None)
    path = _v1beta1(R.LONGHORN_VOLUMES).path(NS, vol["metadata"]["name"])
    dry = cl143.request("PUT", path, body=vol, query={"dryRun": "All"})
    assert dry["spec"]["dataLocality"] == "disabled"


@pytest.mark.parametrize(("profile", "writable"), [("v1.2.1", True), ("v1.4.3", False)])
def test_v1beta1_backing_image_write_by_release(emulated, profile: str, writable: bool):
    """LM v1beta1/backingimage.go ConvertTo: at v1.4.3 a v1beta1 BackingImage's disks set becomes
    {disk: ""}; from v1.7.0 (here v1.7.3) it also writes diskFileSpecMap into a nil map, a panic
    in the conversion webhook, so the apiserver refuses the v1beta1 write."""
    cl = _client(emulated, profile)
    try:
        bi = cl.list(_v1beta1(R.LONGHORN_BACKING_IMAGES), NS)[0]
        assert bi["spec"]["disks"] and all(v == {} for v in bi["spec"]["disks"].values())
        path = _v1beta1(R.LONGHORN_BACKING_IMAGES).path(NS, bi["metadata"]["name"])
        if writable:
            dry = cl.request("PUT", path, body=bi, query={"dryRun": "All"})
            assert dry["spec"]["disks"] == bi["spec"]["disks"]
            stored = cl.get(R.LONGHORN_BACKING_IMAGES, bi["metadata"]["name"], NS)
            assert stored["spec"]["disks"] == {d: "" for d in bi["spec"]["disks"]}
        else:
            with pytest.raises(ApiError, match="conversion webhook"):
                cl.request("PUT", path, body=bi, query={"dryRun": "All"}, attempts=1)
    finally:
        cl.close()
