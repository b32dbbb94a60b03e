"""NetApp Trident (article install_netapp_trident_csi; facts.md §11): the classes the article defines
(NTA-01), the PSA authorisation of the operator (NTA-02) and multipathd on every host (NTA-03).
Vendor checks: not applicable where Trident is not installed.

Sources: the article's `storage.yaml` (StorageClass `ontap-san-economy` of provisioner
`csi.trident.netapp.io`, VolumeSnapshotClass `csi-snapclass` of that driver) and
`authorize_trident.yaml` (ClusterRole `trident-operator-psa`: verb `updatepsa` on
`management.cattle.io` projects, bound to ServiceAccount `trident-operator`, NetApp/trident issue
839); Harvester's `csi-driver-config` (harvester/harvester `pkg/settings/settings.go`). RBAC matching
follows kubernetes `pkg/apis/rbac/v1/evaluation_helpers.go` (`*` matches any group, resource, verb).
"""

from __future__ import annotations

from dataclasses import dataclass

from harvester_conformance.checks.findings import Finding
from harvester_conformance.checks.rook_ceph import CLASS_KEYS, SETTING_REF, parse_driver_config
from harvester_conformance.probes.parsers import (
    MultipathRules,
    UnitState,
    multipath_blacklisted,
    parse_multipath_conf,
    parse_oem,
    runs_at_boot,
    step_files,
    step_units,
)

DRIVER = "csi.trident.netapp.io"
ARTICLE_CLASS = "ontap-san-economy"
ARTICLE_SNAPSHOT_CLASS = "csi-snapclass"
PSA_ROLE = "trident-operator-psa"
OPERATOR_SA = "trident-operator"


def _name(obj: dict) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def installed_evidence(
    drivers: list[dict], storage_classes: list[dict], snapshot_classes: list[dict], setting: dict | None
) -> list[str]:
    """What shows Trident is installed (empty: it is not, the vendor checks do not apply)."""
    config, _ = parse_driver_config(setting)
    evidence = [f"CSIDriver {DRIVER}" for d in drivers if _name(d) == DRIVER]
    evidence += [f"StorageClass {_name(sc)}" for sc in storage_classes if sc.get("provisioner") == DRIVER]
    evidence += [f"VolumeSnapshotClass {_name(c)}" for c in snapshot_classes if c.get("driver") == DRIVER]
    if config and DRIVER in config:
        evidence.append(f"{SETTING_REF} entry {DRIVER}")
    return evidence


def check_classes(storage_classes: list[dict], snapshot_classes: list[dict], setting: dict | None) -> list[Finding]:
    """NTA-01: a Trident StorageClass and VolumeSnapshotClass exist, and csi-driver-config names
    Trident with snapshot classes of that driver. A missing class is named after the article's."""
    found = []
    if not any(sc.get("provisioner") == DRIVER for sc in storage_classes):
        found.append(
            Finding(
                f"StorageClass {ARTICLE_CLASS}",
                f"no StorageClass with provisioner {DRIVER} (the article defines {ARTICLE_CLASS}); "
                "Trident volumes cannot be provisioned",
            )
        )
    vsc = {_name(c): c for c in snapshot_classes}
    if not any(c.get("driver") == DRIVER for c in snapshot_classes):
        found.append(
            Finding(
                f"VolumeSnapshotClass {ARTICLE_SNAPSHOT_CLASS}",
                f"no VolumeSnapshotClass with driver {DRIVER} (the article defines {ARTICLE_SNAPSHOT_CLASS})",
            )
        )
    config, problem = parse_driver_config(setting)
    if config is None:
        return [*found, Finding(SETTING_REF, f"value {problem}; expected an entry for {DRIVER}")]
    entry = config.get(DRIVER)
    if entry is None:
        return [*found, Finding(SETTING_REF, f"no entry for {DRIVER}; expected its VolumeSnapshotClass names")]
    for key in CLASS_KEYS:
        name = entry.get(key)
        if not name or (vsc.get(str(name)) or {}).get("driver") != DRIVER:
            found.append(
                Finding(SETTING_REF, f"{DRIVER}: {key} is {name!r}; expected a VolumeSnapshotClass of driver {DRIVER}")
            )
    return found


def _allows(rule: dict, group: str, resource: str, verb: str) -> bool:
    def has(values: object, want: str) -> bool:
        return isinstance(values, list) and (want in values or "*" in values)

    return has(rule.get("apiGroups"), group) and has(rule.get("resources"), resource) and has(rule.get("verbs"), verb)


def check_psa_role(role: dict | None, bindings: list[dict], accounts: list[dict]) -> list[Finding]:
    """NTA-02: the ClusterRole grants updatepsa on management.cattle.io projects and a binding gives
    it to an existing trident-operator ServiceAccount."""
    ref = f"ClusterRole {PSA_ROLE}"
    if role is None:
        return [
            Finding(ref, "does not exist; expected the article's role (updatepsa on management.cattle.io projects)")
        ]
    found = []
    rules = [r for r in role.get("rules") or [] if isinstance(r, dict)]
    if not any(_allows(r, "management.cattle.io", "projects", "updatepsa") for r in rules):
        verbs = sorted({str(v) for r in rules for v in r.get("verbs") or []})
        found.append(
            Finding(ref, f"grants {', '.join(verbs) or 'nothing'}; expected updatepsa on management.cattle.io projects")
        )
    existing = {((a.get("metadata") or {}).get("namespace"), _name(a)) for a in accounts}
    subjects = [
        (s.get("namespace"), s.get("name"))
        for b in bindings
        if ((b.get("roleRef") or {}).get("kind"), (b.get("roleRef") or {}).get("name")) == ("ClusterRole", PSA_ROLE)
        for s in b.get("subjects") or []
        if isinstance(s, dict) and s.get("kind") == "ServiceAccount" and s.get("name") == OPERATOR_SA
    ]
    if not any(s in existing for s in subjects):
        named = ", ".join(f"{ns}/{n}" for ns, n in subjects) or "none"
        found.append(
            Finding(
                f"ClusterRoleBinding {PSA_ROLE}",
                f"no binding of {ref} to an existing ServiceAccount {OPERATOR_SA} (bound: {named})",
            )
        )
    return found


# -- NTA-03: multipathd on every host ----------------------------------------------------------------
# What NTA-03 reads on each host, and why (the article's section "Enable multipathd", revised in
# harvesterhci.io commit 39eb0df, 2026-02-17: the /oem stage is `initramfs`; `default` never ran):
# - the unit's state, from systemd (enabled, and active/running);
# - /oem/*.yaml and *.yml (elemental applies them in file-name order): a stage that runs at boot
#   (parsers.BOOT_STAGES) enables multipathd, and its blacklist file is written there too;
# - /etc/multipath.conf and /etc/multipath/conf.d/*.conf (multipath's default config_dir): the
#   blacklist in force;
# - /sys/block: each device-mapper device whose dm/uuid starts with `mpath-` is a multipath map;
#   its slaves/ are the paths, whose device/vendor and device/model say whose disk it is.
# Not checked (files do not show it, or the article does not ask it): multipath's wwid and property
# rules and its find_multipaths policy; disks of Longhorn's v2 data engine (NVMe over TCP, native
# NVMe multipath); cloud-config outside /oem (/system/oem is the OS image's, /usr/local/cloud-config
# is not the article's); the `if:` conditions of stages; `systemctl.start` (an enabled unit starts at
# boot: harvester-installer's own external-storage setup only enables it).
MULTIPATHD = "multipathd.service"
MULTIPATH_CONF = "/etc/multipath.conf"
MULTIPATH_CONF_DIR = "/etc/multipath/conf.d"
# Longhorn (v1 data engine) exposes each attached volume through its tgt-based iSCSI frontend as a
# SCSI disk with tgt's default inquiry data: vendor IET, product VIRTUAL-DISK. Harvester's installer
# blacklists exactly this pair from v1.5.0 (harvester-installer pkg/config/cos.go
# `disableLonghornMultipathing`, /etc/multipath/conf.d/99-longhorn.conf).
LONGHORN_VENDOR, LONGHORN_PRODUCT = "IET", "VIRTUAL-DISK"
NETAPP_VENDOR, NETAPP_PRODUCT = "NETAPP", "LUN"


@dataclass(frozen=True)
class ScsiDisk:
    name: str  # sdX, as /sys/block names it
    vendor: str  # device/vendor, stripped (SCSI inquiry data is blank-padded)
    model: str  # device/model, stripped

    @property
    def longhorn(self) -> bool:
        return (self.vendor, self.model) == (LONGHORN_VENDOR, LONGHORN_PRODUCT)


@dataclass(frozen=True)
class MultipathMap:
    device: str  # dm-N
    name: str  # dm/name (the map's name: its WWID, or mpathX with user_friendly_names)
    slaves: tuple[str, ...]  # the paths' block devices


@dataclass(frozen=True)
class MultipathHost:
    """What a host shows about multipathd (gathered through the node probe)."""

    node: str
    unit: UnitState
    oem: dict[str, bytes | None]  # /oem/<file> -> contents
    config: dict[str, bytes | None]  # /etc/multipath.conf and /etc/multipath/conf.d/*.conf -> contents
    maps: tuple[MultipathMap, ...] = ()
    disks: tuple[ScsiDisk, ...] = ()


def _is_config(path: str) -> bool:
    return path == MULTIPATH_CONF or (path.startswith(MULTIPATH_CONF_DIR + "/") and path.endswith(".conf"))


def _rules(config: dict[str, bytes | None]) -> tuple[MultipathRules, list[str]]:
    rules, problems = MultipathRules(), []
    for path in sorted(config):
        data = config[path]
        if data is None:
            continue
        try:
            rules = rules + parse_multipath_conf(data)
        except ValueError as exc:
            problems.append(f"{path} does not parse ({exc})")
    return rules, problems


def _unit_issues(unit: UnitState) -> list[str]:
    if not unit.found:
        return [f"{MULTIPATHD} is not installed (LoadState {unit.load})"]
    out = []
    if not unit.enabled:
        out.append(f"{MULTIPATHD} is {unit.unit_file or 'not enabled'}; expected enabled")
    if not unit.running:
        out.append(f"{MULTIPATHD} is {unit.active} ({unit.sub}); expected active (running)")
    return out


def _oem_issues(oem: dict[str, bytes | None]) -> tuple[list[str], dict[str, bytes | None]]:
    """(issues with the /oem setup of multipathd, the multipath config the boot stages write)."""
    configs, broken = parse_oem(oem)
    enabled, elsewhere, disabled = [], [], []
    written: dict[str, bytes | None] = {}
    for path, cfg in configs:
        for stage, step in cfg.steps():
            boot = runs_at_boot(stage)
            if MULTIPATHD in step_units(step, "enable"):
                (enabled if boot else elsewhere).append(f"{path} (stage {stage})")
            if boot and MULTIPATHD in {*step_units(step, "disable"), *step_units(step, "mask")}:
                disabled.append(f"{path} (stage {stage})")
            if boot:
                written.update({f: data for f, data in step_files(step) if _is_config(f)})
    issues = []
    if not enabled:
        why = "no /oem file enables multipathd in a stage that runs at boot"
        if elsewhere:
            why += f" ({', '.join(elsewhere)} never runs at boot; the article's revised file uses stage initramfs)"
        issues.append(why)
    if disabled:
        issues.append(f"{', '.join(disabled)} disables or masks multipathd at boot")
    for path, why in sorted(broken.items()):
        if b"multipath" in (oem.get(path) or b""):
            issues.append(f"{path} does not parse ({why}), so it is skipped at boot")
    return issues, written


def _blacklist_issues(host: MultipathHost, persisted: dict[str, bytes | None]) -> list[str]:
    """Longhorn's disks must be blacklisted by the configuration in force and by the one the /oem
    boot stages write (/etc is rebuilt at every boot: what only /etc holds is lost)."""
    devnode = next((d.name for d in host.disks if d.longhorn), "sdz")
    live, problems = _rules(host.config)
    if not multipath_blacklisted(live, devnode, LONGHORN_VENDOR, LONGHORN_PRODUCT):
        where = ", ".join(sorted(p for p, d in host.config.items() if d is not None)) or "no multipath configuration"
        return [
            *problems,
            f"Longhorn's disks (vendor {LONGHORN_VENDOR}, product {LONGHORN_PRODUCT}) are not blacklisted ({where}); "
            f'the article\'s example blacklists everything but vendor "{NETAPP_VENDOR}" product "{NETAPP_PRODUCT}"',
        ]
    kept, _ = _rules(persisted)
    if not multipath_blacklisted(kept, devnode, LONGHORN_VENDOR, LONGHORN_PRODUCT):
        return [
            *problems,
            "the blacklist that keeps multipathd off Longhorn's disks is not written by an /oem boot stage, "
            "so a reboot loses it (the article's second /oem file regenerates /etc/multipath.conf)",
        ]
    return problems


def _map_issues(host: MultipathHost) -> list[str]:
    disks = {d.name: d for d in host.disks}
    out = []
    for m in host.maps:
        taken = [s for s in m.slaves if s in disks and disks[s].longhorn]
        if taken:
            out.append(
                f"multipath map {m.name} ({m.device}) holds Longhorn disk(s) {', '.join(taken)}: "
                "Longhorn cannot use a disk multipathd has taken"
            )
    return out


def check_multipath_host(host: MultipathHost) -> Finding | None:
    """NTA-03 on one host: multipathd enabled and running, enabled by an /oem file in a stage that
    runs at boot, Longhorn's disks blacklisted now and after a reboot, and no multipath map on a
    Longhorn disk. One finding naming the Node, with every issue."""
    oem_issues, persisted = _oem_issues(host.oem)
    issues = [*_unit_issues(host.unit), *oem_issues, *_blacklist_issues(host, persisted), *_map_issues(host)]
    return Finding(f"Node {host.node}", "; ".join(issues)) if issues else None
