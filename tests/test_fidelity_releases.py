"""The emulated cluster follows Harvester v1.6.1, v1.7.3 and v1.8.2 (issue 10, facts-releases.md R0-R3):
one test per changed default or shape, asserting upstream behaviour on each side of the release that
changed it. Pure model tests need no cluster; the others share one v1.7.3 and one v1.8.2 cluster."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import seed
from harvester_conformance.emulator.areas import harvester_pod_security as pss
from harvester_conformance.emulator.areas import harvester_settings as hs
from harvester_conformance.emulator.areas import kubevirt_migration_setting as kms
from harvester_conformance.emulator.areas import kubevirt_model as m
from harvester_conformance.emulator.areas.kubevirt_certificates_operator import leaves
from harvester_conformance.emulator.areas.kubevirt_seed import kubevirt_spec
from harvester_conformance.emulator.profiles import PROFILES
from harvester_conformance.waits import wait_for

MI = 1024 * 1024
KV_NS = "harvester-system"
MIGRATION_DEFAULT = {
    "parallelOutboundMigrationsPerNode": 2,
    "parallelMigrationsPerCluster": 5,
    "allowAutoConverge": False,
    "bandwidthPerMigration": "0",
    "completionTimeoutPerGiB": 150,
    "progressTimeout": 150,
    "unsafeMigrationOverride": False,
    "allowPostCopy": False,
    "allowWorkloadDisruption": False,
    "disableTLS": False,
    "matchSELinuxLevelOnMigration": False,
}


def _settings(profile: str, upgraded_from: str = "") -> dict[str, tuple[str, str]]:
    return seed.settings_of(replace(PROFILES[profile], upgraded_from=upgraded_from))


def _client(emulated, profile: str) -> Cluster:
    return Cluster.from_kubeconfig(str(emulated(profile).kubeconfig))


class _Objects:
    """A read-only stand-in for a cluster holding a few objects (the syncer's reads only)."""

    def __init__(self, *objects: tuple[R.Resource, dict]) -> None:
        self.objects = {(res.kind, obj["metadata"]["name"]): obj for res, obj in objects}

    def get(self, res: R.Resource, name: str, namespace: str | None = None) -> dict | None:
        return self.objects.get((res.kind, name))


# -- R0: the profiles -----------------------------------------------------------------------------
def test_profiles_carry_the_release_matrix() -> None:
    """HV deploy/charts/harvester Chart.yaml / values.yaml and HI scripts/version-rke2,
    version-rancher at v1.6.1, v1.7.3 (HI PR 1321) and v1.8.2 (HI PRs 1320, 1310): facts-releases R0.1.
    The v1.8.2 profile is a fresh install."""
    rows = {
        "v1.6.1": ("1.5.2-150700.3.5.2", "v1.9.2", "v1.33.5+rke2r1", "v2.12.2"),
        "v1.7.3": ("1.6.6-150700.15.7.1", "v1.10.2", "v1.34.10+rke2r1", "v2.13.3"),
        "v1.8.2": ("1.7.4-150700.3.24.2", "v1.11.2", "v1.35.7+rke2r1", "v2.14.3"),
    }
    for name, row in rows.items():
        p = PROFILES[name]
        assert (p.kubevirt, p.longhorn, p.rke2, p.rancher) == row and p.harvester == name
        assert p.upgraded_from == ""


# -- R2.1 / R2.2: settings and their defaults -------------------------------------------------------
def test_settings_added_per_release() -> None:
    """HV pkg/settings/settings.go @v1.5.0 / v1.6.1 / v1.7.3 / v1.8.2 (R2.1): v1.6.0 adds four,
    v1.7.0 kubevirt-migration, v1.8.0 four more; none removed."""
    names = {p: set(_settings(p)) for p in ("v1.5.0", "v1.6.1", "v1.7.3", "v1.8.2")}
    assert names["v1.6.1"] - names["v1.5.0"] == {
        "csi-online-expand-validation",
        "rancher-cluster",
        "max-hotplug-ratio",
        "vm-migration-network",
    }
    assert names["v1.7.3"] - names["v1.6.1"] == {"kubevirt-migration"}
    assert names["v1.8.2"] - names["v1.7.3"] == {
        "support-bundle-file-name",
        "rwx-network",
        "instance-manager-resources",
        "cluster-pod-security-standard",
    }
    assert names["v1.5.0"] <= names["v1.6.1"] <= names["v1.7.3"] <= names["v1.8.2"]
    assert _settings("v1.7.3")["kubevirt-migration"][0] == json.dumps(
        {**MIGRATION_DEFAULT, "bandwidthPerMigration": 0}, separators=(",", ":")
    )


def test_overcommit_default_fresh_v18_and_upgraded_from_v17() -> None:
    """HV settings.go @v1.7.3 (1600/150/200) and @v1.8.2 (1000/150/100, commit 293280bf2);
    package/upgrade/upgrade_manifests.sh preserve_overcommit_config @v1.8.2 pins the old default
    into `value` on upgrades from v1.7.x only (R2.2)."""
    old, new = '{"cpu":1600,"memory":150,"storage":200}', '{"cpu":1000,"memory":150,"storage":100}'
    assert _settings("v1.7.3")["overcommit-config"] == (old, "")
    assert _settings("v1.8.2")["overcommit-config"] == (new, "")
    assert _settings("v1.8.2", upgraded_from="v1.7.3")["overcommit-config"] == (new, old)
    assert _settings("v1.7.3", upgraded_from="v1.6.1")["overcommit-config"] == (old, "")


def test_overcommit_storage_copied_into_longhorn_on_fresh_v18() -> None:
    """HV pkg/controller/master/setting/overcommit_config.go @v1.8.2: the storage percentage (value,
    else default) is copied into Longhorn storage-over-provisioning-percentage: 100 on a fresh
    v1.8 cluster, 200 on v1.7 and on a cluster upgraded from it."""
    fresh = dict(zip(("default", "value"), _settings("v1.8.2")["overcommit-config"], strict=True))
    upgraded = dict(zip(("default", "value"), _settings("v1.8.2", "v1.7.3")["overcommit-config"], strict=True))
    v17 = dict(zip(("default", "value"), _settings("v1.7.3")["overcommit-config"], strict=True))
    assert hs.overcommit_storage(fresh, (1, 8, 2)) == "100"
    assert hs.overcommit_storage(upgraded, (1, 8, 2)) == "200"
    assert hs.overcommit_storage(v17, (1, 7, 3)) == "200"


def test_v182_fresh_cluster_over_provisions_storage_at_100(emulated) -> None:
    """On the fresh v1.8.2 profile Longhorn's storage-over-provisioning-percentage holds 100 (HV
    overcommit_config.go @v1.8.2) and overcommit-config has no value."""
    cl = _client(emulated, "v1.8.2")
    try:
        setting = cl.get(R.HARVESTER_SETTINGS, "overcommit-config") or {}
        assert "value" not in setting and json.loads(setting["default"])["storage"] == 100
        lh = cl.get(R.LONGHORN_SETTINGS, hs.OVER_PROVISIONING, "longhorn-system") or {}
        assert lh.get("value") == "100"
    finally:
        cl.close()


def test_vm_force_reset_policy_default_from_v17() -> None:
    """HV pkg/settings/settings_helper.go InitVMForceResetPolicy @v1.6.1 (period 300) and @v1.7.3
    (period 15, vmMigrationTimeout 180); KB 2025-09-08's "5 minutes" is stale on v1.7+ (R2.2)."""
    assert json.loads(_settings("v1.6.1")["vm-force-reset-policy"][0]) == {"enable": True, "period": 300}
    assert json.loads(_settings("v1.7.3")["vm-force-reset-policy"][0]) == {
        "enable": True,
        "period": 15,
        "vmMigrationTimeout": 180,
    }


def test_upgrade_config_gains_node_upgrade_option_in_v17() -> None:
    """HV settings.go UpgradeConfigSet @v1.6.1 and @v1.7.3 (commit de1ffe65f): nodeUpgradeOption
    (mode auto) and logReadyTimeout "5" from v1.7.0 (R2.2)."""
    v16 = json.loads(_settings("v1.6.1")["upgrade-config"][0])
    v17 = json.loads(_settings("v1.7.3")["upgrade-config"][0])
    assert v16 == {"imagePreloadOption": {"strategy": {"type": "sequential"}}, "restoreVM": False}
    assert v17 == {**v16, "nodeUpgradeOption": {"strategy": {"mode": "auto"}}, "logReadyTimeout": "5"}


def test_other_defaults_changed_in_v16_and_v17() -> None:
    """HV settings.go: support-bundle-timeout supportbundle.SupportBundleTimeoutDefaultStr "50" from
    v1.6.0 ("10" @v1.5.0); cluster-registration-url a JSON object from v1.7.2 (commit f21bdd05d);
    ui-plugin-index names harvester-latest.umd.min.js on v1.7.x only (DefaultUIPluginURL @v1.7.3)."""
    assert _settings("v1.5.0")["support-bundle-timeout"][0] == "10"
    assert _settings("v1.6.1")["support-bundle-timeout"][0] == "50"
    assert _settings("v1.6.1")["cluster-registration-url"][0] == ""
    assert json.loads(_settings("v1.7.3")["cluster-registration-url"][0]) == {"url": "", "insecureSkipTLSVerify": False}
    assert _settings("v1.7.3")["ui-plugin-index"][0].endswith("release-harvester-v1.7/harvester-latest.umd.min.js")
    assert _settings("v1.8.2")["ui-plugin-index"][0].endswith("harvester-release-harvester-v1.8.umd.min.js")
    assert json.loads(_settings("v1.8.2")["support-bundle-image"][0])["tag"] == "v0.0.92"


def test_vm_force_reset_policy_refuses_negative_migration_timeout_from_v17(emulated) -> None:
    """HV settings_helper.go DecodeVMForceResetPolicy @v1.7.3: a negative vmMigrationTimeout is
    refused; the field did not exist before v1.7.0 (R2.2)."""
    cl = _client(emulated, "v1.7.3")
    try:
        bad = json.dumps({"enable": True, "period": 15, "vmMigrationTimeout": -1})
        with pytest.raises(ApiError) as err:
            cl.patch(R.HARVESTER_SETTINGS, "vm-force-reset-policy", {"value": bad}, dry_run=True)
        assert "vmMigrationTimeout" in str(err.value)
        good = json.dumps({"enable": True, "period": 15, "vmMigrationTimeout": 0})
        cl.patch(R.HARVESTER_SETTINGS, "vm-force-reset-policy", {"value": good}, dry_run=True)
    finally:
        cl.close()


@pytest.mark.parametrize("profile,period_checked", [("v1.3.1", False), ("v1.4.3", True)])
def test_vm_force_reset_policy_rules_by_release(emulated, profile: str, period_checked: bool) -> None:
    """HV pkg/settings DecodeVMForceResetPolicy and setting/validator.go: up to v1.3.x only `value`
    is decoded and any period the struct takes passes; from v1.4.0 a period <= 0 is refused. On
    every release a field of the wrong JSON type fails Go's unmarshal."""
    cl = _client(emulated, profile)
    try:
        zero = json.dumps({"enable": True, "period": 0})
        if period_checked:
            with pytest.raises(ApiError) as err:
                cl.patch(R.HARVESTER_SETTINGS, "vm-force-reset-policy", {"value": zero}, dry_run=True)
            assert "period" in str(err.value)
        else:
            cl.patch(R.HARVESTER_SETTINGS, "vm-force-reset-policy", {"value": zero}, dry_run=True)
        with pytest.raises(ApiError):
            bad = '{"enable":"yes","period":300}'
            cl.patch(R.HARVESTER_SETTINGS, "vm-force-reset-policy", {"value": bad}, dry_run=True)
    finally:
        cl.close()


# -- R2.4: Pod Security Standards (v1.8.0+) -------------------------------------------------------
def test_pod_security_labels_by_list() -> None:
    """HV cluster_pod_security_standard.go / pss_setting.go / constants.go @v1.8.2: enabled, a
    namespace outside the whitelist gets baseline (restricted/privileged when listed) with
    enforce-version latest and the pss.harvesterhci.io/managed marker; a whitelisted one keeps no
    enforce label; disabling removes the labels of marked namespaces only."""
    doc = {"enabled": True, "whitelistedNamespacesList": "team-a", "restrictedNamespacesList": "secure"}
    marked = {pss.ENFORCE: "baseline", pss.ENFORCE_VERSION: "latest", pss.MANAGED: "true"}
    assert pss.labelled({}, "default", doc) == marked
    assert pss.labelled({}, "secure", doc)[pss.ENFORCE] == "restricted"
    assert pss.labelled({}, "kube-system", doc) == {} and pss.labelled({}, "team-a", doc) == {}
    assert pss.labelled(marked, "default", {"enabled": False}) == {}
    assert pss.labelled({pss.ENFORCE: "privileged"}, "mine", {"enabled": False}) == {pss.ENFORCE: "privileged"}


def test_v182_pod_security_controller(emulated) -> None:
    """On v1.8.2, enabling cluster-pod-security-standard labels `default` baseline and leaves
    harvester-system alone; disabling it removes the labels again (R2.4)."""
    cl = _client(emulated, "v1.8.2")
    enabled = json.dumps({**json.loads(_settings("v1.8.2")[pss.SETTING][0]), "enabled": True})
    try:
        cl.patch(R.HARVESTER_SETTINGS, pss.SETTING, {"value": enabled})

        def labels(ns: str) -> dict:
            return ((cl.get(R.NAMESPACES, ns) or {}).get("metadata") or {}).get("labels") or {}

        wait_for("setting-applied", lambda: labels("default").get(pss.ENFORCE) == "baseline")
        assert labels("default")[pss.MANAGED] == "true" and pss.ENFORCE not in labels(KV_NS)
    finally:
        cl.patch(R.HARVESTER_SETTINGS, pss.SETTING, {"value": None})
        # Every namespace, not only the first one the controller unlabels.
        wait_for("setting-applied", lambda: not cl.list(R.NAMESPACES, label_selector=pss.MANAGED))
        cl.close()


# -- R1.2: the KubeVirt CR and the kubevirt-migration setting --------------------------------------
def test_kubevirt_cr_spec_per_release() -> None:
    """HV deploy/charts/harvester/values.yaml `kubevirt.spec` @v1.5.0, v1.6.1, v1.7.3, v1.8.2:
    v1.6.0 adds VMLiveUpdateFeatures and ExpandDisks, vmRolloutStrategy LiveUpdate, the managedtap
    binding and workloadUpdateMethods [LiveMigrate]; v1.8.0 replaces the gate list; still no
    certificateRotateStrategy (R1.2)."""
    v15, v16, v17, v18 = (kubevirt_spec(v) for v in ((1, 5, 0), (1, 6, 1), (1, 7, 3), (1, 8, 2)))
    gates = {v: s["configuration"]["developerConfiguration"]["featureGates"] for v, s in (("15", v15), ("16", v16))}
    assert set(gates["16"]) - set(gates["15"]) == {"VMLiveUpdateFeatures", "ExpandDisks"}
    assert "vmRolloutStrategy" not in v15["configuration"] and v16["configuration"]["vmRolloutStrategy"] == "LiveUpdate"
    assert v15["workloadUpdateStrategy"] == {} and v16["workloadUpdateStrategy"] == {
        "workloadUpdateMethods": ["LiveMigrate"]
    }
    assert v16["configuration"]["network"]["binding"] == {"managedtap": {"domainAttachmentType": "managedTap"}}
    assert v17 == v16
    assert v18["configuration"]["developerConfiguration"]["featureGates"] == [
        "CPUManager",
        "DeclarativeHotplugVolumes",
        "ExpandDisks",
        "EnableVirtioFsConfigVolumes",
        "HostDevices",
    ]
    assert all(s["certificateRotateStrategy"] == {} for s in (v15, v16, v17, v18))


def test_kubevirt_migration_syncer_owns_the_block_from_v17() -> None:
    """HV pkg/controller/master/setting/kubevirt_migration.go @v1.7.0 … v1.8.2: the decoded setting
    replaces spec.configuration.migrations, keeping `network` (vm-migration-network, v1.6.0+) and
    dropping nodeDrainTaintKey; before v1.7.0 there is no such setting and the CR keeps its edit."""
    edited = {"bandwidthPerMigration": "1Gi", "network": "migration-nad", "nodeDrainTaintKey": "kubevirt.io/drain"}
    kv = {
        "metadata": {"name": "kubevirt"},
        "spec": {"configuration": {"migrations": edited}},
    }
    default = _settings("v1.7.3")["kubevirt-migration"][0]
    setting = {"metadata": {"name": kms.SETTING}, "default": default}
    for version, synced in (("v1.6.1", False), ("v1.7.3", True)):
        server = {"metadata": {"name": "server-version"}, "value": version}
        objects = _Objects((R.KUBEVIRTS, kv), (R.HARVESTER_SETTINGS, server), (R.HARVESTER_SETTINGS, setting))
        current, want = kms.wanted(objects)  # type: ignore[arg-type]
        assert current == edited
        assert want == ({**MIGRATION_DEFAULT, "network": "migration-nad"} if synced else None)


def test_v173_direct_cr_edit_is_overwritten(emulated) -> None:
    """On v1.7.3 the CR carries the setting's explicit values (150 s/GiB, bandwidth "0"), and an edit
    of the CR (KB 2023-09-01's advice) is overwritten by the syncer; editing the setting sticks
    (R1.2)."""
    cl = _client(emulated, "v1.7.3")

    def migrations() -> dict:
        kv = cl.get(R.KUBEVIRTS, "kubevirt", KV_NS) or {}
        return kv["spec"]["configuration"].get("migrations") or {}

    try:
        assert migrations() == MIGRATION_DEFAULT
        cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"configuration": {"migrations": {"allowPostCopy": True}}}}, KV_NS)
        wait_for("setting-applied", lambda: migrations() == MIGRATION_DEFAULT)
        value = json.dumps({**MIGRATION_DEFAULT, "completionTimeoutPerGiB": 300})
        cl.patch(R.HARVESTER_SETTINGS, kms.SETTING, {"value": value})
        wait_for("setting-applied", lambda: migrations().get("completionTimeoutPerGiB") == 300)
    finally:
        cl.patch(R.HARVESTER_SETTINGS, kms.SETTING, {"value": None})
        wait_for("setting-applied", lambda: migrations() == MIGRATION_DEFAULT)
        cl.close()


def test_v173_kubevirt_migration_webhook(emulated) -> None:
    """HV pkg/webhook/resources/setting/validator.go validateKubeVirtMigration @v1.8.2: refused while
    a VMIM's migrationState is not completed; network and nodeDrainTaintKey may not be set; accepted
    once the migration completed (R1.2)."""
    cl = _client(emulated, "v1.7.3")
    value = json.dumps({**MIGRATION_DEFAULT, "progressTimeout": 200})
    name = "releases-kvm-webhook"
    try:
        for field, text in (("network", "nad"), ("nodeDrainTaintKey", "x")):
            with pytest.raises(ApiError) as err:
                cl.patch(R.HARVESTER_SETTINGS, kms.SETTING, {"value": json.dumps({field: text})}, dry_run=True)
            assert field in str(err.value)
        vmim = {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstanceMigration",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"vmiName": "vm-000"},
        }
        cl.create(R.VMIMS, vmim, "default")
        with pytest.raises(ApiError) as err:
            cl.patch(R.HARVESTER_SETTINGS, kms.SETTING, {"value": value}, dry_run=True)
        assert "VM Migration in progress" in str(err.value)

        def done() -> bool:
            x = cl.get(R.VMIMS, name, "default") or {}
            return (x.get("status") or {}).get("phase") in m.FINAL_PHASES

        wait_for("migration-completed", done)
        assert (cl.get(R.VMIMS, name, "default") or {})["status"]["migrationState"]["completed"] is True
        cl.patch(R.HARVESTER_SETTINGS, kms.SETTING, {"value": value}, dry_run=True)
    finally:
        cl.delete(R.VMIMS, name, "default")
        cl.close()


# -- R1.1 / R1.3: migrations ------------------------------------------------------------------------
def test_vmim_phases_and_fields_per_kubevirt() -> None:
    """KV staging/src/kubevirt.io/api/core/v1/types.go @v1.5.2, v1.6.6, v1.7.4: WaitingForSync and
    Synchronizing, spec addedNodeSelector/sendTo/receive and status synchronizationAddresses from
    1.6; spec priority from 1.7; migrationState sourceState/targetState/migrationNetworkType from 1.6."""
    assert "WaitingForSync" not in m.vmim_phases((1, 5, 2))
    assert {"WaitingForSync", "Synchronizing"} <= set(m.vmim_phases((1, 6, 6)))
    assert m.vmim_spec_fields((1, 5, 2)) == ("vmiName",)
    assert set(m.vmim_spec_fields((1, 6, 6))) == {"vmiName", "addedNodeSelector", "sendTo", "receive"}
    assert "priority" in m.vmim_spec_fields((1, 7, 4))
    status = {"phase": "Running", "synchronizationAddresses": ["10.0.0.1:9185"]}
    assert "synchronizationAddresses" not in m.vmim_status(status, (1, 5, 2))
    assert m.vmim_status(status, (1, 6, 6))["synchronizationAddresses"] == ["10.0.0.1:9185"]
    state = {"sourceNode": "n0", "sourceState": {"node": "n0"}, "migrationNetworkType": "Pod"}
    assert m.migration_state(state, (1, 5, 2)) == {"sourceNode": "n0"}
    assert m.migration_state(state, (1, 6, 6)) == state


def test_vmim_crd_schema_has_the_kubevirt_1_7_fields() -> None:
    """The one VMIM CRD serves every profile: the union of the releases' fields (KV
    validations_generated.go @v1.7.4): spec priority, sendTo, receive, addedNodeSelector; status
    synchronizationAddresses; migrationState sourceState, targetState, migrationNetworkType."""
    text = (seed.CRD_DIR / "kubevirt.io.yaml").read_text()
    crd = next(
        d
        for d in yaml.safe_load_all(text)
        if d and d["metadata"]["name"] == "virtualmachineinstancemigrations.kubevirt.io"
    )
    props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    assert {"vmiName", "addedNodeSelector", "sendTo", "receive", "priority"} <= set(props["spec"]["properties"])
    status = props["status"]["properties"]
    assert "synchronizationAddresses" in status
    assert {"sourceState", "targetState", "migrationNetworkType"} <= set(status["migrationState"]["properties"])


def test_migration_defaults_unchanged_through_kubevirt_1_7() -> None:
    """KV pkg/virt-config/virt-config.go @v1.5.0 … v1.7.0: 5 / 2 / 0Mi / 150 s per GiB / 150 s, as
    from 1.4 (R1.1)."""
    for kubevirt in ((1, 4, 0), (1, 5, 2), (1, 6, 6), (1, 7, 4)):
        d = m.default_migrations(kubevirt)
        assert (d["parallelMigrationsPerCluster"], d["parallelOutboundMigrationsPerNode"]) == (5, 2)
        assert (d["completionTimeoutPerGiB"], d["progressTimeout"], d["bandwidthPerMigration"]) == (150, 150, "0")


# -- R1.5: launcher overhead ------------------------------------------------------------------------
def test_launcher_overhead_220mi_from_1_5_and_32mi_video_from_1_6() -> None:
    """KV pkg/virt-controller/services/renderresources.go: fixed part 210Mi @v1.4.0, 215Mi @v1.4.1
    (virtqemud 40Mi), 220Mi @v1.5.0 (virtlogd 25Mi); video RAM 16Mi up to 1.5.x, 32Mi @v1.6.0 (R1.5)."""
    assert [m.launcher_fixed_overhead(v) // MI for v in ((1, 4, 0), (1, 4, 1), (1, 5, 2), (1, 7, 4))] == [
        210,
        215,
        220,
        220,
    ]
    assert m.video_overhead((1, 5, 2)) == 16 * MI and m.video_overhead((1, 6, 6)) == 32 * MI
    domain = {"cpu": {"cores": 1}, "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
    assert m.memory_overhead(domain, 2**30, (1, 6, 6), None) - m.memory_overhead(domain, 2**30, (1, 5, 2), None) == (
        16 * MI
    )


# -- R1.4: certificates -----------------------------------------------------------------------------
def test_managed_leaves_per_kubevirt() -> None:
    """KV pkg/virt-operator/resource/generate/components/secrets.go NewCertSecrets @v1.5.2, v1.6.6,
    v1.7.4: 1.6 adds the synchronization-controller client and server certificates, 1.7 the
    virt-handler migration and vsock client certificates (R1.4)."""
    names = {v: {leaf.secret for leaf in leaves(KV_NS, v)} for v in ((1, 5, 2), (1, 6, 6), (1, 7, 4))}
    assert names[(1, 6, 6)] - names[(1, 5, 2)] == {
        "kubevirt-synchronization-controller-certs",
        "kubevirt-synchronization-controller-server-certs",
    }
    assert names[(1, 7, 4)] - names[(1, 6, 6)] == {
        "kubevirt-virt-handler-migration-client-certs",
        "kubevirt-virt-handler-vsock-client-certs",
    }
    by_name = {leaf.secret: leaf for leaf in leaves(KV_NS, (1, 7, 4))}
    assert by_name["kubevirt-virt-handler-vsock-client-certs"].cn == "kubevirt.io:system:client:vsock"
    assert by_name["kubevirt-synchronization-controller-server-certs"].client is False


def test_v182_cluster_issues_the_new_certificates_and_external_ca(emulated) -> None:
    """On v1.8.2 (KubeVirt 1.7.4) virt-operator issues the four new leaves from kubevirt-ca and keeps
    the ConfigMap kubevirt-external-ca, emptied (apply/core.go createExternalKubeVirtCAConfigMap,
    cleanupExternalCACerts @v1.6.6)."""
    cl = _client(emulated, "v1.8.2")
    try:
        for name in (
            "kubevirt-synchronization-controller-certs",
            "kubevirt-synchronization-controller-server-certs",
            "kubevirt-virt-handler-migration-client-certs",
            "kubevirt-virt-handler-vsock-client-certs",
        ):
            assert cl.get(R.SECRETS, name, KV_NS) is not None, name
        cm = cl.get(R.CONFIGMAPS, "kubevirt-external-ca", KV_NS)
        assert cm is not None and cm["data"] == {"ca-bundle": ""}
    finally:
        cl.close()


# -- R3: the upgrade gate's inputs and the faults that depend on it ----------------------------------
def test_v182_nodes_name_their_machines_for_the_gate(emulated) -> None:
    """HV pkg/webhook/resources/upgrade/validator.go isNodeMachineMatching @v1.8.2 (from v1.5.1):
    each node carries harvesterhci.io/managed=true and cluster.x-k8s.io/machine naming a Machine in
    fleet-local whose nodeRef points back (R3.1)."""
    cl = _client(emulated, "v1.8.2")
    try:
        machines = {x["metadata"]["name"]: x for x in cl.list(R.CAPI_MACHINES, "fleet-local")}
        nodes = cl.list(R.NODES)
        assert len(nodes) == len(machines)
        for node in nodes:
            meta = node["metadata"]
            assert meta["labels"]["harvesterhci.io/managed"] == "true"
            machine = machines[meta["annotations"]["cluster.x-k8s.io/machine"]]
            assert machine["status"]["nodeRef"]["name"] == meta["name"]
    finally:
        cl.close()


def test_faults_declare_the_releases_they_apply_to() -> None:
    """CSI-02's failure (a CDI image on a third-party class) is no failure from v1.5.0 (HV
    pkg/apis/harvesterhci.io/v1beta1/image.go spec.backend @v1.5.0 … v1.8.2, R6): the fault says so
    and applies only before; faults without bounds apply to every release."""
    from harvester_conformance.emulator.areas import FAULTS

    assert FAULTS["CSI-02"].applies_to("v1.4.3") and not FAULTS["CSI-02"].applies_to("v1.8.2")
    assert FAULTS["CSI-02"].why_not
    assert FAULTS["UPG-03"].applies_to("v1.8.2") and FAULTS["MIG-01"].applies_to("v1.7.3")


def test_v182_upg03_fault_pins_the_vm(emulated) -> None:
    """From v1.8.0 a CD-ROM/containerDisk no longer makes a VMI non-migratable for the upgrade gate
    (HV commit ef1bcad99, validator.go @v1.8.2), so the UPG-03 fault pins the VM to its host with a
    nodeSelector there, which still blocks; no CD-ROM is attached (R3.1)."""
    from harvester_conformance.emulator import areas

    c = emulated("v1.8.2")
    cl = _client(emulated, "v1.8.2")
    try:
        areas.inject("UPG-03", c.kubeconfig)
        vmi = cl.get(R.VMIS, "vm-000", "default") or {}
        assert vmi["spec"]["nodeSelector"] == {"kubernetes.io/hostname": vmi["status"]["nodeName"]}
        assert not any("cdrom" in d for d in vmi["spec"]["domain"]["devices"]["disks"])
    finally:
        areas.revert("UPG-03", c.kubeconfig)
    try:
        assert "nodeSelector" not in ((cl.get(R.VMS, "vm-000", "default") or {})["spec"]["template"]["spec"])
    finally:
        cl.close()


# -- R1.2: vm-migration-network writes the CR's migration network (issue 10, MIG area) -------------
MIGRATION_NETWORK = {"clusterNetwork": "vm-net", "vlan": 2013, "range": "10.0.13.0/24", "exclude": []}


def test_vm_migration_network_bridge_config() -> None:
    """HV pkg/util/network/common.go CreateBridgeConfig @v1.6.0 … v1.8.2: a bridge on
    `<clusterNetwork>-br`, promiscuous, the setting's VLAN (0 -> 1), whereabouts IPAM over its range,
    `exclude` only when given."""
    assert kms.bridge_config(json.dumps(MIGRATION_NETWORK)) == {
        "cniVersion": "0.3.1",
        "type": "bridge",
        "bridge": "vm-net-br",
        "promiscMode": True,
        "vlan": 2013,
        "ipam": {"type": "whereabouts", "range": "10.0.13.0/24"},
    }
    config = kms.bridge_config(json.dumps({**MIGRATION_NETWORK, "vlan": 0, "exclude": ["10.0.13.1/32"]}))
    assert config["vlan"] == 1 and config["ipam"]["exclude"] == ["10.0.13.1/32"]


def test_v173_vm_migration_network_sets_the_cr_network(emulated) -> None:
    """HV pkg/controller/master/kubevirt/vm_migration_network.go @v1.6.0 … v1.8.2: a value creates a
    NAD `harvester-system/vm-migration-network-<random>` labelled with the value's SHA-1, and the
    CR's spec.configuration.migrations.network becomes its bare name (the setting records
    "harvester-system/<name>"); the kubevirt-migration syncer (v1.7.0+) keeps that network; an
    empty value clears it and deletes the NAD."""
    cl = _client(emulated, "v1.7.3")
    value = json.dumps(MIGRATION_NETWORK, separators=(",", ":"))

    def migrations() -> dict:
        kv = cl.get(R.KUBEVIRTS, "kubevirt", KV_NS) or {}
        return kv["spec"]["configuration"].get("migrations") or {}

    def recorded() -> dict:
        setting = cl.get(R.HARVESTER_SETTINGS, kms.NETWORK_SETTING) or {}
        return setting["metadata"].get("annotations") or {}

    try:
        assert "network" not in migrations()
        cl.patch(R.HARVESTER_SETTINGS, kms.NETWORK_SETTING, {"value": value})
        wait_for("setting-applied", lambda: bool(migrations().get("network")))
        name = migrations()["network"]
        assert name.startswith("vm-migration-network-") and "/" not in name
        nad = cl.get(R.NADS, name, KV_NS) or {}
        assert nad["metadata"]["labels"][kms.HASH_KEY] == kms.sha1(value)
        assert json.loads(nad["spec"]["config"])["bridge"] == "vm-net-br"
        # The controller records what it applied after writing the CR: waited for, not assumed.
        wait_for("setting-applied", lambda: recorded().get(kms.NAD_ANNOTATION), describe=recorded)
        assert recorded() == {kms.HASH_KEY: kms.sha1(value), kms.NAD_ANNOTATION: f"{KV_NS}/{name}"}
        # The kubevirt-migration syncer rewrites the block from its setting and keeps the network.
        edited = json.dumps({**MIGRATION_DEFAULT, "progressTimeout": 160})
        cl.patch(R.HARVESTER_SETTINGS, kms.SETTING, {"value": edited})
        wait_for("setting-applied", lambda: migrations().get("progressTimeout") == 160)
        assert migrations() == {**MIGRATION_DEFAULT, "progressTimeout": 160, "network": name}
        cl.patch(R.HARVESTER_SETTINGS, kms.NETWORK_SETTING, {"value": ""})
        wait_for("setting-applied", lambda: "network" not in migrations())
        wait_for("object-deleted", lambda: cl.get(R.NADS, name, KV_NS) is None)
    finally:
        # An empty value clears the network only while the setting records one; its annotations
        # go once the controller has acted (else the CR would keep a network nothing clears).
        cl.patch(R.HARVESTER_SETTINGS, kms.NETWORK_SETTING, {"value": ""})
        wait_for(
            "setting-applied",
            lambda: "network" not in migrations() and not kms.needs_sync(recorded(), ""),
            describe=lambda: (migrations(), recorded()),
        )
        cl.patch(R.HARVESTER_SETTINGS, kms.SETTING, {"value": None})
        cl.patch(R.HARVESTER_SETTINGS, kms.NETWORK_SETTING, {"metadata": {"annotations": None}})
        wait_for("setting-applied", lambda: migrations() == MIGRATION_DEFAULT, describe=migrations)
        cl.close()
