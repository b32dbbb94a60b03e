"""Area module (see areas/__init__.py): KubeVirt's CPU node labeller (articles 2025-09-30 and
2025-12-09, checks/cpu_models.py and checks/migration_node_selectors.py).

Controller `node-labeller`: what virt-handler's node labeller writes on each node (KV
`pkg/virt-handler/node-labeller/node_labeller.go` prepareLabels, `cpu_plugin.go`; v0.54.0, v1.1.1,
v1.3.1, v1.4.0, v1.5.2, v1.6.6, v1.7.4), from what libvirt reports on the host (`virsh
domcapabilities`, `hypervisor-cpu-baseline --features`):
- `cpu-feature.node.kubevirt.io/<f>` for each feature of the host CPU baseline;
- `cpu-model.node.kubevirt.io/<m>` for each model libvirt calls usable, obsolete models left out
  (the KubeVirt CR's `obsoleteCPUModels`, else util.DefaultObsoleteCPUModels);
- `cpu-model-migration.node.kubevirt.io/<m>`: up to KV 1.5 the usable models and the host model,
  from KV 1.6 every model libvirt knows (usable or not), obsolete ones left out;
- `host-model-cpu.node.kubevirt.io/<host model>`, `host-model-required-features.node.kubevirt.io/<f>`
  for the host-model features of policy `require`, `cpu-vendor.node.kubevirt.io/<vendor>`,
  the `hyperv.node.kubevirt.io/*` KVM capabilities and the TSC `cpu-timer.node.kubevirt.io/*`
  (scaling as libvirt's "no" up to KV 1.3, as a Go bool from 1.4);
- every label under those prefixes is removed first, then the new set is written; a node annotated
  `node-labeller.kubevirt.io/skip-node` (any value) is left alone.
Not modelled: the `machine-type.node.kubevirt.io/*` labels of KV 1.5+ (and so the launcher's
machine-type selector), SEV/TDX/realtime labels (no such hosts here).

Every emulated host is the same Cascade Lake server with TSX off (the kernel's default), so a
healthy cluster offers one host model and the same models everywhere. What a host "is" can be
changed through the fault annotation of its Node, which the faults below use:
`cpu-tsx-on` (TSX enabled in firmware: the TSX models become usable), `cpu-icelake` (the server
replaced by an Ice Lake one), `cpu-microcode-update` (a microcode update that no longer enumerates
`tsx-ctrl`, so libvirt's host-model and the baseline lose it).

Faults:
- CPU-01: the cluster-wide `cpuModel` set to `Cascadelake-Server`, the name every node shows as
  its host model, which libvirt cannot run with TSX off: no node advertises it.
- CPU-02: a VM's CPU model set to `Cascadelake-Server` after one host's firmware enabled TSX: only
  that host advertises the model.
- CPU-03: the article's case: a host-model VM live-migrated (its target pod pinned to the source's
  host model and required features) and afterwards a microcode update on every other node removed a
  required feature: no other node satisfies its selectors.
- CPU-04: the article's workaround left in place: a node annotated skip-node.
- CPU-05: one server replaced by a newer CPU generation while the migratable VMs keep host-model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.areas import kubevirt_model as m
from harvester_conformance.emulator.areas.kubevirt_seed import NS, vm_name
from harvester_conformance.emulator.faults import FAULT_ANNOTATION, Fault, fault_of
from harvester_conformance.emulator.profiles import ProfileSpec
from harvester_conformance.emulator.simulator.informers import ON_CHANGE
from harvester_conformance.waits import wait_for

KV_NS = "harvester-system"
CPU_MODEL = "cpu-model.node.kubevirt.io/"
CPU_MODEL_MIGRATION = "cpu-model-migration.node.kubevirt.io/"
CPU_FEATURE = "cpu-feature.node.kubevirt.io/"
CPU_TIMER = "cpu-timer.node.kubevirt.io/"
CPU_VENDOR = "cpu-vendor.node.kubevirt.io/"
HYPERV = "hyperv.node.kubevirt.io/"
HOST_MODEL_CPU = "host-model-cpu.node.kubevirt.io/"
HOST_MODEL_REQUIRED = "host-model-required-features.node.kubevirt.io/"
OBSOLETE_HOST_MODEL = "node-labeller.kubevirt.io/obsolete-host-model"
SKIP_NODE = "node-labeller.kubevirt.io/skip-node"
# The prefixes the labeller owns (KV 1.7.4 nodeLabellerLabels, the ones this emulator writes).
OWNED = (
    CPU_FEATURE,
    CPU_MODEL,
    CPU_MODEL_MIGRATION,
    CPU_TIMER,
    HYPERV,
    HOST_MODEL_CPU,
    HOST_MODEL_REQUIRED,
    OBSOLETE_HOST_MODEL,
    CPU_VENDOR,
)

# util.DefaultObsoleteCPUModels (KV v0.54.0 … v1.7.4; the "-v1" aliases from 1.x).
DEFAULT_OBSOLETE = frozenset(
    {
        *(
            f"{n}{v}"
            for n in (
                "486",
                "pentium",
                "pentium2",
                "pentium3",
                "pentiumpro",
                "coreduo",
                "n270",
                "core2duo",
                "Conroe",
                "athlon",
                "phenom",
                "qemu64",
                "qemu32",
                "kvm64",
                "kvm32",
                "Opteron_G1",
                "Opteron_G2",
            )
            for v in ("", "-v1")
        ),
    }
)
# KVM's Hyper-V capabilities the labeller probes (kvm-caps-info-plugin_amd64.go CapsDesc).
HYPERV_CAPS = (
    "base",
    "time",
    "vpindex",
    "tlbflush",
    "ipi",
    "synic",
    "synic2",
    "frequencies",
    "reset",
    "runtime",
    "synictimer",
    "reenlightenment",
)


@dataclass(frozen=True)
class HostCPU:
    """What libvirt reports for a host CPU."""

    vendor: str
    host_model: str
    required: tuple[str, ...]  # host-model features of policy "require"
    usable: tuple[str, ...]  # custom-mode models, usable='yes'
    unusable: tuple[str, ...]  # custom-mode models, usable='no'
    features: tuple[str, ...]  # the host CPU baseline's features
    tsc_hz: int


_BASE_FEATURES = (
    "3dnowprefetch abm adx aes apic arat avx avx2 avx512bw avx512cd avx512dq avx512f avx512vl avx512vnni bmi1 "
    "bmi2 clflush clflushopt clwb cmov cx16 cx8 de erms f16c fma fpu fsgsbase fxsr invpcid invtsc lahf_lm lm mca "
    "mce mmx movbe msr mtrr nx pae pat pcid pclmuldq pdpe1gb pge pni popcnt pse pse36 rdrand rdseed rdtscp sep "
    "smap smep spec-ctrl ssbd sse sse2 sse4.1 sse4.2 ssse3 syscall tsc tsc-deadline vme x2apic xgetbv1 xsave "
    "xsavec xsaveopt"
).split()
_CASCADELAKE_REQUIRED = (
    "ss vmx pdcm hypervisor tsc_adjust umip pku md-clear stibp arch-capabilities xsaves ibpb ibrs amd-stibp "
    "amd-ssbd rdctl-no ibrs-all skip-l1dfl-vmentry mds-no pschange-mc-no tsx-ctrl"
).split()
_OLD_MODELS = (
    "486 pentium pentium2 pentium3 pentiumpro coreduo n270 core2duo Conroe qemu32 qemu64 kvm32 kvm64 "
    "Opteron_G1 Opteron_G2 Penryn Nehalem Nehalem-IBRS Westmere Westmere-IBRS SandyBridge SandyBridge-IBRS "
    "IvyBridge IvyBridge-IBRS Haswell-noTSX Haswell-noTSX-IBRS Broadwell-noTSX Broadwell-noTSX-IBRS "
    "Skylake-Client-noTSX-IBRS Skylake-Server-noTSX-IBRS Cascadelake-Server-noTSX"
).split()
_TSX_MODELS = (
    "Haswell Haswell-IBRS Broadwell Broadwell-IBRS Skylake-Client Skylake-Client-IBRS Skylake-Server "
    "Skylake-Server-IBRS Cascadelake-Server"
).split()
_NEWER_MODELS = "Icelake-Server Icelake-Server-noTSX Cooperlake SapphireRapids Snowridge".split()
_AMD_MODELS = "athlon phenom Opteron_G3 Opteron_G4 Opteron_G5 EPYC EPYC-IBPB EPYC-Rome EPYC-Milan Dhyana".split()


def _without(items: list[str], gone: list[str]) -> tuple[str, ...]:
    return tuple(i for i in items if i not in gone)


# Intel Xeon Gold 6230R (Cascade Lake) with TSX off: libvirt's host-model stays Cascadelake-Server
# (hle and rtm disabled), while the model itself, which needs TSX, is not usable.
CASCADELAKE = HostCPU(
    vendor="Intel",
    host_model="Cascadelake-Server",
    required=tuple(_CASCADELAKE_REQUIRED),
    usable=tuple(_OLD_MODELS),
    unusable=tuple(_TSX_MODELS + _NEWER_MODELS + _AMD_MODELS),
    features=tuple(sorted({*_BASE_FEATURES, *_CASCADELAKE_REQUIRED, "mpx"})),
    tsc_hz=2095078000,
)
# The same host with TSX enabled in firmware: the TSX models become usable.
CASCADELAKE_TSX = replace(
    CASCADELAKE,
    usable=CASCADELAKE.usable + tuple(_TSX_MODELS),
    unusable=tuple(_NEWER_MODELS + _AMD_MODELS),
    features=tuple(sorted({*CASCADELAKE.features, "hle", "rtm"})),
)
# After a microcode update that no longer enumerates TSX_CTRL.
CASCADELAKE_NEW_MICROCODE = replace(
    CASCADELAKE,
    required=_without(list(CASCADELAKE.required), ["tsx-ctrl"]),
    features=_without(list(CASCADELAKE.features), ["tsx-ctrl"]),
)
_ICELAKE_EXTRA = (
    "avx512vbmi avx512vbmi2 avx512ifma avx512bitalg avx512-vpopcntdq gfni vaes vpclmulqdq sha-ni rdpid fsrm "
    "wbnoinvd la57 taa-no"
).split()
# Intel Xeon Gold 6338 (Ice Lake), TSX off.
ICELAKE = HostCPU(
    vendor="Intel",
    host_model="Icelake-Server",
    required=tuple([*CASCADELAKE.required, "fsrm", "taa-no"]),
    usable=tuple([*_OLD_MODELS, "Icelake-Server-noTSX"]),
    unusable=tuple([*_TSX_MODELS, "Icelake-Server", "Cooperlake", "SapphireRapids", "Snowridge", *_AMD_MODELS]),
    features=tuple(sorted({*_without(list(CASCADELAKE.features), ["mpx"]), *_ICELAKE_EXTRA})),
    tsc_hz=2000000000,
)
HOSTS = {"cpu-tsx-on": CASCADELAKE_TSX, "cpu-icelake": ICELAKE, "cpu-microcode-update": CASCADELAKE_NEW_MICROCODE}


def host_cpu(node: dict) -> HostCPU:
    """The CPU of the emulated host behind `node`."""
    return HOSTS.get(fault_of(node), CASCADELAKE)


def obsolete_models(kv: dict) -> frozenset[str]:
    """The KubeVirt CR's obsoleteCPUModels (the models set true), else KubeVirt's defaults."""
    given = ((kv.get("spec") or {}).get("configuration") or {}).get("obsoleteCPUModels")
    if not given:
        return DEFAULT_OBSOLETE
    return frozenset(k for k, v in given.items() if v)


def labeller_labels(cpu: HostCPU, kubevirt: tuple[int, ...], obsolete: frozenset[str]) -> dict[str, str]:
    """prepareLabels of the node labeller at KubeVirt `kubevirt`."""
    out = {CPU_FEATURE + f: "true" for f in cpu.features}
    usable = [x for x in cpu.usable if x not in obsolete]
    out |= {CPU_MODEL + x: "true" for x in usable}
    if kubevirt >= (1, 6):
        known = [x for x in (*cpu.usable, *cpu.unusable) if x not in obsolete]
        out |= {CPU_MODEL_MIGRATION + x: "true" for x in known}
    else:
        out |= {CPU_MODEL_MIGRATION + x: "true" for x in usable}
        if cpu.host_model not in obsolete:
            out[CPU_MODEL_MIGRATION + cpu.host_model] = "true"
    out |= {HYPERV + c: "true" for c in HYPERV_CAPS}
    out[CPU_TIMER + "tsc-frequency"] = str(cpu.tsc_hz)
    out[CPU_TIMER + "tsc-scalable"] = "false" if kubevirt >= (1, 4) else "no"
    out |= {HOST_MODEL_REQUIRED + f: "true" for f in cpu.required}
    if kubevirt >= (1, 1) and cpu.host_model in obsolete:
        out[OBSOLETE_HOST_MODEL] = "true"
    out[CPU_VENDOR + cpu.vendor] = "true"
    out[HOST_MODEL_CPU + cpu.host_model] = "true"
    return out


def owned(key: str) -> bool:
    return key.startswith(OWNED)


def relabel(node: dict, kubevirt: tuple[int, ...], obsolete: frozenset[str]) -> dict[str, str | None] | None:
    """The label patch the labeller writes on `node`, or None when there is nothing to do (the node
    is skipped, or already carries exactly the labels)."""
    meta = node.get("metadata") or {}
    if SKIP_NODE in (meta.get("annotations") or {}):
        return None
    have = {k: v for k, v in (meta.get("labels") or {}).items() if owned(k)}
    want = labeller_labels(host_cpu(node), kubevirt, obsolete)
    if have == want:
        return None
    return {**{k: None for k in have if k not in want}, **want}


def _kubevirt(cl: Cluster) -> tuple[dict, tuple[int, ...]]:
    """The KubeVirt CR and its deployed version ({} until virt-operator reports one)."""
    kv = cl.get(R.KUBEVIRTS, "kubevirt", KV_NS) or {}
    tag = (kv.get("status") or {}).get("observedKubeVirtVersion") or ""
    return (kv if tag else {}), m.version_tuple(tag)


def label_nodes(cl: Cluster) -> None:
    """One pass of every node's labeller (virt-handler runs one per node, on non-witness nodes)."""
    kv, kubevirt = _kubevirt(cl)
    if not kv:
        return  # virt-handler is not deployed yet
    obsolete = obsolete_models(kv)
    for node in cl.list(R.NODES):
        if ((node.get("metadata") or {}).get("labels") or {}).get("node-role.harvesterhci.io/witness") == "true":
            continue
        patch = relabel(node, kubevirt, obsolete)
        if patch is None:
            continue
        try:
            cl.patch(R.NODES, node["metadata"]["name"], {"metadata": {"labels": patch}})
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise


def labeller_factory(cl: Cluster, state_dir: object) -> Callable[[], None]:
    return lambda: label_nodes(cl)


def labelled(cl: Cluster) -> bool:
    """Every non-skipped, non-witness node carries what its labeller would write."""
    kv, kubevirt = _kubevirt(cl)
    if not kv:
        return False
    obsolete = obsolete_models(kv)
    return all(
        relabel(n, kubevirt, obsolete) is None
        for n in cl.list(R.NODES)
        if ((n.get("metadata") or {}).get("labels") or {}).get("node-role.harvesterhci.io/witness") != "true"
    )


def seed(cl: Cluster, spec: ProfileSpec, state_dir: Path, progress: Callable[[str], None]) -> None:
    """virt-handler's node labeller on every node, once (the controller keeps it up)."""
    wait_for("cluster-seeded", lambda: (label_nodes(cl), labelled(cl))[1])
    progress("KubeVirt node-labeller CPU labels written on the nodes")


def ready(cl: Cluster, spec: ProfileSpec) -> bool:
    return labelled(cl)


CONTROLLERS: list = [("node-labeller", labeller_factory, 2.0, ON_CHANGE)]
WEBHOOKS: list = []
API_GROUPS: list = []


# -- faults -----------------------------------------------------------------------------------------
TSX_MODEL = "Cascadelake-Server"  # the host model's name, which needs TSX to be usable
CPU02_VM = vm_name(3)
CPU02_NODE = "harvester-node-2"
CPU03_VM = vm_name(2)  # ReadWriteMany, one NIC: live-migratable
CPU03_MIGRATION = f"{CPU03_VM}-cpu-fault-migration"
CPU04_NODE = "harvester-node-1"
CPU05_NODE = "harvester-node-2"
CPU05_VMS = (vm_name(4), vm_name(6))  # ReadWriteMany: live-migratable, host-model


def _set_host(cl: Cluster, node: str, value: str | None) -> None:
    cl.patch(R.NODES, node, {"metadata": {"annotations": {FAULT_ANNOTATION: value}}})


def _settled(cl: Cluster) -> None:
    label_nodes(cl)  # as the next tick of the simulator's labeller would
    wait_for("object-restored", lambda: labelled(cl))


def _hosts_reset(cl: Cluster, value: str) -> None:
    for node in cl.list(R.NODES):
        if fault_of(node) == value:
            _set_host(cl, node["metadata"]["name"], None)
    _settled(cl)


def _cpu01(cl: Cluster) -> None:
    patch = {"spec": {"configuration": {"cpuModel": TSX_MODEL}}}
    cl.patch(R.KUBEVIRTS, "kubevirt", patch, KV_NS)


def _cpu01_revert(cl: Cluster) -> None:
    cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"configuration": {"cpuModel": None}}}, KV_NS)


def _vm_model(cl: Cluster, name: str, model: str | None) -> None:
    patch = {"spec": {"template": {"spec": {"domain": {"cpu": {"model": model}}}}}}
    cl.patch(R.VMS, name, patch, NS)


def _cpu02(cl: Cluster) -> None:
    _set_host(cl, CPU02_NODE, "cpu-tsx-on")
    _settled(cl)
    _vm_model(cl, CPU02_VM, TSX_MODEL)


def _cpu02_revert(cl: Cluster) -> None:
    _vm_model(cl, CPU02_VM, None)
    _hosts_reset(cl, "cpu-tsx-on")


def _migrated(cl: Cluster) -> str | None:
    mig = cl.get(R.VMIMS, CPU03_MIGRATION, NS) or {}
    phase = (mig.get("status") or {}).get("phase")
    if phase == "Failed":
        raise AssertionError(f"migration {CPU03_MIGRATION} failed: {mig.get('status')}")
    vmi = cl.get(R.VMIS, CPU03_VM, NS) or {}
    return (vmi.get("status") or {}).get("nodeName") if phase == "Succeeded" else None


def _cpu03(cl: Cluster) -> None:
    if cl.get(R.VMIMS, CPU03_MIGRATION, NS) is None:
        body = {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstanceMigration",
            "metadata": {"name": CPU03_MIGRATION, "namespace": NS},
            "spec": {"vmiName": CPU03_VM},
        }
        cl.create(R.VMIMS, body, NS)
    target = wait_for("migration-completed", lambda: _migrated(cl))
    for node in cl.list(R.NODES):
        if node["metadata"]["name"] != target:
            _set_host(cl, node["metadata"]["name"], "cpu-microcode-update")
    _settled(cl)


def _cpu03_revert(cl: Cluster) -> None:
    _hosts_reset(cl, "cpu-microcode-update")
    try:
        cl.delete(R.VMIMS, CPU03_MIGRATION, NS)
    except ApiError as exc:
        if not exc.not_found:
            raise


def _cpu04(cl: Cluster) -> None:
    cl.patch(R.NODES, CPU04_NODE, {"metadata": {"annotations": {SKIP_NODE: "true"}}})


def _cpu04_revert(cl: Cluster) -> None:
    cl.patch(R.NODES, CPU04_NODE, {"metadata": {"annotations": {SKIP_NODE: None}}})
    _settled(cl)


def _cpu05(cl: Cluster) -> None:
    _set_host(cl, CPU05_NODE, "cpu-icelake")
    _settled(cl)


def _cpu05_revert(cl: Cluster) -> None:
    _hosts_reset(cl, "cpu-icelake")


FAULTS: list[Fault] = [
    Fault(
        "CPU-01",
        f"the KubeVirt CR's cluster-wide cpuModel set to {TSX_MODEL}, the host model every node shows, "
        "which no node can run with TSX off (no cpu-model label for it)",
        _cpu01,
        _cpu01_revert,
        objects=(f"KubeVirt {KV_NS}/kubevirt",),
    ),
    Fault(
        "CPU-02",
        f"{CPU02_NODE}'s firmware enabled TSX, and VM {NS}/{CPU02_VM} was given CPU model {TSX_MODEL}, "
        "which only that node can run",
        _cpu02,
        _cpu02_revert,
        objects=(f"VirtualMachine {NS}/{CPU02_VM}",),
    ),
    Fault(
        "CPU-03",
        f"VM {NS}/{CPU03_VM} (host-model) live-migrated, its launcher pinned to the source's host model and "
        "required features; then a microcode update on every other node dropped tsx-ctrl",
        _cpu03,
        _cpu03_revert,
        objects=(f"VirtualMachineInstance {NS}/{CPU03_VM}",),
    ),
    Fault(
        "CPU-04",
        f"{CPU04_NODE} annotated {SKIP_NODE}=true (the article's workaround, left in place)",
        _cpu04,
        _cpu04_revert,
        objects=(f"Node {CPU04_NODE}",),
    ),
    Fault(
        "CPU-05",
        f"{CPU05_NODE} replaced by an Ice Lake server (host model Icelake-Server, the others Cascadelake-Server) "
        "while the migratable VMs keep host-model",
        _cpu05,
        _cpu05_revert,
        objects=tuple(f"VirtualMachineInstance {NS}/{v}" for v in CPU05_VMS),
    ),
]

__all__ = ["API_GROUPS", "CONTROLLERS", "FAULTS", "WEBHOOKS", "ready", "seed"]
