"""Longhorn, network and load-balancer shapes of Harvester v1.6.1, v1.7.3 and v1.8.2 follow
upstream (issue 10, facts-releases.md R4, R5), on each side of the release that changed them.

Pure model functions first; then live emulated clusters of v1.6.1 (Longhorn v1.9.2), v1.7.3
(v1.10.2) and v1.8.2 (v1.11.2).
"""

from __future__ import annotations

import json

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import seed
from harvester_conformance.emulator.areas import harvester_hosts as hosts
from harvester_conformance.emulator.areas import harvester_hosts_ipam as ipam
from harvester_conformance.emulator.areas import longhorn_model as M
from harvester_conformance.emulator.areas import longhorn_settings as S
from harvester_conformance.emulator.profiles import PROFILES
from harvester_conformance.waits import wait_for

NS = "longhorn-system"
HNC_CRD = "hostnetworkconfigs.network.harvesterhci.io"


# -- pure model ----------------------------------------------------------------------------------
def test_data_engine_specific_settings_by_version() -> None:
    """LM types/setting.go: no DataEngineSpecific definition at v1.9.2; at v1.10.2 17 of them, JSON
    defaults (`default-replica-count` {"v1":"3","v2":"3"}, `guaranteed-instance-manager-cpu`
    {"v1":"12","v2":"12"}, `disable-revision-counter` {"v1":"true"}); v1.11.2 adds
    replica-rebuild-concurrent-sync-limit and the two ublk settings and makes
    offline-replica-rebuilding global again."""
    assert S.definitions("v1.9.2") == {}
    ten, eleven = S.definitions("v1.10.2"), S.definitions("v1.11.2")
    assert len(ten) == 17 and len(eleven) == 19
    assert S.encode(ten["default-replica-count"].default) == '{"v1":"3","v2":"3"}'
    assert S.encode(ten["guaranteed-instance-manager-cpu"].default) == '{"v1":"12","v2":"12"}'
    assert S.encode(ten["disable-revision-counter"].default) == '{"v1":"true"}'
    assert "offline-replica-rebuilding" in ten and "offline-replica-rebuilding" not in eleven
    assert {"replica-rebuild-concurrent-sync-limit", "default-ublk-queue-depth"} <= set(eleven) - set(ten)


def test_seeded_settings_plain_before_and_json_from_longhorn_110() -> None:
    """What the release stores (LM datastore/longhorn.go GetSettingValidValue, applied by the 1.10
    mutator and the v1.9->v1.10 upgrade, upgrade/v19xto1100): plain on v1.6.1 (Longhorn 1.9.2),
    JSON per engine on v1.7.3 and v1.8.2. Harvester's chart values (HV values.yaml @v1.6.0+):
    orphan-resource-auto-deletion `instance`; auto-delete-pod-when-volume-detached-unexpectedly
    false on v1.6/v1.7, true with the VMI blacklist from v1.8.0; Longhorn 1.11 replaces
    storage-network-for-rwx-volume-enabled by endpoint-network-for-rwx-volume."""
    old = S.stored_settings("v1.9.2", "v1.6.1")
    assert (old["default-replica-count"], old["disable-revision-counter"], old["guaranteed-instance-manager-cpu"]) == (
        "3",
        "true",
        "12",
    )
    new = S.stored_settings("v1.10.2", "v1.7.3")
    assert new["default-replica-count"] == '{"v1":"3","v2":"3"}'
    assert new["disable-revision-counter"] == '{"v1":"true"}'
    assert new["guaranteed-instance-manager-cpu"] == '{"v1":"12","v2":"12"}'
    assert old["orphan-resource-auto-deletion"] == new["orphan-resource-auto-deletion"] == "instance"
    assert new["auto-delete-pod-when-volume-detached-unexpectedly"] == "false"
    assert "endpoint-network-for-rwx-volume" not in new
    v18 = S.stored_settings("v1.11.2", "v1.8.2")
    assert v18["auto-delete-pod-when-volume-detached-unexpectedly"] == "true"
    assert (
        v18["blacklist-for-auto-delete-pod-when-volume-detached-unexpectedly"] == "kubevirt.io/VirtualMachineInstance"
    )
    assert v18["endpoint-network-for-rwx-volume"] == ""
    assert "orphan-resource-auto-deletion" not in S.stored_settings("v1.8.1", "v1.5.0")


def test_mutator_and_validator_rules() -> None:
    """LM webhook/resources/setting/mutator.go @v1.10.2 (GetSettingValidValue): a plain value for
    every engine of the default, engines the default lacks dropped; types/setting.go
    validateSettingInt: the engines must be the default's ("mismatched data engines"), values in
    range (default-replica-count 1..20)."""
    drc = S.definitions("v1.10.2")["default-replica-count"]
    assert S.valid_value(drc, "2") == '{"v1":"2","v2":"2"}'
    assert S.valid_value(drc, '{"v1":"4","v3":"1"}') == '{"v1":"4"}'
    assert (
        S.problem("default-replica-count", drc, '{"v1":"4"}')
        == "mismatched data engines for setting Default Replica Count"
    )
    assert "less than or equal to 20" in (S.problem("default-replica-count", drc, '{"v1":"3","v2":"21"}') or "")
    assert S.problem("default-replica-count", drc, '{"v1":"3","v2":"3"}') is None
    with pytest.raises(ValueError):
        S.valid_value(drc, "three")
    # Longhorn 1.9.2 validateInt: strconv.Atoi of the whole value, so a JSON map is refused.
    assert "is not a number" in (S.plain_problem("v1.9.2", "default-replica-count", '{"v1":"3","v2":"3"}') or "")
    assert S.plain_problem("v1.10.2", "default-replica-count", "x") is None  # 1.10 has its own rules


def test_crds_per_release() -> None:
    """LM k8s/crds.yaml: v1beta1 served with a conversion webhook at v1.9.2, gone at v1.10.2 (only
    v1beta2, no conversion); CH harvester-network-controller 1.8.0 adds hostnetworkconfigs."""

    def longhorn_nodes(profile: str) -> dict:
        return next(d for d in seed.crd_documents(PROFILES[profile]) if d["metadata"]["name"] == "nodes.longhorn.io")

    old, new = longhorn_nodes("v1.6.1"), longhorn_nodes("v1.7.3")
    assert [v["name"] for v in old["spec"]["versions"]] == ["v1beta1", "v1beta2"] and "conversion" in old["spec"]
    assert [v["name"] for v in new["spec"]["versions"]] == ["v1beta2"] and "conversion" not in new["spec"]
    names = {p: {d["metadata"]["name"] for d in seed.crd_documents(PROFILES[p])} for p in ("v1.7.3", "v1.8.2")}
    assert HNC_CRD not in names["v1.7.3"] and HNC_CRD in names["v1.8.2"]
    assert HNC_CRD not in {d["metadata"]["name"] for d in seed.crd_documents()}


def test_disk_health_data_from_longhorn_111() -> None:
    """LM k8s/pkg/apis/longhorn/v1beta2/node.go DiskStatus: healthData and
    healthDataLastCollectedAt at v1.11.2, not at v1.10.2."""
    assert "healthData" not in M.disk_status_fields("v1.10.2", "default-disk-x", "/p", "im")
    fields = M.disk_status_fields("v1.11.2", "default-disk-x", "/p", "im")
    (data,) = fields["healthData"].values()
    assert data["source"] == "SMART" and data["healthStatus"] == "PASSED" and fields["healthDataLastCollectedAt"]


def _lb(workload: str) -> dict:
    ann = {ipam.ANN_NAMESPACE: "default", ipam.ANN_CLUSTER: "guest-a", ipam.ANN_PROJECT: "p-1"}
    return {"metadata": {"name": "lb", "namespace": "default", "annotations": ann}, "spec": {"workloadType": workload}}


def test_loose_pool_matching_from_lb_170() -> None:
    """LB pkg/ipam/selector.go isMatch and controller/loadbalancer/controller.go selectIPPool
    @v1.7.0 (commit 02717b0d): a cluster load balancer no pool matches strictly is matched again
    with a pool's empty project/guestCluster matching anything; not at v1.6.1, not for VM LBs."""
    pool = {
        "metadata": {"name": "ns-pool", "labels": {}},
        "spec": {"selector": {"scope": [{"namespace": "default", "project": "", "guestCluster": ""}]}},
    }
    assert ipam.select_pool([pool], _lb("cluster"), (1, 6, 1)) is None
    assert ipam.select_pool([pool], _lb("cluster"), (1, 7, 3)) is pool
    assert ipam.select_pool([pool], _lb("vm"), (1, 7, 3)) is None


def test_manual_release_annotation() -> None:
    """LB pkg/controller/ippool/controller.go OnChangeToReleaseAnIP (@v1.5.0 .. v1.8.2): a real
    allocation of a load balancer that no longer exists moves to allocatedHistory; otherwise only
    the annotation goes."""
    pool = {
        "metadata": {"name": "p", "annotations": {ipam.ANN_RELEASE: "192.0.2.140: default/gone"}},
        "status": {"allocated": {"192.0.2.140": "default/gone"}, "available": 10},
    }
    status, released = ipam.manual_release(pool, lambda owner: False) or ({}, False)
    assert released and status["allocatedHistory"] == {"192.0.2.140": "default/gone"} and not status["allocated"]
    assert ipam.manual_release(pool, lambda owner: True) == (pool["status"], False)


# -- live clusters --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clients(emulated):
    made: dict[str, Cluster] = {}

    def get(profile: str) -> Cluster:
        if profile not in made:
            made[profile] = Cluster.from_kubeconfig(str(emulated(profile).kubeconfig))
        return made[profile]

    yield get
    for c in made.values():
        c.close()


def _value(cl: Cluster, name: str) -> str:
    return str((cl.get(R.LONGHORN_SETTINGS, name, NS) or {}).get("value"))


def test_v173_setting_written_plain_is_stored_per_engine(clients) -> None:
    """Longhorn 1.10.2 (Harvester v1.7.3): the mutator stores "2" as {"v1":"2","v2":"2"}
    (webhook/resources/setting/mutator.go); a map of other engines is refused (validateSettingInt
    "mismatched data engines"); the seeded value is JSON."""
    cl = clients("v1.7.3")
    assert _value(cl, "default-replica-count") == '{"v1":"3","v2":"3"}'
    try:
        cl.patch(R.LONGHORN_SETTINGS, "default-replica-count", {"value": "2"}, NS)
        assert _value(cl, "default-replica-count") == '{"v1":"2","v2":"2"}'
        with pytest.raises(ApiError, match="mismatched data engines"):
            cl.patch(R.LONGHORN_SETTINGS, "default-replica-count", {"value": '{"v1":"3"}'}, NS)
    finally:
        cl.patch(R.LONGHORN_SETTINGS, "default-replica-count", {"value": "3"}, NS)
    assert _value(cl, "default-replica-count") == '{"v1":"3","v2":"3"}'


def test_v161_setting_stays_plain_and_json_is_refused(clients) -> None:
    """Longhorn 1.9.2 (Harvester v1.6.1): no mutator, validateInt refuses a JSON map."""
    cl = clients("v1.6.1")
    assert _value(cl, "default-replica-count") == "3"
    with pytest.raises(ApiError, match="is not a number"):
        cl.patch(R.LONGHORN_SETTINGS, "default-replica-count", {"value": '{"v1":"3","v2":"3"}'}, NS)


@pytest.mark.parametrize(("profile", "served"), [("v1.6.1", True), ("v1.7.3", False), ("v1.8.2", False)])
def test_longhorn_v1beta1_served_until_110(clients, profile: str, served: bool) -> None:
    """LM k8s/pkg/apis/longhorn: v1beta1 at v1.9.2, removed at v1.10.2; a Harvester v1.7+ cluster
    answers 404 for longhorn.io/v1beta1."""
    cl = clients(profile)
    crd = cl.get(R.CRDS, "nodes.longhorn.io") or {}
    versions = [v["name"] for v in crd["spec"]["versions"] if v.get("served")]
    assert ("v1beta1" in versions) is served and "v1beta2" in versions


@pytest.mark.parametrize(("profile", "present"), [("v1.7.3", False), ("v1.8.2", True)])
def test_host_network_config_from_v180(clients, profile: str, present: bool) -> None:
    """CH harvester-network-controller 1.8.0 adds HostNetworkConfig (cluster-scoped, hnc): served
    and one seeded on v1.8.2; the CRD is absent on v1.7.3."""
    cl = clients(profile)
    assert (cl.get(R.CRDS, HNC_CRD) is not None) is present
    if present:
        obj = cl.get(hosts.HOST_NETWORK_CONFIGS, hosts.HOST_NETWORK_CONFIG) or {}
        assert obj["spec"]["clusterNetwork"] == "vm-net" and obj["spec"]["mode"] == "dhcp"
        bad = {**hosts.host_network_config(), "metadata": {"name": "static-without-ips"}}
        bad["spec"] = {**bad["spec"], "mode": "static"}
        with pytest.raises(ApiError, match="spec.ips must be specified"):
            cl.create(hosts.HOST_NETWORK_CONFIGS, bad)


@pytest.mark.parametrize(("profile", "health"), [("v1.7.3", False), ("v1.8.2", True)])
def test_disk_health_data_as_the_release_writes_it(clients, profile: str, health: bool) -> None:
    """LM v1beta2 node.go: the Longhorn 1.11 disk monitor fills healthData; 1.10 has no such field."""
    cl = clients(profile)
    node = cl.get(R.LONGHORN_NODES, "harvester-node-0", NS) or {}
    disks = (node.get("status") or {}).get("diskStatus") or {}
    assert disks and all(("healthData" in d) is health for d in disks.values())


def test_v173_manual_ip_release(clients) -> None:
    """LB OnChangeToReleaseAnIP: an allocation whose load balancer is gone moves to the history and
    the annotation is removed (Harvester v1.7.3)."""
    cl = clients("v1.7.3")
    name, ip, owner = "default-pool", "192.0.2.189", "default/long-gone"

    def edit(change) -> None:
        pool = cl.get(R.IPPOOLS, name) or {}
        change(pool)
        cl.replace(R.IPPOOLS, pool)

    def add(pool: dict) -> None:
        pool["status"].setdefault("allocated", {})[ip] = owner
        pool["status"]["available"] = int(pool["status"]["available"]) - 1

    wait_for("object-restored", lambda: _retry(lambda: edit(add)))
    wait_for("object-restored", lambda: _retry(lambda: edit(_annotate(f"{ip}: {owner}"))))
    try:

        def released() -> bool:
            pool = cl.get(R.IPPOOLS, name) or {}
            status = pool.get("status") or {}
            gone = ipam.ANN_RELEASE not in (pool["metadata"].get("annotations") or {})
            return (
                gone
                and ip not in (status.get("allocated") or {})
                and (status.get("allocatedHistory") or {}).get(ip) == owner
            )

        wait_for("loadbalancer-ip-assigned", released)
    finally:
        wait_for("object-restored", lambda: _retry(lambda: edit(_drop_history(ip))))


def _annotate(text: str):
    def change(pool: dict) -> None:
        pool["metadata"].setdefault("annotations", {})[ipam.ANN_RELEASE] = text

    return change


def _drop_history(ip: str):
    def change(pool: dict) -> None:
        status = pool.get("status") or {}
        (status.get("allocatedHistory") or {}).pop(ip, None)
        if not status.get("allocatedHistory"):
            status.pop("allocatedHistory", None)
        if ip in (status.get("allocated") or {}):
            del status["allocated"][ip]
            status["available"] = int(status["available"]) + 1

    return change


def _retry(action) -> bool:
    """One attempt of a read-modify-write; False on a conflict so that wait_for tries again."""
    try:
        action()
    except ApiError as exc:
        if exc.status == 409:
            return False
        raise
    return True


def test_seeded_values_are_valid_json(clients) -> None:
    """Every data-engine-specific setting seeded on v1.8.2 holds a JSON object keyed by engine."""
    cl = clients("v1.8.2")
    for name in S.definitions("v1.11.2"):
        setting = cl.get(R.LONGHORN_SETTINGS, name, NS)
        if setting is not None:
            assert set(json.loads(setting["value"])) <= {"v1", "v2"}


# -- the CDI image backend (Harvester >= v1.5.0) -------------------------------------------------
def test_cdi_image_model_is_what_csi02_accepts_from_v150() -> None:
    """HV pkg/image/cdi and pkg/util GetImageStorageClassName (v1.5.0..v1.8.2): a CDI image's
    status.storageClassName is its target class, and its DataVolume imports onto that class (Block,
    RWO, the virtual size). CSI-02 accepts it from v1.5.0 and refuses it before."""
    from harvester_conformance.checks import rook_ceph as rc
    from harvester_conformance.emulator.areas.harvester_hosts_rancher import TRIDENT, TRIDENT_CLASS

    image = M.cdi_vm_image(TRIDENT_CLASS)
    assert image["spec"]["backend"] == "cdi" and "storageClassParameters" not in image["spec"]
    assert image["status"]["storageClassName"] == image["spec"]["targetStorageClassName"] == TRIDENT_CLASS
    dv, status = M.cdi_data_volume("uid-1", TRIDENT_CLASS)
    assert (dv["metadata"]["name"], dv["metadata"]["namespace"]) == (M.CDI_IMAGE, M.IMAGE_NS)
    assert dv["spec"]["storage"]["volumeMode"] == "Block" and dv["spec"]["storage"]["accessModes"] == ["ReadWriteOnce"]
    assert dv["spec"]["storage"]["resources"]["requests"]["storage"] == str(M.IMAGE_VIRTUAL_SIZE)
    assert status["phase"] == "Succeeded"
    classes = {TRIDENT_CLASS: {"metadata": {"name": TRIDENT_CLASS}, "provisioner": TRIDENT}}
    assert rc.check_image(image, classes, {TRIDENT}, cdi_backend=True) is None
    assert rc.check_image(image, classes, {TRIDENT}, cdi_backend=False) is not None
    assert rc.check_image(image, classes, set(), cdi_backend=True) is not None  # the driver must be installed


@pytest.mark.parametrize("profile", ["v1.6.1", "v1.8.2"])
def test_cdi_image_seeded_and_imported_on_the_vendor_class(clients, profile: str) -> None:
    """The seeded CDI image of a v1.5.0+ cluster: imported, its DataVolume Succeeded and owned by
    the image, the DataVolume's claim Bound by the Trident provisioner; CSI-02 passes on it."""
    from harvester_conformance.checks import rook_ceph as rc
    from harvester_conformance.emulator.areas.harvester_hosts_rancher import TRIDENT, TRIDENT_CLASS

    cl = clients(profile)
    image = cl.get(R.VM_IMAGES, M.CDI_IMAGE, M.IMAGE_NS) or {}
    assert image["spec"]["backend"] == "cdi" and image["status"]["storageClassName"] == TRIDENT_CLASS
    assert {c["type"]: c["status"] for c in image["status"]["conditions"]}["Imported"] == "True"
    dv = cl.get(R.DATA_VOLUMES, M.CDI_IMAGE, M.IMAGE_NS) or {}
    assert dv["status"]["phase"] == "Succeeded"
    assert dv["metadata"]["ownerReferences"][0]["uid"] == image["metadata"]["uid"]
    wait_for(
        "volume-attached",
        lambda: ((cl.get(R.PVCS, M.CDI_IMAGE, M.IMAGE_NS) or {}).get("status") or {}).get("phase") == "Bound",
    )
    pvc = cl.get(R.PVCS, M.CDI_IMAGE, M.IMAGE_NS) or {}
    assert pvc["spec"]["storageClassName"] == TRIDENT_CLASS
    assert pvc["metadata"]["ownerReferences"][0]["uid"] == dv["metadata"]["uid"]
    pv = cl.get(R.PERSISTENT_VOLUMES, pvc["spec"]["volumeName"]) or {}
    assert pv["spec"]["csi"]["driver"] == TRIDENT
    classes = {c["metadata"]["name"]: c for c in cl.list(R.STORAGE_CLASSES)}
    drivers = {d["metadata"]["name"] for d in cl.list(R.CSI_DRIVERS)}
    assert rc.check_image(image, classes, drivers, cdi_backend=True) is None
