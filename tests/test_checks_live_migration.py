"""The live-migration checks as pure functions, against upstream's rules (kubevirt/kubevirt
v0.54.0, v1.1.1, v1.3.1, v1.4.0; facts.md §10 and §17.1), no cluster."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from harvester_conformance.checks import live_migration as lm

KV054, KV111, KV131, KV140 = (0, 54, 0), (1, 1, 1), (1, 3, 1), (1, 4, 0)
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- quantities and sizes -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [("64Mi", 64 * 2**20), ("0", 0), ("1G", 10**9), ("1.5Gi", 3 * 2**29), (1024, 1024), ("500m", Decimal("0.5"))],
)
def test_quantity(text: object, value: object) -> None:
    assert lm.quantity(text) == value


@pytest.mark.parametrize("text", ["64MB", "abc", "", None, True, "1..2Gi"])
def test_quantity_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        lm.quantity(text)


def test_eight_gib_is_nine_decimal_gigabytes() -> None:
    """`Quantity.ScaledValue(Giga)` rounds up: the article's 6400 s for 8 GiB is 7200 s in code."""
    assert lm.decimal_gigabytes(lm.quantity("8Gi")) == 9
    assert lm.completion_timeout(800, 9) == 7200
    assert lm.completion_timeout(150, 9) == 1350
    assert lm.decimal_gigabytes(lm.quantity("1G")) == 1


def test_data_size_prefers_guest_memory_and_flags_ephemeral_disks() -> None:
    spec = {"domain": {"memory": {"guest": "8092Mi"}, "resources": {"requests": {"memory": "1Gi"}}}}
    assert lm.data_size(spec) == (9, True)
    spec["volumes"] = [{"name": "c", "containerDisk": {"image": "x"}}]
    assert lm.data_size(spec) == (9, False)
    assert lm.data_size({"domain": {"resources": {"requests": {"memory": "2Gi"}}}}) == (3, True)


# -- configuration --------------------------------------------------------------------------------
def test_defaults_per_version() -> None:
    """virt-config.go: bandwidth 0 (since 0.44), completion timeout 800 up to 1.3.x, 150 from 1.4.0."""
    for kv in (KV054, KV111, KV131):
        assert lm.defaults(kv)["completionTimeoutPerGiB"] == 800
    assert lm.defaults(KV140)["completionTimeoutPerGiB"] == 150
    assert lm.quantity(lm.defaults(KV054)["bandwidthPerMigration"]) == 0
    assert lm.defaults(KV140)["parallelMigrationsPerCluster"] == 5
    assert lm.defaults(KV140)["parallelOutboundMigrationsPerNode"] == 2
    assert lm.defaults(KV140)["progressTimeout"] == 150


def test_effective_configuration_and_sources() -> None:
    spec = {"configuration": {"migrations": {"bandwidthPerMigration": "1Gi", "allowPostCopy": True}}}
    cfg = lm.effective(spec, KV131)
    assert cfg.values["bandwidthPerMigration"].source == "KubeVirt CR"
    assert cfg.values["completionTimeoutPerGiB"].source == "KubeVirt 1.3.1 default"
    assert cfg.get("completionTimeoutPerGiB") == 800
    text = lm.table(cfg)
    assert "bandwidthPerMigration 1Gi (KubeVirt CR; the article says 64Mi)" in text
    assert "completionTimeoutPerGiB 800 (KubeVirt 1.3.1 default)" in text
    found = lm.deliberate(cfg)
    assert [f.object for f in found] == [lm.CR, lm.CR]
    assert "allowPostCopy set to true" in found[1].message or "allowPostCopy set to true" in found[0].message


def test_untouched_cr_has_no_deliberate_values_and_reports_article_drift() -> None:
    cfg = lm.effective({}, KV140)
    assert lm.deliberate(cfg) == []
    text = lm.table(cfg)
    assert "bandwidthPerMigration 0Mi (unlimited) (KubeVirt 1.4.0 default; the article says 64Mi)" in text
    assert "completionTimeoutPerGiB 150 (KubeVirt 1.4.0 default; the article says 800)" in text


def test_explicit_default_values_are_not_deviations() -> None:
    spec = {"configuration": {"migrations": {"bandwidthPerMigration": "0", "parallelMigrationsPerCluster": 5}}}
    assert lm.deliberate(lm.effective(spec, KV111)) == []


@pytest.mark.parametrize(
    ("migrations", "fragment"),
    [
        ("fast", "not an object"),
        ({"parallelMigrationsPerCluster": "5"}, "not an integer"),
        ({"parallelMigrationsPerCluster": -1}, "outside"),
        ({"bandwidthPerMigration": "64MB"}, "not a Kubernetes quantity"),
        ({"allowPostCopy": "yes"}, "not true or false"),
        ({"completionTimeoutPerGib": 800}, "not a field"),
    ],
)
def test_malformed_configuration(migrations: object, fragment: str) -> None:
    problems = lm.config_problems(migrations)
    assert problems and fragment in problems[0]
    with pytest.raises(ValueError):
        lm.effective({"configuration": {"migrations": migrations}}, KV111)


def test_later_fields_are_accepted() -> None:
    assert lm.config_problems({"allowWorkloadDisruption": True, "network": "migration-net"}) == []


# -- policies -------------------------------------------------------------------------------------
def policy(name: str, vmi: dict | None = None, ns: dict | None = None, old: bool = False, **values: object) -> dict:
    sel: dict = {}
    if vmi is not None:
        sel["virtualMachineInstanceSelector"] = {"matchLabels": vmi} if old else vmi
    if ns is not None:
        sel["namespaceSelector"] = {"matchLabels": ns} if old else ns
    return {"metadata": {"name": name}, "spec": {"selectors": sel, **values}}


def test_policy_with_most_matching_labels_wins() -> None:
    p1 = policy("a", vmi={"app": "db"})
    p2 = policy("b", vmi={"app": "db"}, ns={"team": "x"})
    chosen = lm.match_policy([p1, p2], {"app": "db"}, {"team": "x"}, KV131)
    assert chosen is p2


def test_policy_ties_go_to_vmi_labels_then_name() -> None:
    by_ns = policy("a", ns={"team": "x"})
    by_vmi = policy("b", vmi={"app": "db"})
    assert lm.match_policy([by_ns, by_vmi], {"app": "db"}, {"team": "x"}, KV131) is by_vmi
    twin = policy("0-first", vmi={"app": "db"})
    assert lm.match_policy([by_vmi, twin], {"app": "db"}, {}, KV131) is twin


def test_policy_needs_every_label_and_selectors() -> None:
    partial = policy("a", vmi={"app": "db", "tier": "gold"})
    assert lm.match_policy([partial], {"app": "db"}, {}, KV131) is None
    no_selectors = {"metadata": {"name": "n"}, "spec": {"completionTimeoutPerGiB": 1}}
    assert lm.match_policy([no_selectors], {"app": "db"}, {}, KV131) is None
    empty = policy("empty", vmi={}, ns={})
    assert lm.match_policy([empty], {"app": "db"}, {}, KV131) is empty


def test_vmi_without_labels_skips_selectors() -> None:
    """countMatchingLabels guards both selectors with the VMI's labels being non-nil."""
    p = policy("a", vmi={"app": "db"}, ns={"team": "x"})
    assert lm.match_policy([p], {}, {}, KV131) is p


def test_policy_selectors_on_054_are_label_selectors() -> None:
    p = policy("a", vmi={"app": "db"}, old=True)
    assert lm.match_policy([p], {"app": "db"}, {}, KV054) is p
    assert lm.match_policy([p], {"app": "web"}, {}, KV054) is None
    assert lm.policy_problems(p, KV054) == []
    assert any("LabelSelector" in x for x in lm.policy_problems(p, KV131))


def test_policy_values_win_and_omitted_fields_fall_back() -> None:
    base = lm.effective({"configuration": {"migrations": {"allowPostCopy": True}}}, KV131).plain()
    p = policy("a", vmi={"x": "y"}, bandwidthPerMigration="128Mi", completionTimeoutPerGiB=400)
    merged = lm.with_policy(base, p)
    assert merged["bandwidthPerMigration"] == "128Mi" and merged["completionTimeoutPerGiB"] == 400
    assert merged["allowPostCopy"] is True and merged["progressTimeout"] == 150
    assert lm.config_differences(merged, {**merged, "bandwidthPerMigration": "134217728"}) == []
    diff = lm.config_differences(merged, {**merged, "completionTimeoutPerGiB": 800})
    assert diff == ["completionTimeoutPerGiB 800 (expected 400)"]


def test_malformed_policy() -> None:
    assert "spec.selectors is missing" in lm.policy_problems({"metadata": {"name": "p"}, "spec": {}}, KV131)[0]
    bad = policy("p", vmi={"app": 3}, completionTimeoutPerGiB="slow")
    problems = lm.policy_problems(bad, KV131)
    assert any("non-string" in x for x in problems) and any("not an integer" in x for x in problems)


# -- migratability and method ---------------------------------------------------------------------
def vmi(
    volumes: list[dict],
    disks: list[dict] | None = None,
    infos: dict[str, list[str]] | None = None,
    iface: str = "masquerade",
    annotations: dict | None = None,
    condition: tuple[str, str] | None = None,
    method: str | None = None,
) -> dict:
    status: dict = {
        "phase": "Running",
        "volumeStatus": [
            {"name": n, "persistentVolumeClaimInfo": {"accessModes": modes}} for n, modes in (infos or {}).items()
        ],
    }
    if condition:
        status["conditions"] = [{"type": "LiveMigratable", "status": condition[0], "reason": condition[1]}]
    if method:
        status["migrationMethod"] = method
    return {
        "metadata": {"name": "v", "namespace": "default", "annotations": annotations or {}},
        "spec": {
            "domain": {
                "devices": {"disks": disks or [], "interfaces": [{"name": "default", iface: {}}]},
            },
            "networks": [{"name": "default", "pod": {}}],
            "volumes": volumes,
        },
        "status": status,
    }


PVC = {"name": "root", "persistentVolumeClaim": {"claimName": "root-pvc"}}
CLOUD_INIT = {"name": "ci", "cloudInitNoCloud": {"userData": "#cloud-config"}}


def test_rwx_pvc_only_is_live_migration() -> None:
    d = lm.decide(vmi([PVC], infos={"root": ["ReadWriteMany"]}), KV131)
    assert d.migratable is True and d.method == "LiveMigration"


def test_rwo_pvc_is_not_migratable_and_block() -> None:
    d = lm.decide(vmi([PVC], infos={"root": ["ReadWriteOnce"]}), KV131)
    assert d.reason == "DisksNotLiveMigratable" and d.block


def test_unknown_access_mode_is_not_migratable() -> None:
    d = lm.decide(vmi([PVC]), KV131)
    assert d.reason == "DisksNotLiveMigratable" and "unknown" in d.message


def test_writable_cloud_init_disk_forces_block_migration_even_readonly() -> None:
    """IsReadOnlyDisk counts only CD-ROMs: a `disk` with readonly true is still copied."""
    disks = [{"name": "ci", "disk": {"bus": "virtio", "readonly": True}}]
    d = lm.decide(vmi([PVC, CLOUD_INIT], disks, {"root": ["ReadWriteMany"]}), KV131)
    assert d.migratable and d.method == "BlockMigration"
    cdrom = [{"name": "ci", "cdrom": {"bus": "sata"}}]
    assert lm.decide(vmi([PVC, CLOUD_INIT], cdrom, {"root": ["ReadWriteMany"]}), KV131).method == "LiveMigration"


def test_pod_bridge_binding_blocks_migration_by_version() -> None:
    v = vmi([], iface="bridge")
    assert lm.decide(v, KV054).reason == "InterfaceNotLiveMigratable"
    assert lm.decide(v, KV131).reason == "InterfaceNotLiveMigratable"
    allowed = vmi([], iface="bridge", annotations={lm.BRIDGE_ANNOTATION: ""})
    assert lm.decide(allowed, KV111).migratable is True
    assert lm.decide(allowed, KV054).reason == "InterfaceNotLiveMigratable"


def test_host_devices_block_migration() -> None:
    v = vmi([])
    v["spec"]["domain"]["devices"]["hostDevices"] = [{"name": "gpu", "deviceName": "nvidia"}]
    assert lm.decide(v, KV131).reason == "HostDeviceNotLiveMigratable"


def test_condition_check() -> None:
    rwo = {"root": ["ReadWriteOnce"]}
    assert lm.check_condition(vmi([PVC], infos=rwo, condition=("False", "DisksNotLiveMigratable")), KV131) is None
    stale = lm.check_condition(vmi([PVC], infos=rwo, condition=("True", "")), KV131)
    assert stale and stale.object == "VirtualMachineInstance default/v" and "expected False" in stale.message
    assert "without a LiveMigratable" in lm.check_condition(vmi([PVC], infos=rwo), KV131).message  # type: ignore[union-attr]
    no_reason = lm.check_condition(vmi([], condition=("False", "")), KV131)
    assert no_reason and "without a reason" in no_reason.message
    # A node-dependent reason cannot be second-guessed from the spec.
    assert lm.check_condition(vmi([], condition=("False", "CPUModeLiveMigratable")), KV131) is None
    wrong = lm.check_condition(vmi([], condition=("False", "DisksNotLiveMigratable")), KV131)
    assert wrong and "nothing that blocks" in wrong.message


def test_method_check() -> None:
    rwx = {"root": ["ReadWriteMany"]}
    disks = [{"name": "ci", "disk": {}}]
    block = vmi([PVC, CLOUD_INIT], disks, rwx, condition=("True", ""), method="BlockMigration")
    assert lm.check_method(block, KV131) is None
    stale = vmi([PVC, CLOUD_INIT], disks, rwx, condition=("True", ""), method="LiveMigration")
    found = lm.check_method(stale, KV131)
    assert found and "expected BlockMigration" in found.message
    assert lm.check_method(vmi([PVC], infos=rwx), KV131) is None  # no condition yet: MIG-02's
    missing = lm.check_method(vmi([PVC], infos=rwx, condition=("True", "")), KV131)
    assert missing and "no status.migrationMethod" in missing.message


def test_vmi_without_status() -> None:
    bare = {"metadata": {"name": "v", "namespace": "d", "creationTimestamp": stamp(NOW - dt.timedelta(hours=1))}}
    assert lm.missing_status(bare, NOW, dt.timedelta(minutes=5))
    fresh = {"metadata": {"name": "v", "namespace": "d", "creationTimestamp": stamp(NOW)}}
    assert lm.missing_status(fresh, NOW, dt.timedelta(minutes=5)) is None


# -- stuck migrations -----------------------------------------------------------------------------
def migration(phase: str, started: dt.datetime | None, per_gib: int | None = 800) -> tuple[dict, dict]:
    state: dict = {"migrationUid": "u1"}
    if started:
        state["startTimestamp"] = stamp(started)
    if per_gib is not None:
        state["migrationConfiguration"] = {"completionTimeoutPerGiB": per_gib}
    vmim = {"metadata": {"name": "m", "namespace": "default", "uid": "u1"}, "spec": {"vmiName": "v"}}
    vmim["status"] = {"phase": phase}
    v = {"spec": {"domain": {"memory": {"guest": "8Gi"}}}, "status": {"migrationState": state}}
    return vmim, v


def test_eight_gib_migration_is_stuck_after_7200s_not_6400s() -> None:
    slack = dt.timedelta(0)
    vmim, v = migration("Running", NOW - dt.timedelta(seconds=7000))
    assert lm.check_stuck(lm.Stuck(vmim, v, NOW, 800, 150), slack) is None  # past the article's 6400 s
    vmim, v = migration("Running", NOW - dt.timedelta(seconds=7300))
    found = lm.check_stuck(lm.Stuck(vmim, v, NOW, 800, 150), slack)
    assert found and found.object == "VirtualMachineInstanceMigration default/m" and "7200 s" in found.message


def test_stuck_uses_the_version_default_when_nothing_is_recorded() -> None:
    vmim, v = migration("Running", NOW - dt.timedelta(seconds=1400), per_gib=None)
    assert lm.check_stuck(lm.Stuck(vmim, v, NOW, 150, 150), dt.timedelta(0))  # 9 x 150 = 1350 s
    assert lm.check_stuck(lm.Stuck(vmim, v, NOW, 800, 150), dt.timedelta(0)) is None


def test_finished_or_disabled_migrations_are_not_stuck() -> None:
    vmim, v = migration("Succeeded", NOW - dt.timedelta(days=1))
    assert lm.check_stuck(lm.Stuck(vmim, v, NOW, 800, 150), dt.timedelta(0)) is None
    vmim, v = migration("Running", NOW - dt.timedelta(days=1), per_gib=0)
    assert lm.check_stuck(lm.Stuck(vmim, v, NOW, 800, 150), dt.timedelta(0)) is None


def test_pending_target_past_catch_all_timeout() -> None:
    vmim, v = migration("Scheduling", None)
    vmim["status"]["phaseTransitionTimestamps"] = [
        {"phase": "Scheduling", "phaseTransitionTimestamp": stamp(NOW - dt.timedelta(minutes=30))}
    ]
    found = lm.check_stuck(lm.Stuck(vmim, v, NOW, 800, 150), dt.timedelta(0))
    assert found and "Scheduling" in found.message


def test_vmim_record_by_version() -> None:
    """0.54: only the VMI's migrationState; from 1.1 the VMIM has its own."""
    vmim = {"metadata": {"uid": "u2"}, "status": {"phase": "Running", "migrationState": {"migrationUid": "u2"}}}
    other = {"status": {"migrationState": {"migrationUid": "u1"}}}
    assert lm.record(vmim, other) == {"migrationUid": "u2"}
    assert lm.record({"metadata": {"uid": "u1"}, "status": {}}, other) == {"migrationUid": "u1"}


# -- completed migrations -------------------------------------------------------------------------
def completed(kubevirt: tuple[int, ...]) -> tuple[dict, dict, dict]:
    cfg = lm.effective({}, kubevirt).plain()
    state = {
        "migrationUid": "u1",
        "completed": True,
        "sourceNode": "n0",
        "targetNode": "n1",
        "startTimestamp": stamp(NOW - dt.timedelta(seconds=10)),
        "endTimestamp": stamp(NOW),
        "migrationConfiguration": dict(cfg),
    }
    vmim: dict = {"metadata": {"uid": "u1"}, "status": {"phase": "Succeeded"}}
    if kubevirt >= (1, 1):
        vmim["status"]["migrationState"] = state
        vmim["status"]["phaseTransitionTimestamps"] = [{"phase": "Succeeded", "phaseTransitionTimestamp": stamp(NOW)}]
    return vmim, {"status": {"nodeName": "n1", "migrationState": state}}, cfg


@pytest.mark.parametrize("kubevirt", [KV054, KV111, KV140])
def test_completed_migration_is_consistent(kubevirt: tuple[int, ...]) -> None:
    vmim, v, cfg = completed(kubevirt)
    assert lm.check_completed(vmim, v, cfg, kubevirt) == []


def test_completed_migration_problems() -> None:
    vmim, v, cfg = completed(KV140)
    v["status"]["nodeName"] = "n0"
    v["status"]["migrationState"]["migrationConfiguration"]["completionTimeoutPerGiB"] = 800
    problems = lm.check_completed(vmim, v, cfg, KV140)
    assert any("not on the target node" in p for p in problems)
    assert any("completionTimeoutPerGiB 800 (expected 150)" in p for p in problems)
    vmim, v, cfg = completed(KV111)
    del vmim["status"]["phaseTransitionTimestamps"]
    assert any("lack Succeeded" in p for p in lm.check_completed(vmim, v, cfg, KV111))


# -- concurrency ----------------------------------------------------------------------------------
def test_concurrency_limits() -> None:
    seen = lm.Concurrency()
    vmims = [{"spec": {"vmiName": n}, "status": {"phase": p}} for n, p in [("a", "Running"), ("b", "Scheduling")]]
    seen.observe(
        vmims + [{"spec": {"vmiName": "c"}, "status": {"phase": "Pending"}}], {"a": "n0", "b": "n0", "c": "n1"}
    )
    assert seen.cluster == 2 and seen.per_node == {"n0": 2}
    assert lm.check_concurrency(seen, 2, 2) == []
    found = lm.check_concurrency(seen, 2, 1)
    assert len(found) == 1 and "Node n0" in found[0].message and found[0].object == lm.CR


def test_reasons_of_later_releases_are_not_second_guessed() -> None:
    for reason in ("HypervPassthroughNotLiveMigratable", "NoTSCFrequencyNotLiveMigratable", "SomethingNew"):
        assert lm.check_condition(vmi([], condition=("False", reason)), KV140) is None


def test_harvester_17_writes_the_defaults_explicitly() -> None:
    """From Harvester v1.7.0 the kubevirt-migration setting's default lands in the CR, with the
    booleans KubeVirt leaves unset (HV `pkg/settings/settings.go` @v1.7.0; virt-config reads unset
    as false): equal to the defaults, nothing deliberate."""
    written = {
        "parallelOutboundMigrationsPerNode": 2,
        "parallelMigrationsPerCluster": 5,
        "allowAutoConverge": False,
        "bandwidthPerMigration": 0,
        "completionTimeoutPerGiB": 150,
        "progressTimeout": 150,
        "unsafeMigrationOverride": False,
        "allowPostCopy": False,
        "allowWorkloadDisruption": False,
        "disableTLS": False,
        "matchSELinuxLevelOnMigration": False,
    }
    spec = {"configuration": {"migrations": written}}
    assert lm.deliberate(lm.effective(spec, (1, 6, 6))) == []
    changed = lm.deliberate(lm.effective({"configuration": {"migrations": {**written, "disableTLS": True}}}, (1, 6, 6)))
    assert [f.message.split(";")[0] for f in changed] == ["spec.configuration.migrations.disableTLS set to true"]


# -- Harvester v1.7+: the kubevirt-migration setting owns the CR's block --------------------------
SETTING_DEFAULT = (
    '{"parallelOutboundMigrationsPerNode":2,"parallelMigrationsPerCluster":5,"allowAutoConverge":false,'
    '"bandwidthPerMigration":0,"completionTimeoutPerGiB":150,"progressTimeout":150,"unsafeMigrationOverride":false,'
    '"allowPostCopy":false,"allowWorkloadDisruption":false,"disableTLS":false,"matchSELinuxLevelOnMigration":false}'
)
KV166 = (1, 6, 6)


def synced(value: str = "", network: str | None = None) -> tuple[dict, dict]:
    """(setting, KubeVirt spec) as Harvester's syncer leaves them (HV kubevirt_migration.go @v1.7.3)."""
    setting = {"metadata": {"name": lm.SETTING}, "default": SETTING_DEFAULT, "value": value}
    decoded = json.loads(value or SETTING_DEFAULT)
    block = {k: (str(v) if k == "bandwidthPerMigration" else v) for k, v in decoded.items()}
    if network:
        block["network"] = network
    return setting, {"configuration": {"migrations": block}}


def test_setting_owns_the_block_from_v17() -> None:
    assert not lm.setting_owns((1, 6, 1))
    assert lm.setting_owns((1, 7, 0)) and lm.setting_owns((1, 8, 2)) and lm.setting_owns(None)


def test_healthy_v17_values_come_from_the_setting_default() -> None:
    setting, spec = synced(network="vm-migration-network-abcde")
    values, problems = lm.setting_values(setting)
    assert problems == [] and values is not None and values.source == "Setting kubevirt-migration default"
    cfg = lm.effective_with_setting(spec, KV166, values)
    assert cfg.values["completionTimeoutPerGiB"].source == "Setting kubevirt-migration default"
    assert cfg.values["network"].source == "KubeVirt CR"
    assert cfg.values["nodeDrainTaintKey"].source == "KubeVirt 1.6.6 default"
    assert lm.drift(cfg) == [] and lm.deliberate(cfg) == []
    assert "completionTimeoutPerGiB 150 (Setting kubevirt-migration default; the article says 800)" in lm.table(cfg)


def test_values_set_in_the_setting_name_the_setting_and_the_cr() -> None:
    value = json.dumps({**json.loads(SETTING_DEFAULT), "bandwidthPerMigration": "1Gi", "allowPostCopy": True})
    setting, spec = synced(value)
    values, _ = lm.setting_values(setting)
    assert values is not None and values.source == lm.SETTING_OBJ
    cfg = lm.effective_with_setting(spec, KV166, values)
    assert lm.drift(cfg) == []
    found = lm.deliberate(cfg)
    assert [f.object for f in found] == [lm.SETTING_OBJ, lm.SETTING_OBJ, lm.CR]
    assert found[0].message.startswith("bandwidthPerMigration set to 1Gi in its value; KubeVirt 1.6.6 default 0Mi")
    assert "the article says 64Mi" in found[0].message
    assert "allowPostCopy, bandwidthPerMigration" in found[2].message and lm.SETTING_OBJ in found[2].message
    assert "change the setting instead" in lm.ARTICLE_VS_RELEASE and "edit" in lm.ARTICLE_VS_RELEASE


def test_direct_cr_edit_on_v17_is_drift_not_a_setting() -> None:
    """The article's advice on v1.7+: the CR edited, the setting untouched; KubeVirt applies the
    edit until Harvester overwrites it."""
    setting, spec = synced()
    spec["configuration"]["migrations"]["allowPostCopy"] = True
    spec["configuration"]["migrations"]["nodeDrainTaintKey"] = "example.com/drain"
    values, _ = lm.setting_values(setting)
    assert values is not None
    cfg = lm.effective_with_setting(spec, KV166, values)
    assert cfg.get("allowPostCopy") is True and cfg.values["allowPostCopy"].source == "KubeVirt CR"
    found = lm.drift(cfg)
    assert [f.object for f in found] == [lm.CR, lm.CR]
    assert "allowPostCopy is true but Setting kubevirt-migration default says false" in found[0].message
    assert "nodeDrainTaintKey is example.com/drain but Setting kubevirt-migration default does not set it" in (
        found[1].message
    )
    assert lm.deliberate(cfg) == []  # reported once, as drift


def test_setting_not_yet_written_into_the_cr() -> None:
    setting, _ = synced()
    values, _ = lm.setting_values(setting)
    assert values is not None
    cfg = lm.effective_with_setting({}, KV166, values)
    found = lm.drift(cfg)
    # Only the fields KubeVirt's default does not already equal still count: all are unset in the CR.
    assert len(found) == len(values.values) and all("not written the setting" in f.message for f in found)


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        (None, "missing"),
        ({"value": "{not json"}, "its value is not JSON"),
        ({"value": "[1]"}, "list JSON, not an object"),
        ({"value": '{"parallelMigrationsPerCluster": "5"}'}, "its value: parallelMigrationsPerCluster"),
    ],
)
def test_unusable_setting(setting: dict | None, fragment: str) -> None:
    values, problems = lm.setting_values(setting)
    assert values is None and fragment in problems[0]


def test_setting_ignores_unknown_keys_and_what_the_syncer_drops() -> None:
    """Go's decoder ignores unknown keys; the syncer drops nodeDrainTaintKey and keeps the CR's
    network."""
    values, problems = lm.setting_values({"value": '{"foo": 1, "nodeDrainTaintKey": "x", "progressTimeout": 200}'})
    assert problems == [] and values is not None and values.values == {"progressTimeout": 200}


# -- KubeVirt 1.6+ migration phases ---------------------------------------------------------------
def test_decentralized_sync_phases_are_pending_not_running() -> None:
    """KV types.go @v1.6.6, v1.7.4: WaitingForSync and Synchronizing precede Pending and are not
    `IsRunning`; a decentralized source (sendTo, no receive) in Scheduling is not counted either."""
    assert {"WaitingForSync", "Synchronizing"} <= set(lm.PENDING_PHASES)
    assert not {"WaitingForSync", "Synchronizing"} & set(lm.ACTIVE_PHASES)
    for phase in ("WaitingForSync", "Synchronizing", "Pending", "", "Succeeded"):
        assert not lm.counts_toward_limits({"status": {"phase": phase}})
    assert lm.counts_toward_limits({"status": {"phase": "Scheduling"}})
    source = {"spec": {"vmiName": "a", "sendTo": {"migrationID": "x"}}, "status": {"phase": "Scheduling"}}
    assert not lm.counts_toward_limits(source)
    assert lm.counts_toward_limits({**source, "status": {"phase": "Running"}})
    both = {"spec": {"sendTo": {}, "receive": {}}, "status": {"phase": "Scheduling"}}
    assert lm.counts_toward_limits(both)  # not decentralized: sendTo and receive together


def test_concurrency_ignores_sync_phases() -> None:
    seen = lm.Concurrency()
    vmims = [
        {"spec": {"vmiName": n}, "status": {"phase": p}}
        for n, p in [("a", "Running"), ("b", "WaitingForSync"), ("c", "Synchronizing")]
    ]
    seen.observe(vmims, {"a": "n0", "b": "n0", "c": "n0"})
    assert seen.cluster == 1 and seen.per_node == {"n0": 1}
    found = lm.check_concurrency(lm.Concurrency(cluster=3), 2, 1, source="from Setting kubevirt-migration")
    assert found[0].message.endswith("parallelMigrationsPerCluster is 2 (from Setting kubevirt-migration)")


def test_sync_phases_are_never_stuck() -> None:
    """No pending-pod timeout applies while a decentralized migration waits for its peer."""
    old = stamp(NOW - dt.timedelta(hours=3))
    for phase in ("WaitingForSync", "Synchronizing"):
        vmim = {
            "metadata": {"name": "m", "namespace": "ns", "uid": "u", "creationTimestamp": old},
            "status": {
                "phase": phase,
                "phaseTransitionTimestamps": [{"phase": phase, "phaseTransitionTimestamp": old}],
            },
        }
        s = lm.Stuck(vmim, None, NOW, 150, 150)
        assert lm.check_stuck(s, dt.timedelta(0)) is None


def test_failure_lists_at_most_max_listed_vmis_and_counts_the_rest() -> None:
    """MIG-02/03 go through `require`: a cluster full of stale VMIs gives a bounded message that
    still counts every one, and the objects list keeps them all for the reports."""
    from harvester_conformance.verdict import MAX_LISTED, Violation, require

    extra = 7
    stale = []
    for i in range(MAX_LISTED + extra):
        v = vmi([PVC], infos={"root": ["ReadWriteOnce"]}, condition=("True", ""), method="LiveMigration")
        v["metadata"]["name"] = f"vm-{i:03d}"
        stale.append(v)
    findings = [lm.check_condition(v, KV131) for v in stale]
    assert all(findings)
    with pytest.raises(Violation) as caught:
        require(findings, "running VMIs whose LiveMigratable condition disagrees")
    lines = str(caught.value).splitlines()
    assert lines[0].endswith(f"{MAX_LISTED + extra} offending object(s)")
    listed = [line for line in lines if line.startswith("  - ")]
    assert len(listed) == MAX_LISTED
    assert "VirtualMachineInstance default/vm-000" in listed[0]
    assert f"default/vm-{MAX_LISTED - 1:03d}" in listed[-1]
    assert not any(f"default/vm-{MAX_LISTED:03d}" in line for line in lines)
    assert lines[-1] == f"  ... and {extra} more"
    assert len(caught.value.objects) == MAX_LISTED + extra
    # Exactly MAX_LISTED: every VMI listed, no "more" line.
    with pytest.raises(Violation) as exact:
        require(findings[:MAX_LISTED], "running VMIs whose LiveMigratable condition disagrees")
    assert "more" not in str(exact.value).splitlines()[-1]
