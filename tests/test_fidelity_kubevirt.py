"""The emulated KubeVirt and Harvester VM workloads say what upstream says, release by release
(issue 9, facts.md §17.1, §17.2).

Pure model functions are checked without a cluster; what needs the API (virt-controller and
virt-handler as simulated, Harvester's VM mutator, the seeded objects) on live emulated clusters of
the profiles concerned: v1.2.1 (KubeVirt 0.54), v1.3.1 (1.1.1), v1.4.3 (1.3.1), v1.5.0 (1.4.0).
Expectations are computed here from the upstream sources each docstring names.
"""

from __future__ import annotations

import math

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import kubevirt_model as m
from harvester_conformance.emulator.areas.kubevirt_seed import kubevirt_spec, vm_objects
from harvester_conformance.waits import wait_for

from .conftest import stays, stopped_vm

NS = "default"
KV_NS = "harvester-system"
MI = 1024 * 1024
RELEASES = ("v1.2.1", "v1.3.1", "v1.4.3", "v1.5.0", "v1.6.1", "v1.7.3", "v1.8.2")
KUBEVIRT = {
    "v1.2.1": (0, 54),
    "v1.3.1": (1, 1, 1),
    "v1.4.3": (1, 3, 1),
    "v1.5.0": (1, 4, 0),
    "v1.6.1": (1, 5, 2),
    "v1.7.3": (1, 6, 6),
    "v1.8.2": (1, 7, 4),
}


@pytest.fixture(scope="module")
def clusters(emulated):
    opened: dict[str, Cluster] = {}

    def get(profile: str) -> Cluster:
        if profile not in opened:
            opened[profile] = Cluster.from_kubeconfig(str(emulated(profile).kubeconfig))
        return opened[profile]

    yield get
    for c in opened.values():
        c.close()


def _cond(obj: dict, ctype: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == ctype), {})


def _vmi(spec: dict, volume_status: list | None = None, annotations: dict | None = None) -> dict:
    return {"metadata": {"annotations": annotations or {}}, "spec": spec, "status": {"volumeStatus": volume_status}}


def _rwx(name: str, modes: list[str]) -> dict:
    return {"name": name, "persistentVolumeClaimInfo": {"accessModes": modes}}


# -- pure model: migratability (KV pkg/virt-handler/vm.go, pkg/util/util.go) ---------------------
def test_only_cdroms_are_read_only() -> None:
    """KV pkg/util/util.go IsReadOnlyDisk (v0.54.0, v1.1.1, v1.3.1, v1.4.0): a CD-ROM is read-only
    unless readonly is false; a `disk` with readonly true is not."""
    assert m.is_read_only_disk({"name": "a", "cdrom": {"bus": "sata"}})
    assert m.is_read_only_disk({"name": "a", "cdrom": {}})
    assert not m.is_read_only_disk({"name": "a", "cdrom": {"readonly": False}})
    assert not m.is_read_only_disk({"name": "a", "disk": {"bus": "virtio", "readonly": True}})


def test_volumes_decide_block_migration() -> None:
    """KV pkg/virt-handler/vm.go checkVolumesForMigration (v0.54.0 .. v1.4.0): access modes come from
    status.volumeStatus[].persistentVolumeClaimInfo; unknown or non-ReadWriteMany PVCs make the VMI
    not migratable and report block migration; a writable non-PVC volume (a cloud-init `disk`, even
    readonly) means block migration; a CD-ROM containerDisk does not."""
    pvc = {"name": "root", "persistentVolumeClaim": {"claimName": "c"}}
    spec = {"domain": {"devices": {"disks": [{"name": "root", "disk": {}}]}}, "volumes": [pvc]}
    assert m.check_volumes(_vmi(spec, [_rwx("root", ["ReadWriteMany"])])) == (False, "")
    block, error = m.check_volumes(_vmi(spec, [_rwx("root", ["ReadWriteOnce"])]))
    assert block and error == m.NOT_SHARED_MESSAGE.format(claim="c")
    block, error = m.check_volumes(_vmi(spec, [{"name": "root"}]))
    assert block and "Unable to determine if PVC c is shared" in error
    ci = {"name": "ci", "cloudInitNoCloud": {"userData": "#cloud-config"}}
    for disk in ({"name": "ci", "disk": {"bus": "virtio"}}, {"name": "ci", "disk": {"readonly": True}}):
        with_ci = {"domain": {"devices": {"disks": [*spec["domain"]["devices"]["disks"], disk]}}, "volumes": [pvc, ci]}
        assert m.check_volumes(_vmi(with_ci, [_rwx("root", ["ReadWriteMany"])])) == (True, "")
    vmdp = {"name": "virtio-container-disk", "containerDisk": {"image": "registry.suse.com/suse/vmdp/vmdp:2.5.4.3"}}
    with_cd = {
        "domain": {"devices": {"disks": [*spec["domain"]["devices"]["disks"], {"name": vmdp["name"], "cdrom": {}}]}},
        "volumes": [pvc, vmdp],
    }
    assert m.check_volumes(_vmi(with_cd, [_rwx("root", ["ReadWriteMany"])])) == (False, "")


@pytest.mark.parametrize("kubevirt", [(0, 54), (1, 1, 1), (1, 3, 1), (1, 4, 0)])
def test_bridge_on_the_pod_network_is_not_live_migratable(kubevirt: tuple[int, ...]) -> None:
    """KV vm.go checkNetworkInterfacesForMigration (v0.54.0, v1.1.1) and network/vmispec
    VerifyVMIMigratable (v1.3.1, v1.4.0): the pod network's interface must use masquerade; a bridge
    binding is refused (InterfaceNotLiveMigratable) unless, from 1.1, the VMI carries the
    allow-pod-bridge-network-live-migration annotation; bridge on a Multus network is fine."""
    spec = {
        "domain": {"devices": {"disks": [], "interfaces": [{"name": "default", "bridge": {}}]}},
        "networks": [{"name": "default", "pod": {}}],
        "volumes": [],
    }
    ok, reason, message, block = m.live_migration_condition(_vmi(spec, []), kubevirt)
    assert (ok, reason, block) == (False, "InterfaceNotLiveMigratable", False)
    assert "does not use masquerade" in message
    allowed = _vmi(spec, [], {m.BRIDGE_ANNOTATION: ""})
    assert m.live_migration_condition(allowed, kubevirt)[0] is (kubevirt >= (1, 1))
    multus = {**spec, "networks": [{"name": "default", "multus": {"networkName": "default/vlan1"}}]}
    assert m.live_migration_condition(_vmi(multus, []), kubevirt)[0]


def test_seeded_vm_shapes_report_block_migration() -> None:
    """What virt-handler reports for the seed's two shapes (KV vm.go @v1.1.1): a ReadWriteMany root
    PVC plus Harvester's cloud-init `disk` is migratable by block migration; a ReadWriteOnce root PVC
    is not migratable (DisksNotLiveMigratable) and reports block migration."""
    for i, shared in ((0, True), (1, False)):
        pvc, vm = vm_objects(i)
        spec = vm["spec"]["template"]["spec"]
        pvc["status"] = {"capacity": pvc["spec"]["resources"]["requests"]}
        volumes = m.volume_status(spec, {pvc["metadata"]["name"]: pvc}, None, False)
        ok, reason, _, block = m.live_migration_condition(_vmi(spec, volumes), (1, 1, 1))
        assert (ok, block, m.migration_method(block)) == (shared, True, "BlockMigration")
        assert reason == ("" if shared else "DisksNotLiveMigratable")


def test_pvc_info_by_version() -> None:
    """KV virt-controller/watch/vmi.go updateVolumeStatus: accessModes, volumeMode, capacity,
    requests and filesystemOverhead (0 for a Block PVC with CDI installed, CDI's default 0.055
    without it, v0.54.0 and storage/types/cdi.go @v1.3.1); claimName from 1.3 (types.go)."""
    pvc, vm = vm_objects(0)
    pvc["status"] = {"capacity": {"storage": "10Gi"}}
    spec = vm["spec"]["template"]["spec"]
    entries = m.volume_status(spec, {pvc["metadata"]["name"]: pvc}, None, cdi=False)
    info = entries[0]["persistentVolumeClaimInfo"]
    assert info["accessModes"] == ["ReadWriteMany"] and info["volumeMode"] == "Block"
    assert info["filesystemOverhead"] == "0.055" and info["capacity"] == {"storage": "10Gi"}
    assert m.volume_status(spec, {pvc["metadata"]["name"]: pvc}, None, cdi=True)[0]["persistentVolumeClaimInfo"][
        "filesystemOverhead"
    ] == ("0")
    assert "claimName" not in m.versioned_volume_status(entries, (1, 1, 1))[0]["persistentVolumeClaimInfo"]
    assert (
        m.versioned_volume_status(entries, (1, 3, 1))[0]["persistentVolumeClaimInfo"]["claimName"]
        == (pvc["metadata"]["name"])
    )
    assert entries[1] == {"name": "cloudinitdisk", "target": "vdb"}


def test_migration_policy_selectors_by_version() -> None:
    """KV staging/src/kubevirt.io/api/migrations/v1alpha1/types.go: at v0.54.0 the selectors are
    metav1.LabelSelectors whose matchLabels are counted (countMatchingLabels); from v1.1.1 plain
    label maps."""
    old = {
        "metadata": {"name": "a"},
        "spec": {"selectors": {"virtualMachineInstanceSelector": {"matchLabels": {"k": "v"}}}},
    }
    new = {"metadata": {"name": "b"}, "spec": {"selectors": {"virtualMachineInstanceSelector": {"k": "v"}}}}
    assert m.match_policy([old], {"k": "v"}, {}, (0, 54)) is old
    assert m.match_policy([old, new], {"k": "v"}, {}, (1, 1, 1)) is new
    assert m.match_policy([new], {"k": "other"}, {}, (1, 1, 1)) is None


# -- pure model: virt-launcher overhead --------------------------------------------------------
def _overhead(request: int, fixed_mi: int, vcpus: int, video_mi: int = 16) -> int:
    return math.ceil(request / 1000) * 1000 // 512 + (fixed_mi + 8 * vcpus + 8 + video_mi) * MI


def test_launcher_overhead_by_version() -> None:
    """KV virt-controller/services/template.go @v0.54.0: 25+75+17+33+30 = 180Mi fixed;
    renderresources.go @v1.1.1..v1.4.0: 25+100+20+35+30 = 210Mi, the ratio applied by multiplyMemory
    on kilobyte-scaled values, then 100Mi for dedicated-CPU or Guaranteed-QoS VMIs (unmultiplied)."""
    request = 715_128_832
    dom = {"cpu": {"cores": 2}, "resources": {"requests": {"memory": "682Mi", "cpu": "125m"}, "limits": {}}}
    assert m.memory_overhead(dom, request, (0, 54), "") == _overhead(request, 180, 2)
    assert m.memory_overhead(dom, request, (0, 54), "1.5") == _overhead(request, 180, 2)  # no ratio on 0.54
    base = _overhead(request, 210, 2)
    assert m.memory_overhead(dom, request, (1, 1, 1), "") == base
    assert m.memory_overhead(dom, request, (1, 3, 1), "1.5") == base + int(math.ceil(base / 1000) * 0.5) * 1000
    dedicated = {**dom, "cpu": {"cores": 2, "dedicatedCpuPlacement": True}}
    assert m.memory_overhead(dedicated, request, (1, 1, 1), "") == base + 100 * MI
    assert m.memory_overhead(dedicated, request, (0, 54), "") == _overhead(request, 180, 2)
    guaranteed = {
        **dom,
        "resources": {"requests": {"memory": "1Gi", "cpu": "2"}, "limits": {"memory": "1Gi", "cpu": 2}},
    }
    doubled = _overhead(2**30, 210, 2) + math.ceil(_overhead(2**30, 210, 2) / 1000) * 1000
    assert m.memory_overhead(guaranteed, 2**30, (1, 4, 0), "2") == doubled + 100 * MI


def test_multiply_memory_truncates_kilobytes() -> None:
    """KV renderresources.go multiplyMemory: int64(float64(ScaledValue(Kilo)) * (ratio - 1)) kB."""
    assert m.multiply_memory(1_000_001, "1.5") == 1_000_001 + 500_000
    assert m.multiply_memory(1000, "1.5") == 1000
    assert m.multiply_memory(1000, "x") == 1000


# -- pure model: Harvester's VM mutator (HV pkg/webhook/resources/virtualmachine/mutator.go) --
def test_ratio_zero_counts_as_unset() -> None:
    """HV v1.4.3 pkg/settings/settings_helper.go IsEmpty: "" or a zero ratio is unset, so the
    mutator still reserves 100Mi; "1.5" reserves nothing (guest = limit)."""
    assert not m.ratio_is_set("0") and not m.ratio_is_set("0.0") and not m.ratio_is_set("")
    dom = {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
    for ratio, guest in (("0", "924Mi"), ("0.0", "924Mi"), ("", "924Mi"), ("1.5", "1Gi")):
        _, memory = m.mutate_vm_domain(dom, {}, m.OVERCOMMIT_DEFAULT, (1, 4, 3), ratio)
        assert memory == {"guest": guest}, ratio


def _vm(limits: dict, annotations: dict | None = None, **domain: object) -> dict:
    dom = {"resources": {"limits": limits, "requests": {"cpu": "62m"}}, **domain}
    return {"metadata": {"annotations": annotations or {}}, "spec": {"template": {"spec": {"domain": dom}}}}


def test_mutator_recomputes_only_when_needed() -> None:
    """HV mutator.go needUpdateResourceOvercommit: limits (v1.2.1 ..), the reservedMemory annotation,
    host devices/GPUs added or removed (v1.3.1 ..), dedicated CPU toggled (v1.4.3 ..)."""
    base = _vm({"cpu": "1", "memory": "1Gi"})
    assert not m.need_update_resource_overcommit(base, _vm({"cpu": "1", "memory": "1Gi"}), (1, 2, 1))
    assert m.need_update_resource_overcommit(base, _vm({"cpu": "2", "memory": "1Gi"}), (1, 2, 1))
    assert m.need_update_resource_overcommit(base, _vm({"cpu": "1", "memory": "1024Mi"}), (1, 2, 1)) is False
    annotated = _vm({"cpu": "1", "memory": "1Gi"}, {m.RESERVED_MEMORY_ANNOTATION: "200Mi"})
    assert m.need_update_resource_overcommit(base, annotated, (1, 2, 1))
    gpu = _vm({"cpu": "1", "memory": "1Gi"}, devices={"gpus": [{"name": "g", "deviceName": "nvidia"}]})
    assert not m.need_update_resource_overcommit(base, gpu, (1, 2, 1))
    assert m.need_update_resource_overcommit(base, gpu, (1, 3, 1))
    dedicated = _vm({"cpu": "1", "memory": "1Gi"}, cpu={"dedicatedCpuPlacement": True})
    assert not m.need_update_resource_overcommit(base, dedicated, (1, 3, 1))
    assert m.need_update_resource_overcommit(base, dedicated, (1, 4, 3))


# -- pure model: what each release's API serializes ---------------------------------------------
def test_vmim_status_fields_by_version() -> None:
    """KV staging/src/kubevirt.io/api/core/v1/types.go: VirtualMachineInstanceMigrationStatus has
    phase and conditions at v0.54.0, phaseTransitionTimestamps and migrationState from v1.1.1;
    VirtualMachineInstanceMigrationState gains sourcePod and failureReason at v1.2.1 (absent at
    v1.2.0), targetNodeDomainReadyTimestamp at v1.1; completed/failed are omitempty."""
    state = {
        "sourceNode": "n0",
        "sourcePod": "virt-launcher-x",
        "failureReason": "",
        "completed": False,
        "failed": True,
        "targetNodeDomainReadyTimestamp": "t",
    }
    status = {"phase": "Failed", "conditions": [], "phaseTransitionTimestamps": [], "migrationState": state}
    assert m.vmim_status(status, (0, 54)) == {"phase": "Failed", "conditions": []}
    one = m.vmim_status(status, (1, 1, 1))
    assert set(one) == set(status)
    assert set(one["migrationState"]) == {"sourceNode", "failed", "targetNodeDomainReadyTimestamp"}
    assert set(m.vmim_status(status, (1, 3, 1))["migrationState"]) == set(state) - {"completed"}
    assert set(m.migration_state(state, (0, 54))) == {"sourceNode", "failed"}


def test_interfaces_by_version() -> None:
    """KV types.go VirtualMachineInstanceNetworkInterface: queueCount from v1.1.1, podInterfaceName
    from v1.4.0 (eth0 for the pod network, "pod" + sha256(name)[:11] for a Multus one, KV
    pkg/network/namescheme @v1.4.0)."""
    spec = vm_objects(1)[1]["spec"]["template"]["spec"]
    old = m.interface_statuses(spec, "10.52.0.9", 7, (0, 54))
    assert all("queueCount" not in i and "podInterfaceName" not in i for i in old)
    assert old[0]["ipAddress"] == "10.52.0.9" and old[0]["ipAddresses"] == ["10.52.0.9"]
    assert all(i["queueCount"] == 1 and "podInterfaceName" not in i for i in m.interface_statuses(spec, "", 7, (1, 3)))
    new = m.interface_statuses(spec, "", 7, (1, 4, 0))
    assert [i["podInterfaceName"] for i in new] == ["eth0", "pod49a25f9feef"]


@pytest.mark.parametrize(
    ("harvester", "gates"),
    [
        ((1, 2, 1), ["LiveMigration", "HotplugVolumes", "HostDevices"]),
        ((1, 3, 1), ["LiveMigration", "HotplugVolumes", "HostDevices", "GPU"]),
        ((1, 4, 3), ["LiveMigration", "HotplugVolumes", "HostDevices", "GPU", "CPUManager"]),
        ((1, 5, 0), ["LiveMigration", "HotplugVolumes", "HostDevices", "GPU", "CPUManager", "VMPersistentState"]),
    ],
)
def test_kubevirt_cr_as_the_chart_writes_it(harvester: tuple[int, ...], gates: list[str]) -> None:
    """HV deploy/charts/harvester/values.yaml `kubevirt.spec` at v1.2.1, v1.3.1, v1.4.3, v1.5.0."""
    spec = kubevirt_spec(harvester)
    conf = spec["configuration"]
    assert conf["developerConfiguration"] == {"featureGates": gates}
    assert conf["network"] == {
        "defaultNetworkInterface": "bridge",
        "permitSlirpInterface": True,
        "permitBridgeInterfaceOnPodNetwork": True,
    }
    assert ("vmStateStorageClass" in conf) is (harvester >= (1, 5, 0))
    assert ("emulatedMachines" in conf) is (harvester < (1, 5, 0))
    assert ("infra" in spec) is (harvester >= (1, 4, 0))
    assert [p["resourceName"] for p in spec["customizeComponents"]["patches"]] == [
        "virt-operator-validator",
        "virt-api",
        "virt-controller",
        "virt-handler",
    ]
    assert "migrations" not in conf


# -- live clusters -------------------------------------------------------------------------------
def _running(cl: Cluster) -> list[dict]:
    return [v for v in cl.list(R.VMIS, NS) if (v.get("status") or {}).get("phase") == "Running"]


def _modes(cl: Cluster) -> dict[str, list[str]]:
    return {p["metadata"]["name"]: p["spec"]["accessModes"] for p in cl.list(R.PVCS, NS)}


@pytest.mark.parametrize("profile", RELEASES)
def test_seeded_vmis_report_what_upstream_would(clusters, profile: str) -> None:
    """KV vm.go checkVolumesForMigration / updateLiveMigrationConditions and vmi.go
    updateVolumeStatus at the profile's KubeVirt: every seeded VMI is a BlockMigration (its cloud-init
    `disk`); ReadWriteOnce ones are not migratable; the PVC info carries the access modes (claimName
    from 1.3); interfaces carry queueCount from 1.1 and podInterfaceName from 1.4; the KubeVirt CR
    has the chart's feature gates (HV values.yaml)."""
    cl = clusters(profile)
    kubevirt = KUBEVIRT[profile]
    modes = _modes(cl)
    vmis = _running(cl)
    assert len(vmis) >= 20
    for vmi in vmis:
        st = vmi["status"]
        claim = next(
            v["persistentVolumeClaim"]["claimName"] for v in vmi["spec"]["volumes"] if "persistentVolumeClaim" in v
        )
        shared = "ReadWriteMany" in modes[claim]
        c = _cond(vmi, "LiveMigratable")
        assert c["status"] == ("True" if shared else "False") and st["migrationMethod"] == "BlockMigration"
        if not shared:
            assert c["reason"] == "DisksNotLiveMigratable"
        info = next(v for v in st["volumeStatus"] if "persistentVolumeClaimInfo" in v)["persistentVolumeClaimInfo"]
        assert info["accessModes"] == modes[claim] and info["volumeMode"] == "Block"
        assert ("claimName" in info) is (kubevirt >= (1, 3))
        assert info["filesystemOverhead"] == ("0" if m.version_tuple(profile) >= (1, 5, 0) else "0.055")
        assert all(("queueCount" in i) is (kubevirt >= (1, 1)) for i in st["interfaces"])
        assert all(("podInterfaceName" in i) is (kubevirt >= (1, 4)) for i in st["interfaces"])
    kv = cl.get(R.KUBEVIRTS, "kubevirt", KV_NS)
    assert (
        kv["spec"]["configuration"]["developerConfiguration"]
        == kubevirt_spec(m.version_tuple(profile))["configuration"]["developerConfiguration"]
    )


def _launcher(cl: Cluster, vmi: dict) -> dict:
    pods = cl.list(R.PODS, NS, label_selector=f"kubevirt.io/created-by={vmi['metadata']['uid']}")
    return next(p for p in pods if p["spec"].get("nodeName") == vmi["status"]["nodeName"])


@pytest.mark.parametrize("profile", RELEASES)
def test_launcher_memory_overhead(clusters, profile: str) -> None:
    """virt-launcher's memory request = VMI request + overhead: 180Mi fixed on 0.54 (template.go),
    210Mi from 1.1, 220Mi from 1.5 and 32Mi video RAM from 1.6 (renderresources.go @v1.5.0,
    @v1.6.0), multiplied (kilobyte-scaled) by the KubeVirt CR's
    additionalGuestMemoryOverheadRatio, which Harvester writes from its 1.5 default from v1.4.0
    (HV additional_guest_memory_overhead.go)."""
    cl = clusters(profile)
    kubevirt = KUBEVIRT[profile]
    kv = cl.get(R.KUBEVIRTS, "kubevirt", KV_NS)
    ratio = kv["spec"]["configuration"].get("additionalGuestMemoryOverheadRatio")
    assert ratio == ("1.5" if m.version_tuple(profile) >= (1, 4) else None)
    for vmi in _running(cl)[:5]:
        dom = vmi["spec"]["domain"]
        request = m.to_bytes(dom["resources"]["requests"]["memory"])
        cores = dom["cpu"]["cores"]
        fixed = 180 if kubevirt < (1, 1) else 210 if kubevirt < (1, 5) else 220
        total = _overhead(request, fixed, cores, 16 if kubevirt < (1, 6) else 32)
        if ratio:
            total += int(math.ceil(total / 1000) * (float(ratio) - 1)) * 1000
        pod = _launcher(cl, vmi)
        assert int(pod["spec"]["containers"][0]["resources"]["requests"]["memory"]) == request + total


def test_migration_method_is_not_recomputed(clusters) -> None:
    """KV vm.go updateLiveMigrationConditions (v1.1.1): the method is written only when the
    LiveMigratable condition is first added; a later change of what it was computed from is not
    reflected (while the condition itself is kept current)."""
    cl = clusters("v1.3.1")
    vmi = next(
        v
        for v in _running(cl)
        if not (v["metadata"].get("annotations") or {}).get("emulator.harvester-conformance.io/fault")
    )
    name = vmi["metadata"]["name"]
    cl.patch(R.VMIS, name, {"status": {"migrationMethod": "LiveMigration"}}, NS)
    try:
        stays(5, lambda: (cl.get(R.VMIS, name, NS) or {}).get("status", {}).get("migrationMethod") == "LiveMigration")
    finally:
        cl.patch(R.VMIS, name, {"status": {"migrationMethod": "BlockMigration"}}, NS)


def _bridge_vm(name: str) -> dict:
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "running": True,
            "template": {
                "spec": {
                    "domain": {
                        "cpu": {"cores": 1},
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                        "devices": {
                            "disks": [{"name": "root", "cdrom": {"bus": "sata"}}],
                            "interfaces": [{"name": "default", "model": "virtio", "bridge": {}}],
                        },
                    },
                    "networks": [{"name": "default", "pod": {}}],
                    "volumes": [
                        {"name": "root", "containerDisk": {"image": "quay.io/kubevirt/cirros-container-disk-demo"}}
                    ],
                }
            },
        },
    }


@pytest.mark.parametrize("profile", ["v1.2.1", "v1.3.1"])
def test_bridge_on_the_pod_network_live(clusters, profile: str) -> None:
    """KV vm.go checkNetworkInterfacesForMigration (v0.54.0, v1.1.1): a bridge binding on the pod
    network makes the VMI not live-migratable (InterfaceNotLiveMigratable); its only other volume
    is a CD-ROM, so the method is LiveMigration."""
    cl = clusters(profile)
    name = "kvf-bridge"
    cl.create(R.VMS, _bridge_vm(name), NS)
    try:
        vmi = wait_for(
            "cluster-seeded",
            lambda: (v := cl.get(R.VMIS, name, NS)) and _cond(v, "LiveMigratable") and v,
        )
        c = _cond(vmi, "LiveMigratable")
        assert (c["status"], c["reason"]) == ("False", "InterfaceNotLiveMigratable")
        assert vmi["status"]["migrationMethod"] == "LiveMigration"
    finally:
        cl.delete(R.VMS, name, NS)
        wait_for("object-deleted", lambda: cl.get(R.VMS, name, NS) is None and cl.get(R.VMIS, name, NS) is None)


def _migrate_one(cl: Cluster, name: str) -> dict:
    busy = {x["spec"]["vmiName"] for x in cl.list(R.VMIMS, NS)}
    vmi = next(
        v
        for v in _running(cl)
        if _cond(v, "LiveMigratable").get("status") == "True"
        and v["metadata"]["name"] not in busy
        and not (v["metadata"].get("annotations") or {}).get("emulator.harvester-conformance.io/fault")
    )
    cl.create(
        R.VMIMS,
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstanceMigration",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"vmiName": vmi["metadata"]["name"]},
        },
        NS,
    )
    return wait_for(
        "cluster-seeded",
        lambda: (x := cl.get(R.VMIMS, name, NS)) and (x.get("status") or {}).get("phase") in m.FINAL_PHASES and x,
        timeout=120,
    )


@pytest.mark.parametrize("profile", RELEASES)
def test_vmim_status_by_version(clusters, profile: str) -> None:
    """KV types.go VirtualMachineInstanceMigrationStatus: phase and conditions only at v0.54.0;
    migrationState and phaseTransitionTimestamps from v1.1.1; sourcePod from v1.2.1 (so on 1.3.1 and
    1.4.0 here); completed true is written, failed false is not (omitempty). The VMI's
    migrationState follows the same types."""
    cl = clusters(profile)
    kubevirt = KUBEVIRT[profile]
    name = "kvf-vmim"
    try:
        mig = _migrate_one(cl, name)
        st = mig["status"]
        assert st["phase"] == "Succeeded"
        if kubevirt < (1, 1):
            assert set(st) <= {"phase", "conditions"}
        else:
            state = st["migrationState"]
            assert st["phaseTransitionTimestamps"] and state["completed"] is True and "failed" not in state
            assert ("sourcePod" in state) is (kubevirt >= (1, 2, 1))
            assert state["sourcePod"].startswith("virt-launcher-") if "sourcePod" in state else True
        vmi_state = cl.get(R.VMIS, mig["spec"]["vmiName"], NS)["status"]["migrationState"]
        assert vmi_state["completed"] is True and "failed" not in vmi_state
        assert ("targetNodeDomainReadyTimestamp" in vmi_state) is (kubevirt >= (1, 1))
    finally:
        cl.delete(R.VMIMS, name, NS)


def test_mutator_keeps_requests_until_limits_change(clusters) -> None:
    """HV v1.4.3 mutator.go Update: after an overcommit-config change an existing VM keeps its
    requests through unrelated updates, and gets new ones when its limits change."""
    cl = clusters("v1.4.3")
    ns = "kvf-mutator"
    cl.apply(R.NAMESPACES, {"metadata": {"name": ns}}, manager="test")
    vm = stopped_vm("kb", ns)
    try:
        dom = cl.create(R.VMS, vm, ns)["spec"]["template"]["spec"]["domain"]
        assert dom["resources"]["requests"] == {"cpu": "62m", "memory": "682Mi"} and dom["memory"]["guest"] == "1Gi"
        cl.patch(R.HARVESTER_SETTINGS, "overcommit-config", {"value": '{"cpu":200,"memory":200,"storage":200}'})
        cl.patch(R.VMS, "kb", {"metadata": {"labels": {"touch": "1"}}}, ns)
        assert cl.get(R.VMS, "kb", ns)["spec"]["template"]["spec"]["domain"]["resources"]["requests"] == {
            "cpu": "62m",
            "memory": "682Mi",
        }
        cl.patch(R.VMS, "kb", {"metadata": {"annotations": {m.RESERVED_MEMORY_ANNOTATION: "256Mi"}}}, ns)
        dom = cl.get(R.VMS, "kb", ns)["spec"]["template"]["spec"]["domain"]
        assert dom["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"} and dom["memory"]["guest"] == "768Mi"
    finally:
        cl.patch(R.HARVESTER_SETTINGS, "overcommit-config", {"value": None})
        cl.delete(R.NAMESPACES, ns)


def test_ratio_zero_unsets_the_kubevirt_field(clusters) -> None:
    """HV v1.4.3 additional_guest_memory_overhead.go: a "0" setting removes
    additionalGuestMemoryOverheadRatio from the KubeVirt CR and the mutator reserves 100Mi again
    (IsEmpty); the default 1.5 puts it back."""
    cl = clusters("v1.4.3")
    ns = "kvf-ratio"
    setting = "additional-guest-memory-overhead-ratio"
    cl.apply(R.NAMESPACES, {"metadata": {"name": ns}}, manager="test")

    def ratio() -> str | None:
        kv = cl.get(R.KUBEVIRTS, "kubevirt", KV_NS)
        return kv["spec"]["configuration"].get("additionalGuestMemoryOverheadRatio")

    try:
        cl.patch(R.HARVESTER_SETTINGS, setting, {"value": "0"})
        wait_for("cluster-seeded", lambda: ratio() is None)
        vm = stopped_vm("zero", ns)
        assert cl.create(R.VMS, vm, ns)["spec"]["template"]["spec"]["domain"]["memory"]["guest"] == "924Mi"
    finally:
        cl.patch(R.HARVESTER_SETTINGS, setting, {"value": None})
        cl.delete(R.NAMESPACES, ns)
    wait_for("cluster-seeded", lambda: ratio() == "1.5")


@pytest.mark.parametrize("profile", RELEASES)
def test_kubevirt_cr_schema_takes_the_chart_spec(clusters, profile: str) -> None:
    """The KubeVirt CR as Harvester's chart renders it (HV values.yaml `kubevirt.spec`, apiVersion
    kubevirt.io/v1 from the kubevirt chart's appVersion) passes strict validation on its release:
    a server-side dry-run apply of the seeded CR."""
    cl = clusters(profile)
    body = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "KubeVirt",
        "metadata": {"name": "kubevirt", "namespace": KV_NS},
        "spec": kubevirt_spec(m.version_tuple(profile)),
    }
    cl.request(
        "PATCH",
        f"/apis/kubevirt.io/v1/namespaces/{KV_NS}/kubevirts/kubevirt",
        body=body,
        query={"dryRun": "All", "fieldValidation": "Strict", "fieldManager": "kvf-test", "force": "true"},
        content_type="application/apply-patch+yaml",
    )


def test_virt_operator_runs_kubevirt_cluster_critical(clusters) -> None:
    """HV deploy/charts/harvester/dependency_charts/kubevirt-operator/templates/deployment.yaml and
    priorityclass.yaml (v1.2.1 .. v1.5.0): virt-operator's pods run with kubevirt-cluster-critical,
    a PriorityClass of value 1000000000 the chart installs."""
    cl = clusters("v1.3.1")
    pc = cl.get(R.PRIORITY_CLASSES, "kubevirt-cluster-critical")
    assert pc["value"] == 1_000_000_000 and pc.get("globalDefault") in (False, None)
    dep = cl.get(R.DEPLOYMENTS, "virt-operator", KV_NS)
    assert dep["spec"]["template"]["spec"]["priorityClassName"] == "kubevirt-cluster-critical"
    pods = [p for p in cl.list(R.PODS, KV_NS, label_selector="kubevirt.io=virt-operator")]
    assert pods and all(p["spec"].get("priority") == 1_000_000_000 for p in pods)


def test_v1alpha3_is_served(clusters) -> None:
    """KV staging/src/kubevirt.io/api/core/v1/register.go ApiSupportedVersions (v1.1.1 .. v1.4.0):
    v1 is stored, v1alpha3 is still served (deprecated) for every core kind."""
    cl = clusters("v1.3.1")
    listing = cl.request("GET", "/apis/kubevirt.io/v1alpha3")
    kinds = {r["kind"] for r in listing["resources"] if "/" not in r["name"]}
    assert {"KubeVirt", "VirtualMachine", "VirtualMachineInstance", "VirtualMachineInstanceMigration"} <= kinds
    vm = cl.request("GET", f"/apis/kubevirt.io/v1alpha3/namespaces/{NS}/virtualmachines/vm-000")
    assert vm["apiVersion"] == "kubevirt.io/v1alpha3"


def test_a_deleted_vm_goes_after_its_vmi_and_launcher(clusters) -> None:
    """KV v1.1.1 `vm.go` (add/removeVMFinalizer), `vmi.go` sync (deleteAllMatchingPods,
    allPodsDeleted) and virt-api's VMI mutator (foregroundDeleteVirtualMachine): a VM and its VMI
    carry KubeVirt's finalizers; a deleted VM is held until its VMI is gone, and the VMI until no
    launcher pod of it is left. Checked at every poll: a VM found gone left nothing behind."""
    cl = clusters("v1.3.1")
    name = "hc-fidelity-finalizers"
    cl.create(R.VMS, _bridge_vm(name), NS)
    try:
        vmi = wait_for("vm-running", lambda: _running_vmi(cl, name))
        vm = cl.get(R.VMS, name, NS)
        assert vm["metadata"].get("finalizers") == ["kubevirt.io/virtualMachineControllerFinalize"]
        assert vmi["metadata"].get("finalizers") == [
            "kubevirt.io/virtualMachineControllerFinalize",
            "foregroundDeleteVirtualMachine",
        ]
    finally:
        cl.delete(R.VMS, name, NS)
    uid = vmi["metadata"]["uid"]
    held = cl.get(R.VMS, name, NS)
    assert held is not None and held["metadata"].get("deletionTimestamp"), "the VM went before its VMI"

    def gone() -> bool:
        vm = cl.get(R.VMS, name, NS)
        vmi = cl.get(R.VMIS, name, NS)
        pods = cl.list(R.PODS, NS, label_selector=f"kubevirt.io/created-by={uid}")
        if vm is None:
            assert vmi is None and not pods, (vmi, [p["metadata"]["name"] for p in pods])
        return vm is None

    wait_for("object-deleted", gone, max_interval=0.2)


def _running_vmi(cl: Cluster, name: str) -> dict | None:
    vmi = cl.get(R.VMIS, name, NS)
    return vmi if vmi and (vmi.get("status") or {}).get("phase") == "Running" else None
