"""The Longhorn area of the emulated cluster, against its real API (facts.md §6-§9, §16).

Every behaviour and every fault is shown both ways with direct API reads: the healthy state
satisfies the invariant's statement, the injected fault violates it naming the object, and the
revert restores it.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import manage
from harvester_conformance.emulator.areas import all_faults
from harvester_conformance.emulator.areas import longhorn_model as M
from harvester_conformance.emulator.faults import fault_of
from harvester_conformance.waits import wait_for

from .conftest import never

NS = "longhorn-system"
TEST_NS = "lh-area-test"
CRITICAL_VALUE = 2_000_000_000
STUCK_WINDOW = 8  # seconds: four ticks of the simulated longhorn-manager


@pytest.fixture(scope="module")
def volume(cl):
    """A PVC of harvester-longhorn used by a running pod: an attached Longhorn volume."""
    cl.apply(R.NAMESPACES, {"metadata": {"name": TEST_NS}}, manager="test")
    cl.create(
        R.PVCS,
        {
            "metadata": {"name": "data", "namespace": TEST_NS},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "volumeMode": "Block",
                "storageClassName": "harvester-longhorn",
                "resources": {"requests": {"storage": "20Gi"}},
            },
        },
        TEST_NS,
    )
    _start_pod(cl, "user")
    pvc = cl.get(R.PVCS, "data", TEST_NS)
    name = f"pvc-{pvc['metadata']['uid']}"
    wait_for("cluster-seeded", lambda: _state(cl, name) == ("attached", "healthy"))
    yield name
    cl.delete(R.PODS, "user", TEST_NS)
    cl.delete(R.PVCS, "data", TEST_NS)
    wait_for("object-deleted", lambda: cl.get(R.LONGHORN_VOLUMES, name, NS) is None)


def _start_pod(cl: Cluster, name: str) -> None:
    body = {
        "metadata": {"name": name, "namespace": TEST_NS},
        "spec": {
            "containers": [{"name": "c", "image": "registry.suse.com/bci/bci-busybox:15.6"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }

    def created() -> bool:  # the namespace's default ServiceAccount may not exist yet
        cl.create(R.PODS, body, TEST_NS)
        return True

    wait_for("cluster-seeded", created)
    wait_for(
        "cluster-seeded", lambda: (cl.get(R.PODS, name, TEST_NS) or {}).get("status", {}).get("phase") == "Running"
    )


def _state(cl: Cluster, volume: str) -> tuple[str, str]:
    st = (cl.get(R.LONGHORN_VOLUMES, volume, NS) or {}).get("status") or {}
    return st.get("state", ""), st.get("robustness", "")


def _setting(cl: Cluster, name: str) -> dict | None:
    return cl.get(R.LONGHORN_SETTINGS, name, NS)


def _fault(fid: str):
    return all_faults()[fid]


def _disk_of(cl: Cluster, replica: dict) -> tuple[str, str]:
    node = cl.get(R.LONGHORN_NODES, replica["spec"]["nodeID"], NS)
    disk = next(n for n, d in node["status"]["diskStatus"].items() if d["diskUUID"] == replica["spec"]["diskID"])
    return node["metadata"]["name"], disk


def _scheduled(cl: Cluster, node: str, disk: str) -> dict:
    return (cl.get(R.LONGHORN_NODES, node, NS) or {})["status"]["diskStatus"][disk].get("scheduledReplica") or {}


def _evictable_disk(cl: Cluster, volume: str) -> tuple[str, str]:
    """A disk holding one of the volume's replicas whose replicas all fit on the node's other disk
    (replicas of a volume stay on distinct nodes, so an evicted replica moves within its node; with
    Longhorn 1.6's over-provisioning default of 100% a full node's disk may not fit on the other)."""
    over = int(_setting(cl, "storage-over-provisioning-percentage")["value"])
    for r in cl.list(R.LONGHORN_REPLICAS, NS, f"longhornvolume={volume}"):
        node, disk = _disk_of(cl, r)
        lh = cl.get(R.LONGHORN_NODES, node, NS)
        load = lh["status"]["diskStatus"][disk]["storageScheduled"]
        for other, st in lh["status"]["diskStatus"].items():
            room = (st["storageMaximum"] - lh["spec"]["disks"][other]["storageReserved"]) * over // 100
            if other != disk and st["storageScheduled"] + load <= room:
                return node, disk
    raise AssertionError(f"no disk of {volume} can be evicted within its node")


def _managed_pods(cl: Cluster) -> list[dict]:
    apps = [d["spec"]["selector"]["matchLabels"]["app"] for d in cl.list(R.DEPLOYMENTS, NS)]
    apps += [d["spec"]["selector"]["matchLabels"]["app"] for d in cl.list(R.DAEMONSETS, NS)]
    pods = []
    for p in cl.list(R.PODS, NS):
        labels = p["metadata"].get("labels") or {}
        if labels.get("longhorn.io/managed-by") == "longhorn-manager" and not p["metadata"].get("deletionTimestamp"):
            pods.append(p)
    assert apps
    return pods


def _unprioritised(cl: Cluster) -> list[str]:
    return [
        p["metadata"]["name"]
        for p in _managed_pods(cl)
        if p["spec"].get("priorityClassName") != M.CRITICAL or p["spec"].get("priority") != CRITICAL_VALUE
    ]


# -- seed ------------------------------------------------------------------------------------------
def test_settings_classes_and_components_seeded(cl):
    values = {s["metadata"]["name"]: s["value"] for s in cl.list(R.LONGHORN_SETTINGS, NS)}
    assert values["default-replica-count"] == "3"
    # Longhorn 1.6.2's own default (100), until Harvester's controller copies overcommit-config's
    # storage percentage over it (facts §17.3); the seed never overwrites that copy.
    overcommit = json.loads((cl.get(R.HARVESTER_SETTINGS, "overcommit-config") or {}).get("value") or "{}")
    assert values["storage-over-provisioning-percentage"] in {"100", str(overcommit.get("storage", 200))}
    assert values["storage-minimal-available-percentage"] == "25"
    assert values["storage-reserved-percentage-for-default-disk"] == "30"  # Longhorn 1.6.2 has it
    assert values["priority-class"] == M.CRITICAL
    assert values["taint-toleration"] == "kubevirt.io/drain:NoSchedule"
    assert values["current-longhorn-version"] == "v1.6.2"
    sc = cl.get(R.STORAGE_CLASSES, "harvester-longhorn")
    assert sc["provisioner"] == "driver.longhorn.io"
    assert sc["parameters"] == {"numberOfReplicas": "3", "staleReplicaTimeout": "30", "migratable": "true"}
    assert cl.get(R.STORAGE_CLASSES, "longhorn")["provisioner"] == "driver.longhorn.io"
    assert cl.get(R.CSI_DRIVERS, "driver.longhorn.io") is not None
    snap = cl.get(R.VOLUME_SNAPSHOT_CLASSES, "longhorn-snapshot")
    bak = cl.get(R.VOLUME_SNAPSHOT_CLASSES, "longhorn")
    assert (snap["driver"], snap["parameters"]["type"]) == ("driver.longhorn.io", "snap")
    assert (bak["driver"], bak["parameters"]["type"]) == ("driver.longhorn.io", "bak")
    jobs = cl.list(R.LONGHORN_RECURRING_JOBS, NS)
    assert any(j["spec"]["task"] == "backup" and j["spec"]["cron"] and j["spec"]["retain"] > 0 for j in jobs)
    images = cl.list(R.LONGHORN_ENGINE_IMAGES, NS)
    assert [(i["status"]["state"], i["status"]["version"]) for i in images] == [("deployed", "v1.6.2")]


def test_system_managed_pods_run_with_the_priority_class(cl):
    """LPC-02/03 healthy: every system-managed pod has system-cluster-critical = 2000000000, set by
    the Priority admission plugin on pods the controllers created; longhorn-manager is not managed."""
    pc = cl.get(R.PRIORITY_CLASSES, M.CRITICAL)
    assert pc["value"] == CRITICAL_VALUE
    pods = _managed_pods(cl)
    names = {p["metadata"]["name"] for p in pods}
    for prefix in ("csi-attacher-", "csi-provisioner-", "csi-resizer-", "csi-snapshotter-", "engine-image-ei-"):
        assert any(n.startswith(prefix) for n in names), prefix
    assert sum(n.startswith("longhorn-csi-plugin-") for n in names) == 3
    ims = [n for n in names if n.startswith("instance-manager-")]
    assert len(ims) == 3 and all(len(n) == len("instance-manager-") + 32 for n in ims)  # aio from 1.5
    assert _unprioritised(cl) == []
    assert all(p["status"]["phase"] == "Running" and p["spec"].get("nodeName") for p in pods)
    manager = cl.list(R.PODS, NS, "app=longhorn-manager")
    assert len(manager) == 3 and not any("longhorn.io/managed-by" in p["metadata"]["labels"] for p in manager)


def test_longhorn_nodes_and_disk_accounting(cl):
    """EVI-01 / MET-03 / MET-04 healthy: one Longhorn node per node, consistent disk figures."""
    k8s = sorted(n["metadata"]["name"] for n in cl.list(R.NODES))
    nodes = cl.list(R.LONGHORN_NODES, NS)
    assert sorted(n["metadata"]["name"] for n in nodes) == k8s
    maxima = set()
    for node in nodes:
        assert node["spec"]["allowScheduling"] is True
        conds = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert conds == {"Ready": "True", "Schedulable": "True", "MountPropagation": "True"}
        defaults = [d for d in node["spec"]["disks"] if d.startswith("default-disk-")]
        assert len(defaults) == 1
        disk = node["spec"]["disks"][defaults[0]]
        status = node["status"]["diskStatus"][defaults[0]]
        assert disk["path"] == "/var/lib/harvester/defaultdisk" and disk["diskType"] == "filesystem"
        assert disk["storageReserved"] == status["storageMaximum"] * 30 // 100
        maxima.add(status["storageMaximum"])
        for name, st in node["status"]["diskStatus"].items():
            assert st["storageScheduled"] == sum((st.get("scheduledReplica") or {}).values()), name
            assert 0 <= st["storageAvailable"] <= st["storageMaximum"]
            assert node["spec"]["disks"][name]["storageReserved"] <= st["storageMaximum"]
            assert {c["type"]: c["status"] for c in st["conditions"]} == {"Ready": "True", "Schedulable": "True"}
    assert len(maxima) == len(nodes)  # each node its own disk size


# -- provisioning, attachment, eviction --------------------------------------------------------------
def test_pvc_gets_a_bound_pv_and_an_attached_replicated_volume(cl, volume):
    pvc = cl.get(R.PVCS, "data", TEST_NS)
    assert pvc["status"]["phase"] == "Bound" and pvc["spec"]["volumeName"] == volume
    pv = cl.get(R.PERSISTENT_VOLUMES, volume)
    assert pv["spec"]["csi"]["driver"] == "driver.longhorn.io" and pv["status"]["phase"] == "Bound"
    vol = cl.get(R.LONGHORN_VOLUMES, volume, NS)
    assert vol["spec"]["numberOfReplicas"] == 3 and vol["spec"]["accessMode"] == "rwx"
    assert vol["spec"]["size"] == str(20 * 1024**3)
    pod = cl.get(R.PODS, "user", TEST_NS)
    assert vol["status"]["currentNodeID"] == pod["spec"]["nodeName"]
    assert vol["status"]["kubernetesStatus"]["pvcName"] == "data"
    reps = cl.list(R.LONGHORN_REPLICAS, NS, f"longhornvolume={volume}")
    assert len(reps) == 3 and len({r["spec"]["nodeID"] for r in reps}) == 3
    assert all(r["status"]["currentState"] == "running" for r in reps)
    for r in reps:
        node, disk = _disk_of(cl, r)
        assert _scheduled(cl, node, disk)[r["metadata"]["name"]] == 20 * 1024**3


def test_volume_detaches_when_its_pod_stops(cl, volume):
    cl.delete(R.PODS, "user", TEST_NS)
    wait_for("cluster-seeded", lambda: _state(cl, volume) == ("detached", "unknown"))
    reps = cl.list(R.LONGHORN_REPLICAS, NS, f"longhornvolume={volume}")
    assert all(r["status"]["currentState"] == "stopped" for r in reps)
    wait_for("object-deleted", lambda: cl.get(R.PODS, "user", TEST_NS) is None)
    _start_pod(cl, "user")
    wait_for("cluster-seeded", lambda: _state(cl, volume) == ("attached", "healthy"))


def test_eviction_empties_the_disk_and_volume_stays_healthy(cl, volume):
    """EVI-03 healthy (article: evicting replicas from a disk the CLI way)."""
    node, disk = _evictable_disk(cl, volume)
    assert _scheduled(cl, node, disk)
    cl.patch(
        R.LONGHORN_NODES, node, {"spec": {"disks": {disk: {"allowScheduling": False, "evictionRequested": True}}}}, NS
    )
    seen: list[tuple[str, str]] = []

    def emptied() -> bool:
        seen.append(_state(cl, volume))
        return _scheduled(cl, node, disk) == {}

    try:
        wait_for("cluster-seeded", emptied)  # a disk may hold ~20 replicas: 5 per tick
        assert set(seen) == {("attached", "healthy")}
        reps = cl.list(R.LONGHORN_REPLICAS, NS, f"longhornvolume={volume}")
        assert len({r["spec"]["nodeID"] for r in reps}) == 3
        assert all(_disk_of(cl, r) != (node, disk) for r in reps)
    finally:
        patch = {"spec": {"disks": {disk: {"allowScheduling": True, "evictionRequested": False}}}}
        cl.patch(R.LONGHORN_NODES, node, patch, NS)


def test_priority_class_change_deferred_while_attached(cl, volume):
    """LPC-04 on Longhorn 1.6.2: the change is accepted, and longhorn-manager leaves the components
    alone while volumes are attached (LM setting_controller.go updatePriorityClass @v1.6.2); a class
    that does not exist is still refused (datastore/longhorn.go ValidateSetting)."""
    try:
        cl.patch(R.LONGHORN_SETTINGS, "priority-class", {"value": ""}, NS)
        assert _setting(cl, "priority-class")["value"] == ""
        assert never(lambda: _unprioritised(cl) != [], 5)
        assert "applied" not in (_setting(cl, "priority-class").get("status") or {})  # from 1.7 only
    finally:
        cl.patch(R.LONGHORN_SETTINGS, "priority-class", {"value": M.CRITICAL}, NS)
    with pytest.raises(ApiError) as err:
        cl.patch(R.LONGHORN_SETTINGS, "priority-class", {"value": "no-such-class"}, NS)
    assert "failed to get priority class no-such-class" in err.value.message
    # Other settings are not held back by attached volumes.
    cl.patch(R.LONGHORN_SETTINGS, "default-data-locality", {"value": "best-effort"}, NS)
    cl.patch(R.LONGHORN_SETTINGS, "default-data-locality", {"value": "disabled"}, NS)


# -- faults ----------------------------------------------------------------------------------------------
def test_fault_evi02_stuck_eviction(cl, volume):
    def stuck_disks() -> list[tuple[str, str]]:
        out = []
        for node in cl.list(R.LONGHORN_NODES, NS):
            for name, d in node["spec"]["disks"].items():
                if d.get("evictionRequested") and node["status"]["diskStatus"][name].get("scheduledReplica"):
                    assert d["allowScheduling"] is False
                    out.append((node["metadata"]["name"], name))
        return out

    assert stuck_disks() == []
    _fault("EVI-02").inject(cl)
    try:
        found = stuck_disks()
        assert len(found) == 1
        assert never(lambda: stuck_disks() == [], STUCK_WINDOW)
    finally:
        _fault("EVI-02").revert(cl)
    assert stuck_disks() == []
    assert all(fault_of(n) == "" for n in cl.list(R.LONGHORN_NODES, NS))


def test_fault_evi03_eviction_never_completes(cl, volume):
    node, disk = _evictable_disk(cl, volume)
    rep = next(
        r for r in cl.list(R.LONGHORN_REPLICAS, NS, f"longhornvolume={volume}") if _disk_of(cl, r) == (node, disk)
    )
    request = {"spec": {"disks": {disk: {"allowScheduling": False, "evictionRequested": True}}}}
    restore = {"spec": {"disks": {disk: {"allowScheduling": True, "evictionRequested": False}}}}
    _fault("EVI-03").inject(cl)
    try:
        cl.patch(R.LONGHORN_NODES, node, request, NS)
        assert never(lambda: _scheduled(cl, node, disk) == {}, STUCK_WINDOW)
        assert rep["metadata"]["name"] in _scheduled(cl, node, disk)
    finally:
        cl.patch(R.LONGHORN_NODES, node, restore, NS)
        _fault("EVI-03").revert(cl)
    cl.patch(R.LONGHORN_NODES, node, request, NS)
    try:
        wait_for("cluster-seeded", lambda: _scheduled(cl, node, disk) == {})
        assert _state(cl, volume) == ("attached", "healthy")
    finally:
        cl.patch(R.LONGHORN_NODES, node, restore, NS)


def _reserved_problems(cl: Cluster, pct: int = 30) -> list[str]:
    out = []
    for node in cl.list(R.LONGHORN_NODES, NS):
        for name, d in node["spec"]["disks"].items():
            maximum = node["status"]["diskStatus"][name]["storageMaximum"]
            if d["storageReserved"] > maximum:
                out.append(f"{node['metadata']['name']}/{name}: reserved above maximum")
            if name.startswith("default-disk-") and d["storageReserved"] != maximum * pct // 100:
                out.append(f"{node['metadata']['name']}/{name}: reserved is not {pct}%")
    return out


def test_fault_met03_reserved_above_maximum(cl):
    assert _reserved_problems(cl) == []
    _fault("MET-03").inject(cl)
    try:
        problems = _reserved_problems(cl)
        assert any("reserved above maximum" in p and p.startswith("harvester-node-0/default-disk-") for p in problems)
        # longhorn-manager reports the disk as not schedulable.
        node = cl.get(R.LONGHORN_NODES, "harvester-node-0", NS)
        disk = next(d for d in node["spec"]["disks"] if d.startswith("default-disk-"))
        wait_for(
            "cluster-seeded",
            lambda: any(
                c["type"] == "Schedulable" and c["status"] == "False"
                for c in cl.get(R.LONGHORN_NODES, "harvester-node-0", NS)["status"]["diskStatus"][disk]["conditions"]
            ),
        )
    finally:
        _fault("MET-03").revert(cl)
    assert _reserved_problems(cl) == []


def test_fault_met04_stale_reserved_percentage(cl):
    _fault("MET-04").inject(cl)
    try:
        problems = _reserved_problems(cl)
        assert problems == [p for p in problems if "is not 30%" in p] and len(problems) == 1
    finally:
        _fault("MET-04").revert(cl)
    assert _reserved_problems(cl) == []


def test_fault_lpc01_priority_class_unset_deferred_while_attached(cl, volume):
    """On Longhorn 1.6.2 the emptied setting waits for every volume to detach: the components keep
    their class; the 1.6 schema has no `status.applied`, so none is written (facts §17.3)."""
    assert _setting(cl, "priority-class")["value"] == M.CRITICAL
    _fault("LPC-01").inject(cl)
    try:
        setting = _setting(cl, "priority-class")
        assert setting["value"] == ""
        assert never(lambda: _unprioritised(cl) != [], 5)
        assert "applied" not in (_setting(cl, "priority-class").get("status") or {})
    finally:
        _fault("LPC-01").revert(cl)
    assert _setting(cl, "priority-class")["value"] == M.CRITICAL
    assert _unprioritised(cl) == []


def test_fault_lpc03_component_without_priority_class(cl):
    assert _unprioritised(cl) == []
    _fault("LPC-03").inject(cl)
    try:
        bad = _unprioritised(cl)
        assert len(bad) == 3 and all(n.startswith("csi-resizer-") for n in bad)
        assert never(lambda: _unprioritised(cl) == [], 5)
    finally:
        _fault("LPC-03").revert(cl)
    assert _unprioritised(cl) == []


def test_fault_evi01_stale_longhorn_node(cl):
    def unmatched() -> list[str]:
        k8s = {n["metadata"]["name"] for n in cl.list(R.NODES)}
        return sorted(n["metadata"]["name"] for n in cl.list(R.LONGHORN_NODES, NS) if n["metadata"]["name"] not in k8s)

    assert unmatched() == []
    _fault("EVI-01").inject(cl)
    try:
        assert unmatched() == ["harvester-node-3"]

        def gone() -> bool:
            node = cl.get(R.LONGHORN_NODES, "harvester-node-3", NS)
            conds = (node.get("status") or {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["reason"] == "KubernetesNodeGone" for c in conds)

        wait_for("cluster-seeded", gone)
    finally:
        _fault("EVI-01").revert(cl)
    assert unmatched() == []


def _engine_errors(cl: Cluster, volume: str) -> list[str]:
    engines = cl.list(R.LONGHORN_ENGINES, NS, f"longhornvolume={volume}")
    assert len(engines) == 1
    modes = (engines[0].get("status") or {}).get("replicaModeMap") or {}
    return sorted(r for r, mode in modes.items() if mode == "ERR")


def test_fault_upg01_degraded_volume(cl, volume):
    def degraded() -> list[str]:
        return [
            v["metadata"]["name"]
            for v in cl.list(R.LONGHORN_VOLUMES, NS)
            if v["status"].get("robustness") == "degraded"
        ]

    assert degraded() == []
    _fault("UPG-01").inject(cl)
    try:
        names = degraded()
        assert len(names) == 1
        failed = [
            r
            for r in cl.list(R.LONGHORN_REPLICAS, NS, f"longhornvolume={names[0]}")
            if r["status"]["currentState"] == "error"
        ]
        assert len(failed) == 1
        assert _engine_errors(cl, names[0]) == [failed[0]["metadata"]["name"]]  # seen through its engine
        assert never(lambda: degraded() == [], 5)
    finally:
        _fault("UPG-01").revert(cl)
    assert degraded() == []
    wait_for("cluster-seeded", lambda: _engine_errors(cl, volume) == [])
    assert _state(cl, volume) == ("attached", "healthy")


def test_fault_lhp01_replica_count_above_schedulable_nodes(cl):
    def excess() -> bool:
        count = int(_setting(cl, "default-replica-count")["value"])
        schedulable = [n for n in cl.list(R.LONGHORN_NODES, NS) if n["spec"]["allowScheduling"]]
        return count > len(schedulable)

    assert not excess()
    _fault("LHP-01").inject(cl)
    try:
        assert excess()
    finally:
        _fault("LHP-01").revert(cl)
    assert not excess()


# -- Longhorn 1.4 (Harvester v1.2.1), no VMs ------------------------------------------------------------
@pytest.fixture(scope="module")
def cl121():
    """Harvester v1.2.1 without VMs, so that no volume is attached (the article's precondition)."""
    name = f"lh-test-{os.getpid()}-v121"
    st, _ = manage.up("v1.2.1", vms=0, name=name, progress=lambda m: None)
    cluster = Cluster.from_kubeconfig(str(st.kubeconfig))
    yield cluster
    cluster.close()
    assert manage.down(name) == []
    shutil.rmtree(st.dir, ignore_errors=True)


def test_v121_longhorn_1_4_layout(cl121):
    """Harvester v1.2.1 ships Longhorn v1.4.3: instance-manager-e/-r per node, no reserved-percentage
    setting (30% built in), no diskType (facts §6, §8)."""
    cl = cl121
    names = {s["metadata"]["name"] for s in cl.list(R.LONGHORN_SETTINGS, NS)}
    assert "storage-reserved-percentage-for-default-disk" not in names
    assert _setting(cl, "current-longhorn-version")["value"] == "v1.4.3"
    assert _setting(cl, "priority-class")["value"] == M.CRITICAL
    ims = sorted(p["metadata"]["name"] for p in cl.list(R.PODS, NS, "longhorn.io/component=instance-manager"))
    assert len(ims) == 6
    assert sum(n.startswith("instance-manager-e-") for n in ims) == 3
    assert sum(n.startswith("instance-manager-r-") for n in ims) == 3
    assert _unprioritised(cl) == []
    for node in cl.list(R.LONGHORN_NODES, NS):
        for name, disk in node["spec"]["disks"].items():
            assert "diskType" not in disk
            if name.startswith("default-disk-"):
                maximum = node["status"]["diskStatus"][name]["storageMaximum"]
                assert disk["storageReserved"] == maximum * 30 // 100


def test_v121_priority_class_change_applied_when_nothing_is_attached(cl121):
    """LPC-04 the other way: with every volume detached the change is accepted and longhorn-manager
    applies it to the system-managed workloads (rolled out) and instance managers (recreated)."""
    cl = cl121
    assert not [v for v in cl.list(R.LONGHORN_VOLUMES, NS) if v["status"].get("state") == "attached"]
    count = len(_managed_pods(cl))
    assert count == 4 * 3 + 3 + 3 + 6
    try:
        cl.patch(R.LONGHORN_SETTINGS, "priority-class", {"value": ""}, NS)
        wait_for("cluster-seeded", lambda: all(not p["spec"].get("priorityClassName") for p in _managed_pods(cl)))
        assert all(p["spec"].get("priority", 0) == 0 for p in _managed_pods(cl))
        assert "applied" not in (_setting(cl, "priority-class").get("status") or {})  # 1.7+ only
        assert all(p["spec"].get("priority", 0) == 0 for p in cl.list(R.PODS, NS, "app=longhorn-manager"))
    finally:
        cl.patch(R.LONGHORN_SETTINGS, "priority-class", {"value": M.CRITICAL}, NS)
        wait_for("cluster-seeded", lambda: _unprioritised(cl) == [] and len(_managed_pods(cl)) == count)


# -- best practices and images ---------------------------------------------------------------------
def dedicated_disk_problems(cl: Cluster) -> list[str]:
    """LHP-04 read directly: every node has a schedulable disk off the root disk's default path
    that holds data (or may take it)."""
    bad = []
    for node in cl.list(R.LONGHORN_NODES, NS):
        spec = node["spec"]["disks"]
        dedicated = [
            d for d, s in spec.items() if s["path"] != "/var/lib/harvester/defaultdisk" and s["allowScheduling"]
        ]
        if not dedicated:
            bad.append(node["metadata"]["name"])
    return bad


def test_fault_lhp04_data_disk_retired(cl):
    assert dedicated_disk_problems(cl) == []
    _fault("LHP-04").inject(cl)
    try:
        assert dedicated_disk_problems(cl) == ["harvester-node-2"]
        node = cl.get(R.LONGHORN_NODES, "harvester-node-2", NS)
        extra = next(d for d, s in node["spec"]["disks"].items() if not d.startswith("default-disk-"))
        assert not node["status"]["diskStatus"][extra].get("scheduledReplica")
    finally:
        _fault("LHP-04").revert(cl)
    assert dedicated_disk_problems(cl) == []


def backup_job_groups(cl: Cluster) -> dict[str, list[str]]:
    return {
        j["metadata"]["name"]: j["spec"].get("groups") or []
        for j in cl.list(R.LONGHORN_RECURRING_JOBS, NS)
        if j["spec"]["task"] == "backup"
    }


def test_fault_lhp05_no_recurring_backup(cl):
    """v1.3.1 has no ScheduleVMBackup: its recurring backups are a Longhorn backup job of group
    default, which the fault moves to a group no volume joins (it then backs nothing up)."""
    assert backup_job_groups(cl) == {"daily-backup": ["default"]}
    _fault("LHP-05").inject(cl)
    try:
        assert backup_job_groups(cl) == {"daily-backup": ["mission-critical"]}
        assert cl.list(R.LONGHORN_VOLUMES, NS, "recurring-job-group.longhorn.io/mission-critical") == []
    finally:
        _fault("LHP-05").revert(cl)
    assert backup_job_groups(cl) == {"daily-backup": ["default"]}


def images_off_longhorn(cl: Cluster) -> list[str]:
    """CSI-02 read directly: every image's storage class is provisioned by Longhorn."""
    classes = {c["metadata"]["name"]: c["provisioner"] for c in cl.list(R.STORAGE_CLASSES)}
    return [
        i["metadata"]["name"]
        for i in cl.list(R.VM_IMAGES)
        if classes.get(i["status"]["storageClassName"]) != "driver.longhorn.io"
    ]


def test_seeded_image_and_fault_csi02(cl):
    """The image links to its backing image through its StorageClass's parameter, as upstream does
    (no backingImageName in the image's status); Harvester v1.3.1 names it `<ns>-<name>`."""
    image = cl.get(R.VM_IMAGES, "image-ubuntu", "default")
    assert image["status"]["progress"] == 100 and "backingImageName" not in image["status"]
    sc = cl.get(R.STORAGE_CLASSES, image["status"]["storageClassName"])
    assert sc["parameters"]["backingImage"] == "default-image-ubuntu"
    assert cl.get(R.LONGHORN_BACKING_IMAGES, "default-image-ubuntu", NS) is not None
    assert images_off_longhorn(cl) == []
    _fault("CSI-02").inject(cl)
    try:
        assert images_off_longhorn(cl) == ["emulator-vendor-image"]
    finally:
        _fault("CSI-02").revert(cl)
    assert images_off_longhorn(cl) == []


def _instance_managers(cl: Cluster) -> list[str]:
    return sorted(
        p["metadata"]["name"]
        for p in cl.list(R.PODS, NS, "longhorn.io/component=instance-manager")
        if not p["metadata"].get("deletionTimestamp")
    )


def test_instance_managers_of_a_passing_version_are_retired(cl):
    """TRM-01 moves Longhorn to v1.4.2 for a while: the manager starts engine/replica managers, and
    once the release's version is back it removes them again (a revert leaves no trace for LPC-03)."""
    aio = _instance_managers(cl)
    assert len(aio) == 3 and not any(n.startswith(("instance-manager-e-", "instance-manager-r-")) for n in aio)
    fault = _fault("TRM-01")
    fault.inject(cl)
    try:
        engines = lambda: [n for n in _instance_managers(cl) if n.startswith("instance-manager-e-")]  # noqa: E731
        wait_for("cluster-seeded", lambda: len(engines()) == 3)
    finally:
        fault.revert(cl)
    wait_for("object-deleted", lambda: _instance_managers(cl) == aio)
    assert {im["metadata"]["name"] for im in cl.list(R.LONGHORN_INSTANCE_MANAGERS, NS)} == set(aio)
