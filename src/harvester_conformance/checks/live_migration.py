"""Live migration as KubeVirt decides it (KB "VM Live Migration Policy and Configuration"):
the effective migration configuration, whether a VMI is migratable and by which method, which
MigrationPolicy applies and what it changes, and when a migration counts as stuck.

Upstream sources (kubevirt/kubevirt, tags v0.54.0, v1.1.1, v1.3.1, v1.4.0, v1.6.6, v1.7.4):
`pkg/virt-config/virt-config.go` (defaults), `staging/src/kubevirt.io/api/core/v1/types.go`
(MigrationConfiguration, migrationState), `pkg/virt-handler/vm.go` (calculateLiveMigrationCondition,
checkVolumesForMigration, checkNetworkInterfacesForMigration), `migrations/v1alpha1/types.go` and
`pkg/virt-controller/watch/migrationpolicy.go` (MatchPolicy), `pkg/virt-launcher/virtwrap/manager.go`
(getVMIMigrationDataSize) and `live-migration-source.go` (the timeouts); harvester/harvester
`pkg/controller/master/setting/kubevirt_migration.go` @v1.7.3, v1.8.2 (the kubevirt-migration setting
that owns the CR's migration block from Harvester v1.7.0).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal

from harvester_conformance.checks.findings import Finding
from harvester_conformance.checks.quantities import quantity
from harvester_conformance.checks.timestamps import parse_time

NAMESPACE = "harvester-system"
CR = f"KubeVirt {NAMESPACE}/kubevirt"
LIVE_MIGRATABLE = "LiveMigratable"
FINAL_PHASES = ("Succeeded", "Failed")
# Phases in which virt-controller counts a migration as running against the limits
# (`VirtualMachineInstanceMigration.IsRunning`, KV types.go @v1.4.0 … v1.7.4). From KV 1.6 a
# decentralized source's Scheduling is not counted (`count_toward_limits`).
ACTIVE_PHASES = ("Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running")
# KV 1.6+ (decentralized migration): a target waits in WaitingForSync, a source in Synchronizing,
# for the other side before both go to Pending; neither counts as running and no pending-pod
# timeout applies (virt-controller `watch/migration/migration.go` @v1.6.6, v1.7.4).
SYNC_PHASES = ("WaitingForSync", "Synchronizing")
PENDING_PHASES = ("", "Pending", *SYNC_PHASES)
BRIDGE_ANNOTATION = "kubevirt.io/allow-pod-bridge-network-live-migration"


# -- quantities ----------------------------------------------------------------------------------
def decimal_gigabytes(size: Decimal) -> int:
    """KubeVirt's `ScaledValue(resource.Giga)`: whole decimal gigabytes, rounded up (8Gi -> 9)."""
    return math.ceil(size / Decimal(10**9))


# -- versions ------------------------------------------------------------------------------------
Version = tuple[int, ...]


def version(text: str | None) -> Version | None:
    """(1, 4, 0) from "v1.4.0" or "1.4.0-150600.5.15.1"; None when unknown."""
    m = re.match(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


# -- the migration configuration (facts §10.1) --------------------------------------------------
INT_FIELDS = (
    "parallelMigrationsPerCluster",
    "parallelOutboundMigrationsPerNode",
    "completionTimeoutPerGiB",
    "progressTimeout",
)
BOOL_FIELDS = (
    "allowAutoConverge",
    "allowPostCopy",
    "unsafeMigrationOverride",
    "disableTLS",
    "matchSELinuxLevelOnMigration",
)
STR_FIELDS = ("nodeDrainTaintKey", "network")
QUANTITY_FIELDS = ("bandwidthPerMigration",)
# Fields that later KubeVirt releases add (1.5+: allowWorkloadDisruption; HEAD: maxDowntimeMs ...):
# accepted with their JSON type, never reported as unknown.
LATER_BOOL_FIELDS = ("allowWorkloadDisruption",)
LATER_INT_FIELDS = ("maxDowntimeMs", "utilityVolumesTimeout")
UINT32 = 2**32 - 1
INT64 = 2**63 - 1
# What the article documents (its "Changing Cluster Wide Migration Limits" block).
ARTICLE: dict[str, object] = {
    "parallelMigrationsPerCluster": 5,
    "parallelOutboundMigrationsPerNode": 2,
    "bandwidthPerMigration": "64Mi",
    "completionTimeoutPerGiB": 800,
    "progressTimeout": 150,
    "allowAutoConverge": False,
    "allowPostCopy": False,
}
# The policy fields a MigrationPolicy can set (v1alpha1 MigrationPolicySpec, 0.54 … 1.4).
POLICY_FIELDS = ("allowAutoConverge", "bandwidthPerMigration", "completionTimeoutPerGiB", "allowPostCopy")
# What MIG-05/07 compare in a recorded migrationConfiguration.
RECORDED_FIELDS = (
    "parallelMigrationsPerCluster",
    "parallelOutboundMigrationsPerNode",
    "bandwidthPerMigration",
    "completionTimeoutPerGiB",
    "progressTimeout",
    "allowAutoConverge",
    "allowPostCopy",
)


def defaults(kubevirt: Version | None) -> dict[str, object]:
    """KubeVirt's defaults for the running version: bandwidth 0 (unlimited) since 0.44, so in every
    release Harvester ships; completionTimeoutPerGiB 800 up to 1.3.x and 150 from 1.4.0 (commit
    5080d817f1). Unknown version: the newest rule."""
    return {
        "parallelMigrationsPerCluster": 5,
        "parallelOutboundMigrationsPerNode": 2,
        "bandwidthPerMigration": "0Mi",
        "completionTimeoutPerGiB": 800 if kubevirt is not None and kubevirt < (1, 4) else 150,
        "progressTimeout": 150,
        "allowAutoConverge": False,
        "allowPostCopy": False,
        "unsafeMigrationOverride": False,
        "nodeDrainTaintKey": "kubevirt.io/drain",
        # Unset reads as false (virt-config; allowWorkloadDisruption, from 1.5, follows allowPostCopy,
        # false by default). Harvester's kubevirt-migration setting writes them explicitly from v1.7.0.
        "disableTLS": False,
        "matchSELinuxLevelOnMigration": False,
        **({"allowWorkloadDisruption": False} if kubevirt is None or kubevirt >= (1, 5) else {}),
    }


def _type_problem(key: str, value: object) -> str | None:
    if value is None:
        return None
    if key in INT_FIELDS or key in LATER_INT_FIELDS:
        bound = UINT32 if key.startswith("parallel") else INT64
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{key} is {value!r}, not an integer"
        if not 0 <= value <= bound:
            return f"{key} is {value}, outside 0..{bound}"
    elif key in BOOL_FIELDS or key in LATER_BOOL_FIELDS:
        if not isinstance(value, bool):
            return f"{key} is {value!r}, not true or false"
    elif key in STR_FIELDS:
        if not isinstance(value, str):
            return f"{key} is {value!r}, not a string"
    elif key in QUANTITY_FIELDS:
        try:
            if quantity(value) < 0:
                return f"{key} is {value!r}, a negative bandwidth"
        except ValueError:
            return f"{key} is {value!r}, not a Kubernetes quantity"
    else:
        return f"{key} is not a field of KubeVirt's MigrationConfiguration"
    return None


def config_problems(migrations: object) -> list[str]:
    """Why `spec.configuration.migrations` is malformed (empty when it is not)."""
    if migrations is None:
        return []
    if not isinstance(migrations, dict):
        return [f"is {type(migrations).__name__} {migrations!r}, not an object"]
    return [p for k, v in migrations.items() if (p := _type_problem(k, v))]


FROM_CR = "KubeVirt CR"


@dataclass(frozen=True)
class Value:
    name: str
    value: object
    # "KubeVirt CR", "Setting kubevirt-migration" (its value), "Setting kubevirt-migration
    # default", or "KubeVirt <version> default"
    source: str

    @property
    def from_cr(self) -> bool:
        return self.source == FROM_CR

    @property
    def from_setting(self) -> bool:
        return self.source.startswith(SETTING_OBJ)

    @property
    def is_default(self) -> bool:
        """KubeVirt's own default: nobody set it."""
        return not (self.from_cr or self.from_setting)


@dataclass(frozen=True)
class SettingValues:
    """What Harvester's kubevirt-migration syncer writes into the CR (v1.7.0+)."""

    values: dict[str, object]
    source: str  # SETTING_OBJ, or SETTING_OBJ + " default" when the setting has no value


@dataclass(frozen=True)
class Configuration:
    values: dict[str, Value]
    kubevirt: Version | None
    setting: SettingValues | None = None  # set from Harvester v1.7.0: the setting owns the block

    def get(self, name: str) -> object:
        v = self.values.get(name)
        return v.value if v else None

    def plain(self) -> dict[str, object]:
        return {k: v.value for k, v in self.values.items()}


def _kv_label(kubevirt: Version | None) -> str:
    return "KubeVirt " + (".".join(map(str, kubevirt)) if kubevirt else "(version unknown)")


def effective(kubevirt_spec: dict | None, kubevirt: Version | None) -> Configuration:
    """The migration configuration in force: the CR's values over the version's defaults.
    Raises ValueError when the CR's block is malformed (see `config_problems`)."""
    migrations = ((kubevirt_spec or {}).get("configuration") or {}).get("migrations")
    problems = config_problems(migrations)
    if problems:
        raise ValueError("; ".join(problems))
    label = f"{_kv_label(kubevirt)} default"
    values = {k: Value(k, v, label) for k, v in defaults(kubevirt).items()}
    for k, v in (migrations or {}).items():
        if v is not None:
            values[k] = Value(k, v, "KubeVirt CR")
    return Configuration(values, kubevirt)


# -- Harvester's kubevirt-migration setting (v1.7.0+, facts-releases R1.2) ---------------------
SETTING = "kubevirt-migration"
SETTING_OBJ = f"Setting {SETTING}"
SETTING_SINCE = (1, 7, 0)
# What the syncer never takes from the setting: `network` stays the CR's (vm-migration-network
# writes it), nodeDrainTaintKey is dropped (so KubeVirt's default applies).
NOT_FROM_SETTING = ("network", "nodeDrainTaintKey")
ARTICLE_VS_RELEASE = (
    "the article says to edit spec.configuration.migrations of the KubeVirt CR; from Harvester v1.7.0 "
    "the kubevirt-migration setting owns that block (Harvester writes it into the CR and overwrites "
    "direct edits), so change the setting instead"
)


def setting_owns(harvester: Version | None) -> bool:
    """Whether the running release's kubevirt-migration setting owns the CR's block (an unknown
    release: the newest rules)."""
    return harvester is None or harvester >= SETTING_SINCE


def setting_values(setting: dict | None) -> tuple[SettingValues | None, list[str]]:
    """The setting as the syncer reads it: `value`, else `default`, decoded into KubeVirt's
    MigrationConfiguration (Go's decoder ignores unknown keys; a wrong type is an error, and the
    syncer then leaves the CR as it is). (None, problems) when it is missing or undecodable."""
    if setting is None:
        return None, ["missing: nothing writes the KubeVirt CR's migration block from it"]
    text = setting.get("value") or ""
    source = SETTING_OBJ if text else f"{SETTING_OBJ} default"
    which = "value" if text else "default"
    text = text or setting.get("default") or ""
    try:
        doc = json.loads(text) if text else {}
    except ValueError:
        return None, [f"its {which} is not JSON: the syncer cannot decode it and leaves the CR as it is"]
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        return None, [f"its {which} is {type(doc).__name__} JSON, not an object: the syncer cannot decode it"]
    problems = [
        f"its {which}: {p}"
        for k, v in doc.items()
        if k in INT_FIELDS + BOOL_FIELDS + STR_FIELDS + QUANTITY_FIELDS + LATER_BOOL_FIELDS + LATER_INT_FIELDS
        and (p := _type_problem(k, v))
    ]
    if problems:
        return None, problems
    known = {*INT_FIELDS, *BOOL_FIELDS, *QUANTITY_FIELDS, *LATER_BOOL_FIELDS, *LATER_INT_FIELDS}
    values = {k: v for k, v in doc.items() if k in known and v is not None}
    return SettingValues(values, source), []


def effective_with_setting(
    kubevirt_spec: dict | None, kubevirt: Version | None, setting: SettingValues
) -> Configuration:
    """The configuration in force on Harvester v1.7+: KubeVirt applies the CR's values, which the
    syncer copies from the setting; each value says whether it came from the setting, from a
    direct edit of the CR (overwritten at the setting's next sync), or from KubeVirt's default.
    Raises ValueError when the CR's block is malformed."""
    base = effective(kubevirt_spec, kubevirt)
    values = dict(base.values)
    for name, v in base.values.items():
        if v.from_cr and name in setting.values and same_value(name, v.value, setting.values[name]):
            values[name] = Value(name, v.value, setting.source)
    return Configuration(values, kubevirt, setting)


def drift(cfg: Configuration, obj: str = CR) -> list[Finding]:
    """Harvester v1.7+: where the CR's block is not what the syncer writes from the setting (the
    article's direct edit, which Harvester overwrites, or a change of the setting not applied)."""
    if cfg.setting is None:
        return []
    out = []
    src = cfg.setting.source
    for name, v in cfg.values.items():
        if name == "network":
            continue
        want = cfg.setting.values.get(name)
        if v.from_cr:
            says = f"says {show(name, want)}" if name in cfg.setting.values else "does not set it"
            out.append(
                Finding(
                    obj,
                    f"spec.configuration.migrations.{name} is {show(name, v.value)} but {src} {says}: "
                    "edited in the CR, as the article advises; Harvester overwrites it with the setting",
                )
            )
        elif v.is_default and name in cfg.setting.values:
            out.append(
                Finding(
                    obj,
                    f"spec.configuration.migrations.{name} is unset but {src} sets {show(name, want)}: "
                    "Harvester has not written the setting into the CR",
                )
            )
    return out


def same_value(name: str, a: object, b: object) -> bool:
    """Equal as KubeVirt reads them (quantities by amount, integers by value)."""
    if a is None or b is None:
        return a is b
    if name in QUANTITY_FIELDS:
        try:
            return quantity(a) == quantity(b)
        except ValueError:
            return False
    if name in INT_FIELDS:
        return not isinstance(a, bool) and not isinstance(b, bool) and _int(a) == _int(b)
    return a == b


def _int(v: object) -> int | None:
    try:
        return int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def show(name: str, value: object) -> str:
    if name in QUANTITY_FIELDS:
        try:
            return f"{value} (unlimited)" if quantity(value) == 0 else str(value)
        except ValueError:
            return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def table(cfg: Configuration) -> str:
    """Each documented value: in force, where it came from, and the article's."""
    lines = []
    for name, article in ARTICLE.items():
        v = cfg.values[name]
        note = "" if same_value(name, v.value, article) else f"; the article says {show(name, article)}"
        lines.append(f"{name} {show(name, v.value)} ({v.source}{note})")
    return "; ".join(lines)


def deliberate(cfg: Configuration, obj: str = CR) -> list[Finding]:
    """Values an operator set that differ from the running KubeVirt's default (an advisory: a
    choice, not a fault). `network` is Harvester's own (vm-migration-network). Up to v1.6.x they
    are set in the CR; from v1.7.0 in the kubevirt-migration setting (named, with the CR that
    carries them; a CR value the setting does not hold is `drift`'s)."""
    base = defaults(cfg.kubevirt)
    out = []
    for name, v in cfg.values.items():
        if v.is_default or name == "network" or same_value(name, v.value, base.get(name)):
            continue
        if cfg.setting is not None and not v.from_setting:
            continue
        article = ARTICLE.get(name)
        said = f"; the article says {show(name, article)}" if article is not None else ""
        field_of = "default" if v.source.endswith(" default") else "value"
        where = f"{name} set to {show(name, v.value)} in its {field_of}" if v.from_setting else None
        out.append(
            Finding(
                SETTING_OBJ if where else obj,
                f"{where or f'spec.configuration.migrations.{name} set to {show(name, v.value)}'}; "
                f"{_kv_label(cfg.kubevirt)} default {show(name, base.get(name, 'unset'))}{said}",
            )
        )
    if out and cfg.setting is not None:
        names = ", ".join(sorted({f.message.split(" ", 1)[0] for f in out}))
        out.append(
            Finding(obj, f"spec.configuration.migrations carries {names} as Harvester wrote them from {SETTING_OBJ}")
        )
    return out


# -- migration policies (facts §10.4) ------------------------------------------------------------
def _selector_labels(selector: object, kubevirt: Version | None) -> dict[str, str]:
    """Labels a selector lists: `matchLabels` of a metav1.LabelSelector on 0.54, the plain map
    (v1alpha1.LabelSelector) from 1.1."""
    if not isinstance(selector, dict):
        return {}
    if kubevirt is not None and kubevirt < (1, 1):
        return dict(selector.get("matchLabels") or {})
    return {k: v for k, v in selector.items() if isinstance(v, str)}


def policy_problems(policy: dict, kubevirt: Version | None) -> list[str]:
    """Why a MigrationPolicy is malformed (it then never matches, or upstream cannot read it)."""
    spec = policy.get("spec")
    if not isinstance(spec, dict):
        return ["has no spec"]
    out = []
    selectors = spec.get("selectors")
    if not isinstance(selectors, dict):
        out.append("spec.selectors is missing: upstream matches such a policy to no VMI")
    else:
        for key in ("namespaceSelector", "virtualMachineInstanceSelector"):
            sel = selectors.get(key)
            if sel is None:
                continue
            old = kubevirt is not None and kubevirt < (1, 1)
            labels = sel.get("matchLabels") if old and isinstance(sel, dict) else sel
            if not isinstance(sel, dict) or (labels is not None and not isinstance(labels, dict)):
                out.append(f"spec.selectors.{key} is {sel!r}, not a label map")
                continue
            bad = [k for k, v in (labels or {}).items() if not isinstance(v, str)]
            if bad:
                out.append(f"spec.selectors.{key} has non-string values for {', '.join(map(str, bad))}")
            if not old and any(isinstance(v, dict | list) for v in sel.values()):
                out.append(f"spec.selectors.{key} is a LabelSelector; KubeVirt >= 1.1 expects a plain label map")
    for name in POLICY_FIELDS:
        if (p := _type_problem(name, spec.get(name))) is not None:
            out.append("spec." + p)
    return out


def _count(policy_labels: dict[str, str], labels: dict[str, str]) -> int | None:
    n = 0
    for k, v in policy_labels.items():
        if labels.get(k) != v:
            return None
        n += 1
    return n


def match_policy(
    policies: list[dict], vmi_labels: dict | None, ns_labels: dict | None, kubevirt: Version | None
) -> dict | None:
    """The policy upstream applies to a VMI (`MatchPolicy`): every listed label must match; most
    matched labels (VMI + namespace) wins, then most VMI-label matches, then the smallest name. A
    policy without selectors matches nothing; a VMI without labels skips both selectors (the
    upstream guard tests the VMI's labels for the namespace selector too)."""
    best: tuple[int, int] | None = None
    chosen: list[dict] = []
    for p in policies:
        sel = (p.get("spec") or {}).get("selectors")
        if not isinstance(sel, dict):
            continue
        vmi_n = ns_n = 0
        if vmi_labels:
            got = _count(_selector_labels(sel.get("virtualMachineInstanceSelector"), kubevirt), vmi_labels)
            if got is None:
                continue
            vmi_n = got
            got = _count(_selector_labels(sel.get("namespaceSelector"), kubevirt), ns_labels or {})
            if got is None:
                continue
            ns_n = got
        score = (vmi_n + ns_n, vmi_n)
        if best is None or score > best:
            best, chosen = score, [p]
        elif score == best:
            chosen.append(p)
    return min(chosen, key=lambda p: p["metadata"]["name"]) if chosen else None


def with_policy(cfg: dict[str, object], policy: dict | None) -> dict[str, object]:
    """The configuration a migration runs with: the policy's set fields over the cluster's
    (`GetMigrationConfByPolicy`); fields it omits fall back."""
    out = dict(cfg)
    spec = (policy or {}).get("spec") or {}
    for name in POLICY_FIELDS:
        if spec.get(name) is not None:
            out[name] = spec[name]
    return out


def config_differences(expected: dict[str, object], recorded: dict | None) -> list[str]:
    """Fields of a recorded migrationConfiguration that differ from `expected`."""
    if not isinstance(recorded, dict):
        return ["no migrationConfiguration recorded"]
    return [
        f"{name} {show(name, recorded.get(name)) if name in recorded else 'missing'} "
        f"(expected {show(name, expected.get(name))})"
        for name in RECORDED_FIELDS
        if not same_value(name, recorded.get(name), expected.get(name))
    ]


# -- migratability and method (facts §10.3, §17.1) ------------------------------------------------
# The reasons `decide` can tell from the VMI alone. Any other (CPU model and TSC frequency depend on
# the node; hotplug, Hyper-V passthrough and reasons of later releases on what is not modelled) is
# accepted on a False condition whatever the spec says.
MODELLED_REASONS = frozenset(
    {
        "DisksNotLiveMigratable",
        "InterfaceNotLiveMigratable",
        "VirtIOFSNotLiveMigratable",
        "HostDeviceNotLiveMigratable",
        "SEVNotLiveMigratable",
        "PersistentReservationNotLiveMigratable",
    }
)


@dataclass(frozen=True)
class Decision:
    """What upstream would decide from the spec and volumeStatus: `reason` "" when migratable,
    None when it cannot be told here (a network binding plugin, SR-IOV behind a feature gate)."""

    reason: str | None
    message: str
    block: bool

    @property
    def migratable(self) -> bool | None:
        return None if self.reason is None else self.reason == ""

    @property
    def method(self) -> str:
        return "BlockMigration" if self.block else "LiveMigration"


def _devices(spec: dict) -> dict:
    return ((spec.get("domain") or {}).get("devices")) or {}


def is_read_only_disk(disk: dict) -> bool:
    """`IsReadOnlyDisk`: only a CD-ROM counts (unless its readonly is false); a `disk` with
    readonly true still has to be copied."""
    return "cdrom" in disk and (disk.get("cdrom") or {}).get("readonly") is not False


def check_volumes(vmi: dict) -> tuple[bool, str]:
    """`checkVolumesForMigration`: (block migration, why not migratable or "")."""
    spec, status = vmi.get("spec") or {}, vmi.get("status") or {}
    infos = {v.get("name"): v.get("persistentVolumeClaimInfo") for v in status.get("volumeStatus") or []}
    read_only = {d.get("name") for d in _devices(spec).get("disks") or [] if is_read_only_disk(d)}
    block = bool(status.get("migratedVolumes"))
    for vol in spec.get("volumes") or []:
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName") or (vol.get("dataVolume") or {}).get("name")
        if "persistentVolumeClaim" in vol or "dataVolume" in vol:
            info = infos.get(vol.get("name"))
            if not info:
                return True, f"PVC {claim}: access mode unknown (no persistentVolumeClaimInfo in volumeStatus)"
            if "ReadWriteMany" not in (info.get("accessModes") or []):
                return True, f"PVC {claim} is not shared (access modes {info.get('accessModes') or []})"
        elif "hostDisk" in vol:
            if not (vol.get("hostDisk") or {}).get("shared"):
                return True, f"hostDisk {vol.get('name')} is not shared"
        elif vol.get("name") not in read_only:
            block = True
    return block, ""


def check_interfaces(vmi: dict, kubevirt: Version | None) -> str | None:
    """`checkNetworkInterfacesForMigration`: the pod network's interface must use masquerade
    (from 1.1 a bridge passes with the allow-pod-bridge-network-live-migration annotation).
    None: undecidable here (binding plugins from 1.3, SR-IOV behind a feature gate)."""
    spec = vmi.get("spec") or {}
    ifaces = _devices(spec).get("interfaces") or []
    if not ifaces:
        return ""
    if any("sriov" in i or "binding" in i for i in ifaces):
        return None
    pod = next((n for n in spec.get("networks") or [] if "pod" in n), None)
    iface = next((i for i in ifaces if pod and i.get("name") == pod.get("name")), None)
    if iface is None or "masquerade" in iface:
        return ""
    allowed = BRIDGE_ANNOTATION in ((vmi.get("metadata") or {}).get("annotations") or {})
    if "bridge" in iface and allowed and (kubevirt is None or kubevirt >= (1, 1)):
        return ""
    binding = next((k for k in ("bridge", "slirp", "passt", "macvtap") if k in iface), "another binding")
    return f"interface {iface.get('name')} connects to the pod network with {binding}, not masquerade"


def decide(vmi: dict, kubevirt: Version | None) -> Decision:
    """Upstream's LiveMigratable condition and method for a VMI, in `calculateLiveMigrationCondition`
    order: volumes, interfaces, (CPU model: node-dependent), virtiofs, host devices/GPUs, SEV,
    SCSI persistent reservation."""
    spec = vmi.get("spec") or {}
    block, error = check_volumes(vmi)
    if error:
        return Decision("DisksNotLiveMigratable", error, block)
    net = check_interfaces(vmi, kubevirt)
    if net is None:
        return Decision(None, "network binding decided by cluster configuration", block)
    if net:
        return Decision("InterfaceNotLiveMigratable", net, block)
    devices = _devices(spec)
    if any("virtiofs" in f for f in devices.get("filesystems") or []):
        return Decision("VirtIOFSNotLiveMigratable", "uses virtiofs", block)
    if devices.get("hostDevices") or devices.get("gpus"):
        return Decision("HostDeviceNotLiveMigratable", "uses PCI host devices or GPUs", block)
    if "sev" in ((spec.get("domain") or {}).get("launchSecurity") or {}):
        return Decision("SEVNotLiveMigratable", "uses SEV", block)
    if any((d.get("lun") or {}).get("reservation") for d in devices.get("disks") or []):
        return Decision("PersistentReservationNotLiveMigratable", "uses SCSI persistent reservation", block)
    return Decision("", "", block)


def condition(vmi: dict, ctype: str = LIVE_MIGRATABLE) -> dict | None:
    return next((c for c in (vmi.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), None)


def ref(vmi: dict, kind: str = "VirtualMachineInstance") -> str:
    meta = vmi.get("metadata") or {}
    return f"{kind} {meta.get('namespace')}/{meta.get('name')}"


def running(vmi: dict) -> bool:
    return (vmi.get("status") or {}).get("phase") == "Running"


def check_condition(vmi: dict, kubevirt: Version | None) -> Finding | None:
    """MIG-02: a running VMI carries LiveMigratable, agreeing with what upstream decides."""
    cond = condition(vmi)
    if cond is None:
        return Finding(ref(vmi), "running without a LiveMigratable condition (virt-handler never reported it)")
    status, reason = cond.get("status"), cond.get("reason") or ""
    if status not in ("True", "False"):
        return Finding(ref(vmi), f"LiveMigratable status is {status!r}, not True or False")
    if status == "False" and not reason:
        return Finding(ref(vmi), "LiveMigratable is False without a reason")
    d = decide(vmi, kubevirt)
    if d.migratable is None:
        return None
    if d.migratable and status == "False" and reason in MODELLED_REASONS:
        return Finding(ref(vmi), f"LiveMigratable False ({reason}), but upstream finds nothing that blocks migration")
    if not d.migratable and status == "True":
        return Finding(ref(vmi), f"LiveMigratable True, expected False ({d.reason}: {d.message})")
    if not d.migratable and reason != d.reason and reason in MODELLED_REASONS:
        return Finding(ref(vmi), f"LiveMigratable False with reason {reason}, expected {d.reason} ({d.message})")
    return None


def check_method(vmi: dict, kubevirt: Version | None) -> Finding | None:
    """MIG-03: status.migrationMethod agrees with the volumes (written with the first condition)."""
    if condition(vmi) is None:
        return None  # nothing was computed yet: MIG-02's finding
    method = (vmi.get("status") or {}).get("migrationMethod")
    d = decide(vmi, kubevirt)
    if not method:
        return Finding(ref(vmi), f"no status.migrationMethod although LiveMigratable is reported (expected {d.method})")
    if method != d.method:
        why = "every volume is shared or a CD-ROM" if not d.block else "a volume must be copied or a PVC is not shared"
        return Finding(ref(vmi), f"migrationMethod {method}, expected {d.method} ({why})")
    return None


def missing_status(vmi: dict, now: dt.datetime, grace: dt.timedelta) -> Finding | None:
    """A VMI that virt-controller never gave a status (malformed or unreconciled)."""
    if vmi.get("status"):
        return None
    created = parse_time((vmi.get("metadata") or {}).get("creationTimestamp"))
    if created is not None and now - created < grace:
        return None
    return Finding(ref(vmi), "has no status: virt-controller never reconciled it")


# -- migration records and timeouts (facts §10.2, §17.1) ----------------------------------------
def record(vmim: dict, vmi: dict | None) -> dict:
    """The migrationState of a migration: the VMI's when it belongs to this migration (every
    version), else the VMIM's own (KubeVirt >= 1.1)."""
    uid = (vmim.get("metadata") or {}).get("uid")
    state = ((vmi or {}).get("status") or {}).get("migrationState") or {}
    if uid and state.get("migrationUid") == uid:
        return state
    return (vmim.get("status") or {}).get("migrationState") or {}


def data_size(vmi_spec: dict) -> tuple[int, bool]:
    """(decimal gigabytes to copy, exact) as `getVMIMigrationDataSize`: guest memory if set, else
    the memory request; rounded up. Ephemeral disks of a block migration add their on-node size,
    unknown here (`exact` False when the VMI has any)."""
    domain = vmi_spec.get("domain") or {}
    memory = (domain.get("memory") or {}).get("guest") or ((domain.get("resources") or {}).get("requests") or {}).get(
        "memory"
    )
    try:
        size = quantity(memory) if memory is not None else Decimal(0)
    except ValueError:
        size = Decimal(0)
    ephemeral = any("containerDisk" in v or "emptyDisk" in v or "ephemeral" in v for v in vmi_spec.get("volumes") or [])
    return decimal_gigabytes(size), not ephemeral


def completion_timeout(per_gib: int, units: int) -> int:
    """Seconds after which virt-launcher aborts (or switches to post-copy): per unit x units;
    0 disables it. 8Gi at 800 s per unit is 9 x 800 = 7200 s, not the article's 6400 s."""
    return per_gib * units


# KubeVirt's virt-controller fails a migration whose target pod stays pending: 5 minutes when
# unschedulable, 15 minutes in any case (`pkg/virt-controller/watch/migration.go`
# defaultUnschedulablePendingTimeoutSeconds / defaultCatchAllPendingTimeoutSeconds).
CATCH_ALL_PENDING = dt.timedelta(minutes=15)


@dataclass
class Stuck:
    vmim: dict
    vmi: dict | None
    now: dt.datetime
    per_gib: int
    progress_timeout: int


def _phase_since(vmim: dict, phase: str) -> dt.datetime | None:
    stamps = (vmim.get("status") or {}).get("phaseTransitionTimestamps") or []
    times = [parse_time(s.get("phaseTransitionTimestamp")) for s in stamps if s.get("phase") == phase]
    return max((t for t in times if t), default=None)


def check_stuck(s: Stuck, slack: dt.timedelta) -> Finding | None:
    """MIG-08: a migration still in flight past its completion timeout (computed as upstream), or
    waiting for its target longer than virt-controller's catch-all pending timeout. Migrations whose
    size is not known here (ephemeral disks of a block migration) are judged on the memory part
    only when that alone is exceeded by more than the progress timeout."""
    vmim = s.vmim
    obj = ref(vmim, "VirtualMachineInstanceMigration")
    phase = (vmim.get("status") or {}).get("phase") or ""
    if phase in FINAL_PHASES:
        return None
    state = record(vmim, s.vmi)
    if phase != "Running" and phase not in PENDING_PHASES:
        since = _phase_since(vmim, phase) or parse_time((vmim.get("metadata") or {}).get("creationTimestamp"))
        if since and s.now - since > CATCH_ALL_PENDING + slack:
            return Finding(obj, f"in phase {phase} for {_ago(s.now - since)}, past virt-controller's 15 min limit")
        return None
    if phase != "Running":
        return None
    start = parse_time(state.get("startTimestamp")) or _phase_since(vmim, "Running")
    if start is None or s.vmi is None:
        return None
    configured = state.get("migrationConfiguration") or {}
    per_gib = _int(configured.get("completionTimeoutPerGiB"))
    per_gib = s.per_gib if per_gib is None else per_gib
    units, exact = data_size(s.vmi.get("spec") or {})
    limit = completion_timeout(per_gib, units)
    if not limit:
        return None
    margin = slack + (dt.timedelta(0) if exact else dt.timedelta(seconds=s.progress_timeout))
    elapsed = s.now - start
    if elapsed <= dt.timedelta(seconds=limit) + margin:
        return None
    size = f"{units} GB" + ("" if exact else " of memory, plus ephemeral disks")
    return Finding(
        obj,
        f"running for {_ago(elapsed)} since {state.get('startTimestamp') or start.isoformat()}, past its completion "
        f"timeout {limit} s ({per_gib} s/GB x {size}); virt-launcher should have aborted it "
        f"(progressTimeout {s.progress_timeout} s)",
    )


def _ago(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds} s"


# -- a completed migration (MIG-05) --------------------------------------------------------------
def check_completed(
    vmim: dict, vmi: dict, expected: dict[str, object], kubevirt: Version | None, policy: str | None = None
) -> list[str]:
    """Problems of a migration that reported Succeeded, for the running KubeVirt's status fields:
    0.54 has only phase and conditions on the VMIM, 1.1+ adds migrationState and
    phaseTransitionTimestamps; the VMI's migrationState records it on every version."""
    out = []
    uid = (vmim.get("metadata") or {}).get("uid")
    vst = vmi.get("status") or {}
    state = vst.get("migrationState") or {}
    if state.get("migrationUid") != uid:
        out.append(f"the VMI's migrationState belongs to migration {state.get('migrationUid')!r}, not {uid}")
        return out
    if state.get("completed") is not True:
        out.append("migrationState.completed is not true")
    if state.get("failed") is True:
        out.append("migrationState.failed is true")
    source, target = state.get("sourceNode"), state.get("targetNode")
    if not source or not target or source == target:
        out.append(f"source node {source!r} and target node {target!r} are not two nodes")
    elif vst.get("nodeName") != target:
        out.append(f"the VMI runs on {vst.get('nodeName')!r}, not on the target node {target}")
    start, end = parse_time(state.get("startTimestamp")), parse_time(state.get("endTimestamp"))
    if start is None or end is None or end < start:
        out.append(f"timestamps not ordered: start {state.get('startTimestamp')}, end {state.get('endTimestamp')}")
    ready = parse_time(state.get("targetNodeDomainReadyTimestamp"))
    if kubevirt is not None and kubevirt >= (1, 1) and ready is not None and end is not None and ready > end:
        out.append("targetNodeDomainReadyTimestamp after endTimestamp")
    if (state.get("migrationPolicyName") or None) != policy:
        out.append(f"migrationPolicyName {state.get('migrationPolicyName')!r}, expected {policy!r}")
    diff = config_differences(expected, state.get("migrationConfiguration"))
    if diff:
        out.append("recorded migrationConfiguration differs: " + ", ".join(diff))
    if kubevirt is None or kubevirt >= (1, 1):
        own = (vmim.get("status") or {}).get("migrationState") or {}
        if own.get("migrationUid") not in (None, uid) or (own and own.get("completed") is not True):
            out.append("the VMIM's own status.migrationState is not completed")
        phases = [p.get("phase") for p in (vmim.get("status") or {}).get("phaseTransitionTimestamps") or []]
        if "Succeeded" not in phases:
            out.append(f"phaseTransitionTimestamps lack Succeeded ({phases})")
    return out


# -- concurrency (MIG-06) ------------------------------------------------------------------------
def decentralized_source(vmim: dict) -> bool:
    """KV 1.6+ `IsDecentralizedSource`: spec.sendTo without spec.receive."""
    spec = vmim.get("spec") or {}
    return spec.get("sendTo") is not None and spec.get("receive") is None


def counts_toward_limits(vmim: dict) -> bool:
    """Whether virt-controller counts the migration as running (`IsRunning`, KV types.go @v1.7.4):
    the active phases, except a decentralized source still in Scheduling (KV 1.6+)."""
    phase = (vmim.get("status") or {}).get("phase")
    if phase not in ACTIVE_PHASES:
        return False
    return not (phase == "Scheduling" and decentralized_source(vmim))


@dataclass
class Concurrency:
    """The most migrations seen running at once, in the cluster and leaving each node."""

    cluster: int = 0
    per_node: dict[str, int] = field(default_factory=dict)

    def observe(self, vmims: list[dict], source_of: dict[str, str]) -> None:
        active = [x for x in vmims if counts_toward_limits(x)]
        self.cluster = max(self.cluster, len(active))
        counts: dict[str, int] = {}
        for x in active:
            node = source_of.get((x.get("spec") or {}).get("vmiName") or "", "")
            counts[node] = counts.get(node, 0) + 1
        for node, n in counts.items():
            self.per_node[node] = max(self.per_node.get(node, 0), n)


def check_concurrency(
    seen: Concurrency, per_cluster: int, per_node: int, obj: str = CR, source: str = ""
) -> list[Finding]:
    """`source` says where the limits were set (e.g. "from Setting kubevirt-migration")."""
    out = []
    via = f" ({source})" if source else ""
    if seen.cluster > per_cluster:
        out.append(
            Finding(obj, f"{seen.cluster} migrations ran at once; parallelMigrationsPerCluster is {per_cluster}{via}")
        )
    for node, n in sorted(seen.per_node.items()):
        if n > per_node:
            out.append(
                Finding(
                    obj,
                    f"{n} migrations left Node {node} at once; parallelOutboundMigrationsPerNode is {per_node}{via}",
                )
            )
    return out
