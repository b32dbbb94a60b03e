"""The arithmetic and rules of the KubeVirt/Harvester workload area, without API calls, so that
the webhooks and controllers share one reading of facts.md (§10, §15.2, corrected by §17.1/§17.2
from the upstream sources each function names).

Nothing here is shared with `harvester_conformance.checks`: the suite computes its own.
"""

from __future__ import annotations

import hashlib
import json
import math

from kubernetes.utils.quantity import parse_quantity

from harvester_conformance.emulator.versions import version_tuple  # noqa: F401 - the areas read it here

MI = 1024 * 1024
RESERVED_MEMORY_ANNOTATION = "harvesterhci.io/reservedMemory"
DEFAULT_RESERVED = 100 * MI
OVERCOMMIT_DEFAULT = {"cpu": 1600, "memory": 150, "storage": 200}
FINAL_PHASES = ("Succeeded", "Failed")  # of a VMI or a migration: no phase follows
NOT_SHARED_MESSAGE = (
    "cannot migrate VMI: PVC {claim} is not shared, live migration requires that all PVCs must be shared "
    "(using ReadWriteMany access mode)"
)


def to_bytes(q: object) -> int:
    return int(parse_quantity(q))


def to_milli(q: object) -> int:
    return int(parse_quantity(q) * 1000)


def fmt_bytes(n: int) -> str:
    """Like resource.Quantity's canonical BinarySI text for what we produce: whole Gi/Mi, else bytes."""
    if n and n % (1024 * MI) == 0:
        return f"{n // (1024 * MI)}Gi"
    if n and n % MI == 0:
        return f"{n // MI}Mi"
    return str(n)


def fmt_milli(m: int) -> str:
    return str(m // 1000) if m % 1000 == 0 else f"{m}m"


# -- Harvester overcommit (facts §15.2) ---------------------------------------------------------
def overcommit_config(setting: dict | None) -> dict[str, int]:
    """Effective overcommit-config (value, else default); unparsable falls back to the built-in default."""
    text = ((setting or {}).get("value") or (setting or {}).get("default") or "").strip()
    try:
        doc = json.loads(text) if text else {}
    except json.JSONDecodeError:
        doc = {}
    return {k: int(doc.get(k) or v) for k, v in OVERCOMMIT_DEFAULT.items()}


def ratio_is_set(text: str | None) -> bool:
    """Harvester's additional-guest-memory-overhead-ratio counts as unset when empty or zero ("0",
    "0.0"): 100Mi is still reserved and the KubeVirt CR loses the field (HV v1.4.3
    `pkg/settings/settings_helper.go` IsEmpty). Unparsable values are refused by the setting
    validator, so they count as unset here."""
    try:
        return bool(text) and float(text) != 0.0
    except ValueError:
        return False


class Rejected(Exception):
    pass


def mutate_vm_domain(
    domain: dict,
    annotations: dict,
    overcommit: dict[str, int],
    harvester: tuple[int, ...],
    guest_overhead_ratio: str,
) -> tuple[dict | None, dict | None]:
    """New (resources, memory) of spec.template.spec.domain per Harvester's VM mutator; None = unchanged.

    - requests.cpu = limit_milli * 100 // cpu%  (dedicated-CPU VMs keep the limit, from v1.4.0)
    - requests.memory = limit * 100 // memory%, truncated to whole MiB (host-device VMs get the guest
      memory from v1.3.0; dedicated-CPU VMs the limit from v1.4.0)
    - memory.guest = limit - reserved (100Mi or the reservedMemory annotation); from v1.4.0 with the
      additional-guest-memory-overhead-ratio setting set and no annotation, guest = limit.
    """
    resources = dict(domain.get("resources") or {})
    limits = resources.get("limits") or {}
    if not limits:
        return None, None
    requests = dict(resources.get("requests") or {})
    dedicated = is_dedicated_cpu(domain) and harvester >= (1, 4, 0)
    host_devices = has_host_devices(domain) and harvester >= (1, 3, 0)
    memory = dict(domain.get("memory") or {})
    if "cpu" in limits:
        milli = to_milli(limits["cpu"])
        requests["cpu"] = fmt_milli(milli if dedicated else milli * 100 // overcommit["cpu"])
    if "memory" in limits:
        limit = to_bytes(limits["memory"])
        annotation = (annotations or {}).get(RESERVED_MEMORY_ANNOTATION)
        if annotation:
            reserved = to_bytes(annotation)
        elif harvester >= (1, 4, 0) and ratio_is_set(guest_overhead_ratio):
            reserved = 0
        else:
            reserved = DEFAULT_RESERVED
        guest = limit - reserved
        if guest < 10 * MI:
            raise Rejected(f"guest memory {guest} bytes is under 10Mi (limit {limits['memory']}, reserved {reserved})")
        memory["guest"] = fmt_bytes(guest)
        if dedicated:
            req = limit
        elif host_devices:
            req = guest
        else:
            req = (limit * 100 // overcommit["memory"]) // MI * MI
        requests["memory"] = fmt_bytes(req)
    resources["requests"] = requests
    return resources, memory


def is_dedicated_cpu(domain: dict) -> bool:
    return bool((domain.get("cpu") or {}).get("dedicatedCpuPlacement"))


def has_host_devices(domain: dict) -> bool:
    """Host devices or GPUs (HV `hostDevicesPresent`; KubeVirt's VFIO devices)."""
    devices = domain.get("devices") or {}
    return bool(devices.get("hostDevices") or devices.get("gpus"))


def _vm_domain(vm: dict) -> dict:
    return ((((vm or {}).get("spec") or {}).get("template") or {}).get("spec") or {}).get("domain") or {}


def _limit(domain: dict, name: str) -> int:
    value = ((domain.get("resources") or {}).get("limits") or {}).get(name)
    return int(parse_quantity(value) * 1000) if value not in (None, "") else 0


def need_update_resource_overcommit(old_vm: dict, new_vm: dict, harvester: tuple[int, ...]) -> bool:
    """Whether Harvester's VM mutator recomputes requests on an UPDATE (HV `mutator.go`
    needUpdateResourceOvercommit): a CPU or memory limit set and changed, the reservedMemory
    annotation changed; from v1.3.0 host devices or GPUs added or removed (or present with a guest
    memory that differs from the memory request); from v1.4.0 dedicated CPU placement toggled."""
    old, new = _vm_domain(old_vm), _vm_domain(new_vm)
    for name in ("cpu", "memory"):
        if _limit(new, name) and _limit(new, name) != _limit(old, name):
            return True

    def reserved(vm: dict) -> str:
        return ((vm.get("metadata") or {}).get("annotations") or {}).get(RESERVED_MEMORY_ANNOTATION) or ""

    if reserved(old_vm) != reserved(new_vm):
        return True
    if harvester >= (1, 4, 0) and is_dedicated_cpu(old) != is_dedicated_cpu(new):
        return True
    return harvester >= (1, 3, 0) and _host_devices_overcommit_needed(old, new)


def _host_devices_overcommit_needed(old: dict, new: dict) -> bool:
    old_dev, new_dev = old.get("devices") or {}, new.get("devices") or {}
    for key in ("hostDevices", "gpus"):
        if len(old_dev.get(key) or []) != len(new_dev.get(key) or []):
            return True
    if not has_host_devices(new):
        return False
    guest = (new.get("memory") or {}).get("guest")
    request = ((new.get("resources") or {}).get("requests") or {}).get("memory")
    return guest is not None and to_bytes(guest) != to_bytes(request or 0)


# -- KubeVirt launcher overhead (facts §15.2) --------------------------------------------------
def memory_overhead(domain: dict, memory_request: int, kubevirt: tuple[int, ...], ratio: str | None) -> int:
    """virt-launcher memory on top of the VMI request (KV `GetMemoryOverhead`: `template.go` @v0.54.0,
    `renderresources.go` @v1.1.1..v1.7.4).

    pagetables = ceil(request / 1000) * 1000 // 512 (Quantity.ScaledValue(Kilo) rounds up), plus the
    components' fixed part (`launcher_fixed_overhead`); plus 8Mi per vCPU, 8Mi for the IOThread, the
    video device's RAM (`video_overhead`) unless autoattachGraphicsDevice is false, 1Gi for VFIO
    devices (host devices, GPUs). From 1.1 the KubeVirt CR's
    additionalGuestMemoryOverheadRatio multiplies that sum on kilobyte-scaled values
    (`multiplyMemory`), and a dedicated-CPU or Guaranteed-QoS VMI gets 100Mi more, unmultiplied.
    `domain` is the VMI's (its requests and limits decide the QoS)."""
    vcpus = max(1, _vcpus(domain))
    pagetables = math.ceil(memory_request / 1000) * 1000 // 512
    fixed = launcher_fixed_overhead(kubevirt)
    video = 0 if (domain.get("devices") or {}).get("autoattachGraphicsDevice") is False else video_overhead(kubevirt)
    vfio = 1024 * MI if has_host_devices(domain) else 0
    total = pagetables + fixed + 8 * MI * vcpus + 8 * MI + video + vfio
    if kubevirt < (1, 1):
        return total
    if ratio:
        total = multiply_memory(total, ratio)
    if is_dedicated_cpu(domain) or wants_guaranteed_qos(domain):
        total += 100 * MI
    return total


def launcher_fixed_overhead(kubevirt: tuple[int, ...]) -> int:
    """The components' fixed part (facts-releases R1.5): 25+75+17+33+30 = 180Mi on 0.54,
    25+100+20+35+30 = 210Mi from 1.1, virtqemud 40Mi (215Mi) from 1.4.1, virtlogd 25Mi and
    virtqemud 40Mi (220Mi) from 1.5.0 (KV `renderresources.go` @v1.4.1, @v1.5.0)."""
    if kubevirt < (1, 1):
        return 180 * MI
    if kubevirt < (1, 4, 1):
        return 210 * MI
    return (215 if kubevirt < (1, 5) else 220) * MI


def video_overhead(kubevirt: tuple[int, ...]) -> int:
    """The video device's RAM: 16Mi up to KubeVirt 1.5, 32Mi from 1.6 (R1.5)."""
    return (16 if kubevirt < (1, 6) else 32) * MI


def _vcpus(domain: dict) -> int:
    """KV `hardware.GetNumberOfVCPUs` (cores x sockets x threads, each defaulting to 1), or without a
    CPU topology the CPU limit, else the request, rounded up to whole CPUs."""
    cpu = domain.get("cpu")
    if cpu is not None:
        return int(cpu.get("cores") or 1) * int(cpu.get("sockets") or 1) * int(cpu.get("threads") or 1)
    res = domain.get("resources") or {}
    value = (res.get("limits") or {}).get("cpu") or (res.get("requests") or {}).get("cpu")
    return math.ceil(parse_quantity(value)) if value is not None else 0


def multiply_memory(total: int, ratio: str) -> int:
    """KV `multiplyMemory`: total + int64(ceil(total / 1000) * (ratio - 1)) * 1000; an unparsable
    ratio leaves the total as it is (virt-api validates it)."""
    try:
        factor = float(ratio)
    except ValueError:
        return total
    return total + int(-(-total // 1000) * (factor - 1.0)) * 1000


def wants_guaranteed_qos(domain: dict) -> bool:
    """KV `WantsToHaveQOSGuaranteed`: memory and CPU requests set and equal to the limits."""
    res = domain.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    for name in ("memory", "cpu"):
        if not req.get(name) or parse_quantity(req[name]) == 0:
            return False
        if parse_quantity(req[name]) != parse_quantity(lim.get(name) or 0):
            return False
    return True


# -- live migratability and method (facts §17.1; KV pkg/virt-handler/vm.go) ----------------------
UNKNOWN_PVC_MESSAGE = (
    "cannot migrate VMI: Unable to determine if PVC {claim} is shared, live migration requires that all PVCs must "
    "be shared (using ReadWriteMany access mode)"
)
BRIDGE_ANNOTATION = "kubevirt.io/allow-pod-bridge-network-live-migration"
LIVE_MIGRATABLE = "LiveMigratable"


def is_read_only_disk(disk: dict) -> bool:
    """KV `pkg/util/util.go` IsReadOnlyDisk (every tag read): only a CD-ROM counts, read-only unless
    its readonly is false. A `disk` with readonly true does not count."""
    return "cdrom" in disk and (disk.get("cdrom") or {}).get("readonly") is not False


def check_volumes(vmi: dict) -> tuple[bool, str]:
    """KV `checkVolumesForMigration`: (block migration, error message or ""). A PVC/DataVolume must
    have its claim info in status.volumeStatus with a ReadWriteMany access mode, otherwise the VMI is
    not migratable and block migration is reported; a non-shared hostDisk likewise; any other volume
    not used by a read-only disk (a CD-ROM) makes the migration a block migration."""
    spec, status = vmi.get("spec") or {}, vmi.get("status") or {}
    infos = {v.get("name"): v.get("persistentVolumeClaimInfo") for v in status.get("volumeStatus") or []}
    read_only = {
        d.get("name")
        for d in ((spec.get("domain") or {}).get("devices") or {}).get("disks") or []
        if is_read_only_disk(d)
    }
    block = False
    for vol in spec.get("volumes") or []:
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName") or (vol.get("dataVolume") or {}).get("name")
        if claim:
            info = infos.get(vol.get("name"))
            if not info:
                return True, UNKNOWN_PVC_MESSAGE.format(claim=claim)
            if "ReadWriteMany" not in (info.get("accessModes") or []):
                return True, NOT_SHARED_MESSAGE.format(claim=claim)
        elif "hostDisk" in vol:
            if not (vol.get("hostDisk") or {}).get("shared"):
                return True, "cannot migrate VMI with non-shared HostDisk"
        elif vol.get("name") not in read_only:
            block = True
    return block, ""


def check_interfaces(vmi: dict, kubevirt: tuple[int, ...]) -> str:
    """KV `checkNetworkInterfacesForMigration` / `VerifyVMIMigratable`: the pod network's interface
    must use masquerade (a VMI without a pod network passes); from 1.1 a bridge binding passes too
    when the VMI carries the allow-pod-bridge-network-live-migration annotation. Returns the error."""
    spec = vmi.get("spec") or {}
    ifaces = ((spec.get("domain") or {}).get("devices") or {}).get("interfaces") or []
    if not ifaces:
        return ""
    pod_net = next((n for n in spec.get("networks") or [] if "pod" in n), None)
    iface = next((i for i in ifaces if pod_net and i.get("name") == pod_net.get("name")), None)
    if iface is None or "masquerade" in iface:
        return ""
    annotations = (vmi.get("metadata") or {}).get("annotations") or {}
    if kubevirt < (1, 1):
        return "cannot migrate VMI which does not use masquerade to connect to the pod network"
    if BRIDGE_ANNOTATION in annotations and "bridge" in iface:
        return ""
    if kubevirt < (1, 3):
        return (
            "cannot migrate VMI which does not use masquerade to connect to the pod network or bridge with "
            f"{BRIDGE_ANNOTATION} VM annotation"
        )
    return (
        "cannot migrate VMI which does not use masquerade, bridge with "
        f"{BRIDGE_ANNOTATION} VM annotation or a migratable plugin to connect to the pod network"
    )


def live_migration_condition(vmi: dict, kubevirt: tuple[int, ...]) -> tuple[bool, str, str, bool]:
    """(migratable, reason, message, block migration) as `calculateLiveMigrationCondition` orders
    its checks: volumes, network interfaces, then PCI host devices/GPUs."""
    block, error = check_volumes(vmi)
    if error:
        return False, "DisksNotLiveMigratable", error, block
    error = check_interfaces(vmi, kubevirt)
    if error:
        return False, "InterfaceNotLiveMigratable", error, block
    if has_host_devices((vmi.get("spec") or {}).get("domain") or {}):
        return False, "HostDeviceNotLiveMigratable", "VMI uses a PCI host devices", block
    return True, "", "", block


def migration_method(block: bool) -> str:
    return "BlockMigration" if block else "LiveMigration"


def volume_status(vmi_spec: dict, pvcs: dict[str, dict], old: list[dict] | None, cdi: bool) -> list[dict]:
    """status.volumeStatus as virt-controller's `updateVolumeStatus` writes it: one entry per volume
    (kept from before), PVC/DataVolume volumes with persistentVolumeClaimInfo read from their PVC
    (claimName from KubeVirt 1.3; filesystemOverhead "0" for Block PVCs when CDI is installed, else
    CDI's default 0.055). `target` is what virt-handler reports (vda, vdb, ... by disk order)."""
    previous = {v.get("name"): v for v in old or []}
    targets = disk_targets(vmi_spec)
    out = []
    for vol in vmi_spec.get("volumes") or []:
        name = vol.get("name")
        entry = {**previous.get(name, {}), "name": name, "target": targets.get(name, "")}
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName") or (vol.get("dataVolume") or {}).get("name")
        pvc = pvcs.get(claim) if claim else None
        if pvc is not None:
            entry["persistentVolumeClaimInfo"] = pvc_info(pvc, cdi)
        out.append(entry)
    return out


def _disks(vmi_spec: dict) -> list[dict]:
    return ((vmi_spec.get("domain") or {}).get("devices") or {}).get("disks") or []


def disk_targets(vmi_spec: dict) -> dict[str, str]:
    """Guest device names by disk, as libvirt assigns them per bus in disk order: vda, vdb, ... for
    virtio, sda, ... for sata/scsi."""
    counts: dict[str, int] = {}
    out = {}
    for disk in _disks(vmi_spec):
        kind = next((k for k in ("disk", "cdrom", "lun") if k in disk), "disk")
        bus = (disk.get(kind) or {}).get("bus") or ("scsi" if kind == "lun" else "virtio")
        prefix = "vd" if bus == "virtio" else "sd"
        out[disk.get("name")] = prefix + chr(ord("a") + counts.get(prefix, 0))
        counts[prefix] = counts.get(prefix, 0) + 1
    return out


def pvc_info(pvc: dict, cdi: bool) -> dict:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    info: dict = {
        "claimName": pvc["metadata"]["name"],
        "accessModes": list(spec.get("accessModes") or []),
        "volumeMode": spec.get("volumeMode") or "Filesystem",
        "capacity": dict(status.get("capacity") or {}),
        "requests": dict((spec.get("resources") or {}).get("requests") or {}),
        "filesystemOverhead": "0" if cdi and spec.get("volumeMode") == "Block" else "0.055",
    }
    return {k: v for k, v in info.items() if v}


def versioned_volume_status(entries: list[dict], kubevirt: tuple[int, ...]) -> list[dict]:
    """claimName of persistentVolumeClaimInfo exists from KubeVirt 1.3 (`types.go`)."""
    if kubevirt >= (1, 3):
        return entries
    return [
        {
            **e,
            "persistentVolumeClaimInfo": {k: v for k, v in e["persistentVolumeClaimInfo"].items() if k != "claimName"},
        }
        if "persistentVolumeClaimInfo" in e
        else e
        for e in entries
    ]


# -- what each KubeVirt release's API has (KV staging/src/kubevirt.io/api/core/v1/types.go) ----
# VMIM phases per KubeVirt release (KV types.go): decentralized migration adds two from 1.6.
VMIM_PHASES = (
    "",
    "Pending",
    "Scheduling",
    "Scheduled",
    "PreparingTarget",
    "TargetReady",
    "Running",
    "Succeeded",
    "Failed",
)
VMIM_SYNC_PHASES = ("WaitingForSync", "Synchronizing")
DECENTRALIZED_SINCE = (1, 6)  # VMIM spec sendTo/receive/addedNodeSelector, status synchronizationAddresses
PRIORITY_SINCE = (1, 7)  # VMIM spec priority


def vmim_phases(kubevirt: tuple[int, ...]) -> tuple[str, ...]:
    return VMIM_PHASES + (VMIM_SYNC_PHASES if kubevirt >= DECENTRALIZED_SINCE else ())


def vmim_spec_fields(kubevirt: tuple[int, ...]) -> tuple[str, ...]:
    """The VMIM spec fields of the release: vmiName; addedNodeSelector, sendTo, receive from 1.6;
    priority from 1.7 (KV types.go VirtualMachineInstanceMigrationSpec @v1.5.2, v1.6.6, v1.7.4)."""
    fields = ("vmiName",)
    if kubevirt >= DECENTRALIZED_SINCE:
        fields += ("addedNodeSelector", "sendTo", "receive")
    if kubevirt >= PRIORITY_SINCE:
        fields += ("priority",)
    return fields


def vmim_status(status: dict, kubevirt: tuple[int, ...]) -> dict:
    """A VirtualMachineInstanceMigration status as the release's types serialize it: 0.54 has only
    phase and conditions; migrationState and phaseTransitionTimestamps exist from 1.1;
    synchronizationAddresses from 1.6."""
    if kubevirt < (1, 1):
        return {k: v for k, v in status.items() if k in ("phase", "conditions")}
    out = dict(status)
    if kubevirt < DECENTRALIZED_SINCE:
        out.pop("synchronizationAddresses", None)
    if "migrationState" in out and out["migrationState"] is not None:
        out["migrationState"] = migration_state(out["migrationState"], kubevirt)
    return out


def migration_state(state: dict, kubevirt: tuple[int, ...]) -> dict:
    """A migrationState as the release serializes it: `completed`/`failed` are omitempty (false is
    not written), sourcePod and failureReason exist from 1.2.1, targetNodeDomainReadyTimestamp from
    1.1, sourceState/targetState/migrationNetworkType from 1.6 (written for decentralized
    migrations only, KV `migration.go` handleTargetPodHandoff @v1.6.6)."""
    drop = set()
    if kubevirt < DECENTRALIZED_SINCE:
        drop |= {"sourceState", "targetState", "migrationNetworkType"}
    if kubevirt < (1, 2, 1):
        drop |= {"sourcePod", "failureReason"}
    if kubevirt < (1, 1):
        drop.add("targetNodeDomainReadyTimestamp")
    return {k: v for k, v in state.items() if k not in drop and not (k in ("completed", "failed") and v is False)}


# -- migration configuration (facts §10.1, §10.4) ----------------------------------------------
def default_migrations(kubevirt: tuple[int, ...]) -> dict:
    return {
        "parallelMigrationsPerCluster": 5,
        "parallelOutboundMigrationsPerNode": 2,
        "bandwidthPerMigration": "0",
        "completionTimeoutPerGiB": 150 if kubevirt >= (1, 4) else 800,
        "progressTimeout": 150,
        "allowAutoConverge": False,
        "allowPostCopy": False,
        "unsafeMigrationOverride": False,
        "nodeDrainTaintKey": "kubevirt.io/drain",
    }


def migrations_from_setting(text: str, current: dict | None) -> dict | None:
    """What Harvester's kubevirt-migration syncer (v1.7.0+) writes into the KubeVirt CR's
    spec.configuration.migrations: the decoded setting, nodeDrainTaintKey dropped, `network` kept
    from the CR (owned by vm-migration-network), HV `setting/kubevirt_migration.go` @v1.8.2.
    Quantities serialize as strings (bandwidthPerMigration 0 -> "0"); None for JSON that does not
    decode (the syncer returns an error and leaves the CR)."""
    try:
        doc = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    out = {k: v for k, v in doc.items() if k not in ("nodeDrainTaintKey", "network") and v is not None}
    if "bandwidthPerMigration" in out:
        out["bandwidthPerMigration"] = str(out["bandwidthPerMigration"])
    network = (current or {}).get("network")
    if network:
        out["network"] = network
    return out


def effective_migrations(kv: dict | None, kubevirt: tuple[int, ...]) -> dict:
    configured = (((kv or {}).get("spec") or {}).get("configuration") or {}).get("migrations") or {}
    cfg = default_migrations(kubevirt)
    cfg.update({k: v for k, v in configured.items() if v is not None})
    return cfg


POLICY_FIELDS = ("allowAutoConverge", "bandwidthPerMigration", "completionTimeoutPerGiB", "allowPostCopy")


def selector_labels(selector: dict | None, kubevirt: tuple[int, ...]) -> dict:
    """The labels a MigrationPolicy selector lists: its matchLabels on KubeVirt 0.54 (a
    metav1.LabelSelector there), the selector itself from 1.1 (a plain map), KV
    staging/src/kubevirt.io/api/migrations/v1alpha1/types.go."""
    if kubevirt < (1, 1):
        return dict((selector or {}).get("matchLabels") or {})
    return {k: v for k, v in (selector or {}).items() if isinstance(v, str)}


def match_policy(
    policies: list[dict], vmi_labels: dict, ns_labels: dict, kubevirt: tuple[int, ...] = (99,)
) -> dict | None:
    """The MigrationPolicy that applies: every listed label must match; most matched labels (VMI +
    namespace) wins, then most VMI-label matches, then the smallest name. A policy that lists no
    labels matches every VMI with zero matches."""
    best: tuple[int, int, str] | None = None
    chosen = None
    for p in policies:
        sel = (p.get("spec") or {}).get("selectors") or {}
        vsel = selector_labels(sel.get("virtualMachineInstanceSelector"), kubevirt)
        nsel = selector_labels(sel.get("namespaceSelector"), kubevirt)
        if any(vmi_labels.get(k) != v for k, v in vsel.items()) or any(ns_labels.get(k) != v for k, v in nsel.items()):
            continue
        name = p["metadata"]["name"]
        key = (-(len(vsel) + len(nsel)), -len(vsel), name)
        if best is None or key < best:
            best, chosen = key, p
    return chosen


def with_policy(cfg: dict, policy: dict | None) -> dict:
    out = dict(cfg)
    for k in POLICY_FIELDS:
        v = ((policy or {}).get("spec") or {}).get(k)
        if v is not None:
            out[k] = v
    return out


def data_size_units(vmi_spec: dict) -> int:
    """Decimal gigabytes to copy, rounded up: guest memory if set, else the memory request (§10.2)."""
    domain = vmi_spec.get("domain") or {}
    mem = (domain.get("memory") or {}).get("guest") or ((domain.get("resources") or {}).get("requests") or {}).get(
        "memory"
    )
    return math.ceil(to_bytes(mem or 0) / 10**9)


def pod_interface_name(network: dict) -> str:
    """KV 1.4 `namescheme.HashedPodInterfaceName`: eth0 for the pod network, "pod" + the first 11 hex
    digits of sha256(network name) for a secondary Multus network."""
    if "multus" in network and not (network.get("multus") or {}).get("default"):
        return "pod" + hashlib.sha256(network["name"].encode()).hexdigest()[:11]
    return "eth0"


def interface_statuses(vmi_spec: dict, pod_ip: str, seed: int, kubevirt: tuple[int, ...]) -> list[dict]:
    """status.interfaces as virt-handler reports them with a guest agent: the first NIC carries the
    pod IP; queueCount exists from KubeVirt 1.1, podInterfaceName from 1.4 (`types.go`)."""
    networks = {n.get("name"): n for n in vmi_spec.get("networks") or []}
    out = []
    for i, iface in enumerate(((vmi_spec.get("domain") or {}).get("devices") or {}).get("interfaces") or []):
        item: dict = {
            "name": iface["name"],
            "interfaceName": f"eth{i}",
            "mac": f"52:54:00:{(seed >> 8) & 0xFF:02x}:{seed & 0xFF:02x}:{i:02x}",
            "infoSource": "domain, guest-agent",
        }
        if i == 0 and pod_ip:
            item["ipAddress"] = pod_ip
            item["ipAddresses"] = [pod_ip]
        if kubevirt >= (1, 1):
            item["queueCount"] = 1
        if kubevirt >= (1, 4) and iface["name"] in networks:
            item["podInterfaceName"] = pod_interface_name(networks[iface["name"]])
        out.append(item)
    return out
