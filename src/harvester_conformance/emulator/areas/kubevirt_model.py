"""The arithmetic and rules of the KubeVirt/Harvester workload area, without API calls, so that
the webhooks and controllers share one reading of facts.md (§10, §15.2).

Nothing here is shared with `harvester_conformance.checks`: the suite computes its own.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

from kubernetes.utils.quantity import parse_quantity

MI = 1024 * 1024
RESERVED_MEMORY_ANNOTATION = "harvesterhci.io/reservedMemory"
DEFAULT_RESERVED = 100 * MI
OVERCOMMIT_DEFAULT = {"cpu": 1600, "memory": 150, "storage": 200}
FINAL_PHASES = ("Succeeded", "Failed")  # of a VMI or a migration: no phase follows
NOT_SHARED_MESSAGE = (
    "cannot migrate VMI: PVC {claim} is not shared, live migration requires that all PVCs must be shared "
    "(using ReadWriteMany access mode)"
)


def version_tuple(text: str | None) -> tuple[int, ...]:
    """ "v1.3.1", "1.1.1-150500.8.15.1" -> (1, 3, 1); "dev" or empty -> a version newer than any."""
    core = (text or "").lstrip("v").split("-")[0].split("+")[0]
    try:
        return tuple(int(x) for x in core.split("."))
    except ValueError:
        return (99,)


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
    dedicated = bool((domain.get("cpu") or {}).get("dedicatedCpuPlacement")) and harvester >= (1, 4, 0)
    host_devices = bool((domain.get("devices") or {}).get("hostDevices")) and harvester >= (1, 3, 0)
    memory = dict(domain.get("memory") or {})
    if "cpu" in limits:
        milli = to_milli(limits["cpu"])
        requests["cpu"] = fmt_milli(milli if dedicated else milli * 100 // overcommit["cpu"])
    if "memory" in limits:
        limit = to_bytes(limits["memory"])
        annotation = (annotations or {}).get(RESERVED_MEMORY_ANNOTATION)
        if annotation:
            reserved = to_bytes(annotation)
        elif harvester >= (1, 4, 0) and guest_overhead_ratio not in ("", None):
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


# -- KubeVirt launcher overhead (facts §15.2) --------------------------------------------------
def memory_overhead(domain: dict, memory_request: int, kubevirt: tuple[int, ...], ratio: str | None) -> int:
    """virt-launcher memory on top of the VMI request.

    pagetables = ceil(request / 1000) * 1000 // 512 (Quantity.ScaledValue(Kilo) rounds up), plus a
    fixed part: 138Mi before KubeVirt 1.1 (0.45/0.49 documented; 0.54 assumed the same), and
    25+100+20+35+30 = 210Mi from 1.1; plus 8Mi per vCPU, 8Mi for the IOThread, 16Mi for the video
    device unless autoattachGraphicsDevice is false. From the KubeVirt that supports it (1.1+ per
    facts), the whole overhead is multiplied by the KubeVirt CR's additionalGuestMemoryOverheadRatio.
    """
    cpu = domain.get("cpu") or {}
    vcpus = max(1, int(cpu.get("cores") or 1) * int(cpu.get("sockets") or 1) * int(cpu.get("threads") or 1))
    pagetables = math.ceil(memory_request / 1000) * 1000 // 512
    fixed = (138 if kubevirt < (1, 1) else 210) * MI
    video = 0 if (domain.get("devices") or {}).get("autoattachGraphicsDevice") is False else 16 * MI
    total = pagetables + fixed + 8 * MI * vcpus + 8 * MI + video
    if ratio and kubevirt >= (1, 1):
        try:
            total = int(Decimal(total) * Decimal(ratio))
        except ArithmeticError:
            pass
    return total


# -- live migratability and method (facts §10.3) -----------------------------------------------
def live_migratable(vmi_spec: dict, pvcs: dict[str, dict]) -> tuple[bool, str, str]:
    """(migratable, reason, message) from the volumes: every PVC/DataVolume claim must be known and
    ReadWriteMany, every hostDisk shared. `pvcs` maps claim name -> PVC in the VMI's namespace."""
    for vol in vmi_spec.get("volumes") or []:
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName") or (vol.get("dataVolume") or {}).get("name")
        if claim:
            pvc = pvcs.get(claim)
            if pvc is None:
                return False, "DisksNotLiveMigratable", f"cannot migrate VMI: PVC {claim} is unknown"
            if "ReadWriteMany" not in ((pvc.get("spec") or {}).get("accessModes") or []):
                return False, "DisksNotLiveMigratable", NOT_SHARED_MESSAGE.format(claim=claim)
        elif "hostDisk" in vol and not (vol.get("hostDisk") or {}).get("shared"):
            return False, "DisksNotLiveMigratable", "cannot migrate VMI with a non-shared hostDisk"
    if (vmi_spec.get("domain") or {}).get("devices", {}).get("hostDevices"):
        return False, "HostDeviceNotLiveMigratable", "VMI uses a PCI host device"
    return True, "", ""


def migration_method(vmi_spec: dict) -> str:
    """BlockMigration when a volume that is not read-only is neither a PVC/DataVolume nor a shared
    hostDisk (containerDisk, and per facts §10.3 a cloud-init disk that is not read-only), else
    LiveMigration. A volume counts as read-only when the disk that uses it is a `disk` with
    readonly true, or a `cdrom` (read-only unless readonly: false)."""
    readonly = set()
    for d in ((vmi_spec.get("domain") or {}).get("devices") or {}).get("disks") or []:
        if (d.get("disk") or {}).get("readonly") or ("cdrom" in d and (d.get("cdrom") or {}).get("readonly", True)):
            readonly.add(d.get("name"))
    for vol in vmi_spec.get("volumes") or []:
        if "persistentVolumeClaim" in vol or "dataVolume" in vol:
            continue
        if "hostDisk" in vol and (vol.get("hostDisk") or {}).get("shared"):
            continue
        if vol.get("name") in readonly:
            continue
        return "BlockMigration"
    return "LiveMigration"


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


def effective_migrations(kv: dict | None, kubevirt: tuple[int, ...]) -> dict:
    configured = (((kv or {}).get("spec") or {}).get("configuration") or {}).get("migrations") or {}
    cfg = default_migrations(kubevirt)
    cfg.update({k: v for k, v in configured.items() if v is not None})
    return cfg


POLICY_FIELDS = ("allowAutoConverge", "bandwidthPerMigration", "completionTimeoutPerGiB", "allowPostCopy")


def match_policy(policies: list[dict], vmi_labels: dict, ns_labels: dict) -> dict | None:
    """The MigrationPolicy that applies: every listed label must match; most matched labels (VMI +
    namespace) wins, then most VMI-label matches, then the smallest name. A policy that lists no
    labels matches every VMI with zero matches."""
    best: tuple[int, int, str] | None = None
    chosen = None
    for p in policies:
        sel = (p.get("spec") or {}).get("selectors") or {}
        vsel = sel.get("virtualMachineInstanceSelector") or {}
        nsel = sel.get("namespaceSelector") or {}
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
