"""Third-party CSI storage (article use_rook_ceph_external_storage; facts.md §2.2, §11, §17.7, R6).

Pure functions over plain data: `csi-driver-config` against the snapshot classes, CSIDrivers and
StorageClasses (CSI-01), where VM images are stored (CSI-02), which class backs each VM's boot
volume (CSI-03), and the hosts that run Rook (CSI-05: host files read through the node probe).

Upstream sources:
- `csi-driver-config`: harvester/harvester `pkg/settings/settings.go` (JSON: provisioner ->
  {volumeSnapshotClassName, backupVolumeSnapshotClassName}; default names driver.longhorn.io with
  `longhorn-snapshot` and `longhorn`), read by the VM backup controller to pick the
  VolumeSnapshotClass of each volume's provisioner (`pkg/controller/master/backup/`).
- images: `pkg/apis/harvesterhci.io/v1beta1/image.go` (`spec.backend` backingimage|cdi and
  `spec.targetStorageClassName` from v1.5.0, unchanged to v1.8.2; `status.storageClassName`, the
  image's own Longhorn class `longhorn-<image>` for backing images).
- boot volume: KubeVirt boots the disk with the lowest `bootOrder`, else the first disk listed
  (kubevirt `pkg/virt-launcher/virtwrap/converter`); Harvester supports third-party classes for
  non-boot volumes only (the article; HV docs "Third-party storage").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from harvester_conformance.checks.findings import Finding
from harvester_conformance.probes.parsers import (
    KernelModule,
    Mount,
    covering_mount,
    modprobe_modules,
    module_loaded,
    modules_load_conf,
    parse_oem,
    step_files,
)

SETTING = "csi-driver-config"
SETTING_REF = f"Setting {SETTING}"
LONGHORN = "driver.longhorn.io"
CLASS_KEYS = ("volumeSnapshotClassName", "backupVolumeSnapshotClassName")
VOLUME_CLAIM_TEMPLATES = "harvesterhci.io/volumeClaimTemplates"
# Vendor drivers whose own invariant owns their StorageClass (a missing class is reported there).
VENDOR_CLASS_OWNER = {"csi.trident.netapp.io": "NTA-01"}


def _name(obj: dict) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def _ref(kind: str, obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return (
        f"{kind} {meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else f"{kind} {meta.get('name')}"
    )


def parse_driver_config(setting: dict | None) -> tuple[dict[str, dict] | None, str | None]:
    """(provisioner -> entry, problem): the value in force (value, else default)."""
    text = str((setting or {}).get("value") or (setting or {}).get("default") or "")
    if not text:
        return None, "empty (no value and no default)"
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return None, f"not JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        return None, "not a JSON object of provisioner -> {volumeSnapshotClassName, backupVolumeSnapshotClassName}"
    return doc, None


def check_driver_config(
    setting: dict | None, snapshot_classes: list[dict], drivers: list[dict], storage_classes: list[dict]
) -> tuple[list[Finding], dict[str, str]]:
    """CSI-01: (findings, vendor-owned gaps: provisioner -> the ID that owns its StorageClass)."""
    config, problem = parse_driver_config(setting)
    if config is None:
        return [Finding(SETTING_REF, f"value {problem}")], {}
    vsc = {_name(c): c for c in snapshot_classes}
    csi = {_name(d) for d in drivers}
    provisioners = {sc.get("provisioner") for sc in storage_classes}
    findings, owned = [], {}
    for provisioner, entry in sorted(config.items()):
        for key in CLASS_KEYS:
            name = entry.get(key)
            if not name:
                findings.append(
                    Finding(SETTING_REF, f"{provisioner}: {key} is not set; expected a VolumeSnapshotClass")
                )
            elif name not in vsc:
                findings.append(
                    Finding(SETTING_REF, f"{provisioner}: {key} names VolumeSnapshotClass {name}, which does not exist")
                )
            elif vsc[name].get("driver") != provisioner:
                findings.append(
                    Finding(
                        SETTING_REF,
                        f"{provisioner}: {key} names VolumeSnapshotClass {name} of driver "
                        f"{vsc[name].get('driver')}; expected driver {provisioner}",
                    )
                )
        if provisioner not in csi:
            findings.append(Finding(SETTING_REF, f"{provisioner}: no CSIDriver {provisioner} is installed"))
        if provisioner not in provisioners:
            if provisioner in VENDOR_CLASS_OWNER:
                owned[provisioner] = VENDOR_CLASS_OWNER[provisioner]
            else:
                findings.append(Finding(SETTING_REF, f"{provisioner}: no StorageClass uses this provisioner"))
    return findings, owned


def check_image(image: dict, classes: dict[str, dict], drivers: set[str], cdi_backend: bool) -> Finding | None:
    """CSI-02: a backing-image image sits on a Longhorn class; from v1.5.0 (`cdi_backend`) a CDI
    image may use a third-party class that exists and whose driver is installed."""
    spec, status = image.get("spec") or {}, image.get("status") or {}
    backend = str(spec.get("backend") or "backingimage")
    target = spec.get("targetStorageClassName") if backend == "cdi" else None
    name = target or status.get("storageClassName")
    if not name:
        return None  # not imported yet: Harvester has not created its class
    sc = classes.get(str(name))
    ref = _ref("VirtualMachineImage", image)
    if backend == "cdi" and cdi_backend:
        if sc is None:
            return Finding(ref, f"CDI image on StorageClass {name}, which does not exist")
        if sc.get("provisioner") not in drivers:
            return Finding(
                ref, f"CDI image on StorageClass {name}, whose provisioner {sc.get('provisioner')} has no CSIDriver"
            )
        return None
    if sc is None:
        return Finding(ref, f"stored on StorageClass {name}, which does not exist; expected a {LONGHORN} class")
    if sc.get("provisioner") != LONGHORN:
        how = f"backend {backend}" + ("" if cdi_backend else " (this release stores every image as a backing image)")
        return Finding(
            ref,
            f"stored on StorageClass {name} of provisioner {sc.get('provisioner')} ({how}); "
            f"expected a {LONGHORN} class",
        )
    return None


def boot_volume(vm: dict) -> str | None:
    """The name of the volume the VM boots from: lowest bootOrder, else the first disk."""
    template = ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}
    disks = [d for d in ((template.get("domain") or {}).get("devices") or {}).get("disks") or [] if isinstance(d, dict)]
    if not disks:
        return None
    ordered = [d for d in disks if isinstance(d.get("bootOrder"), int)]
    first = min(ordered, key=lambda d: d["bootOrder"]) if ordered else disks[0]
    return str(first.get("name"))


def _claim_templates(vm: dict) -> dict[str, dict]:
    text = ((vm.get("metadata") or {}).get("annotations") or {}).get(VOLUME_CLAIM_TEMPLATES)
    try:
        doc = json.loads(text) if text else []
    except ValueError:
        return {}
    return {_name(t): t for t in doc if isinstance(t, dict)} if isinstance(doc, list) else {}


def boot_class(vm: dict, pvcs: dict[str, dict]) -> tuple[str, str] | None:
    """(claim, StorageClass) of the boot volume; None when it is not a claim or the class is unknown."""
    volume = boot_volume(vm)
    template = ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}
    vol = next((v for v in template.get("volumes") or [] if isinstance(v, dict) and v.get("name") == volume), None)
    if vol is None:
        return None
    source = vol.get("persistentVolumeClaim") or vol.get("dataVolume") or {}
    claim = source.get("claimName") or source.get("name")
    if not claim:
        return None
    pvc = pvcs.get(str(claim)) or _claim_templates(vm).get(str(claim)) or {}
    sc = (pvc.get("spec") or {}).get("storageClassName")
    return (str(claim), str(sc)) if sc else None


def check_boot_volume(vm: dict, pvcs: dict[str, dict], classes: dict[str, dict]) -> Finding | None:
    """CSI-03: a VM's boot volume is on a Longhorn class, never a third-party one."""
    found = boot_class(vm, pvcs)
    if found is None:
        return None
    claim, name = found
    sc = classes.get(name)
    if sc is None or sc.get("provisioner") == LONGHORN:
        return None
    return Finding(
        _ref("VirtualMachine", vm),
        f"boot volume {claim} on StorageClass {name} of provisioner {sc.get('provisioner')}; "
        f"expected a {LONGHORN} class (third-party classes are for data volumes only)",
    )


# -- CSI-05: hosts that run Rook ------------------------------------------------------------------------
# The article's install configuration (`os.persistent_state_paths`, `os.modules`) as a host shows it.
# harvester-installer (pkg/config/cos.go, templates/cos-rootfs.yaml, v1.2.0 to v1.8.x) renders it into
# the node's /oem/90_custom.yaml: a `rootfs` stage whose `environment` sets PERSISTENT_STATE_PATHS
# (Harvester's own paths plus the configured ones; PERSISTENT_STATE_BIND "true", written to
# /run/cos/cos-layout.env), and an `initramfs` stage with one `modprobe <module>` command per module.
# At boot each persistent path is bind-mounted from the COS_PERSISTENT partition; everything else
# under /var and /etc is an overlay on tmpfs (RW_PATHS), rebuilt empty at every boot.
# Not checked: Rook pods (a host counts as running Rook by its files: Rook's default data directory or
# a Rook CSI node plugin's kubelet directory, so a non-default dataDirHostPath alone is not seen);
# overlays with a persistent upper directory (PERSISTENT_STATE_BIND false: Harvester always binds);
# the file the rootfs stage's environment goes to; the `if:` conditions of stages.
ROOK_PATHS = ("/var/lib/rook", "/var/lib/ceph")
ROOK_MODULES = ("rbd", "nbd")
ROOK_DATA_DIR = "/var/lib/rook"  # Rook's default dataDirHostPath
KUBELET_PLUGINS = "/var/lib/kubelet/plugins"
# Rook registers its CSI drivers as `<operator namespace>.rbd.csi.ceph.com` (and .cephfs.); the node
# plugin keeps its socket in the kubelet's plugins directory under that name (rook
# pkg/operator/ceph/csi/template/rbd/csi-rbdplugin.yaml, hostPath DirectoryOrCreate).
ROOK_PLUGIN = re.compile(r".+\.(rbd|cephfs)\.csi\.ceph\.com")
PERSISTENT_STATE_PATHS = "PERSISTENT_STATE_PATHS"
EPHEMERAL_FS = ("overlay", "tmpfs", "ramfs")


def rook_evidence(data_dir: tuple[str, ...] | None, plugins: tuple[str, ...] | None) -> list[str]:
    """Why a host counts as running Rook: Rook's data directory holds something, or the kubelet
    has a Rook CSI node plugin's directory. Empty: the host does not run Rook."""
    out = []
    if data_dir:
        out.append(f"{ROOK_DATA_DIR} holds {', '.join(data_dir[:3])}{' ...' if len(data_dir) > 3 else ''}")
    out += [f"{KUBELET_PLUGINS}/{p}" for p in plugins or () if ROOK_PLUGIN.fullmatch(p)]
    return out


@dataclass(frozen=True)
class RookHost:
    """What a host that runs Rook shows (gathered through the node probe)."""

    node: str
    evidence: tuple[str, ...]
    modules: tuple[KernelModule, ...]  # /proc/modules
    builtin: tuple[str, ...]  # modules built into the running kernel (modules.builtin), when read
    mounts: tuple[Mount, ...]  # /proc/1/mountinfo
    oem: dict[str, bytes | None]  # /oem/<file> -> contents


def builtin_modules(data: bytes | None) -> tuple[str, ...]:
    """Module names of a kernel's modules.builtin (`kernel/drivers/block/rbd.ko` per line)."""
    if not data:
        return ()
    names = (line.rsplit("/", 1)[-1].split(".ko", 1)[0] for line in data.decode(errors="replace").splitlines())
    return tuple(n.replace("-", "_") for n in names if n)


def _covers(path: str, listed: str) -> bool:
    top = listed.rstrip("/") or "/"
    return path == top or path.startswith(top + "/")


def _persistent_now(mounts: tuple[Mount, ...], path: str) -> str | None:
    """Why `path` is not on persistent storage this boot, or None when it is."""
    m = covering_mount(list(mounts), path)
    if m is None or m.mount_point == "/":
        return f"{path} is on the read-only OS image, not a persistent mount"
    if m.fstype in EPHEMERAL_FS:
        return f"{path} is on {m.fstype} {m.mount_point} (rebuilt at every boot)"
    return None


def _boot_config(oem: dict[str, bytes | None]) -> tuple[list[str] | None, set[str], list[str]]:
    """(PERSISTENT_STATE_PATHS the rootfs stages leave, None when none sets it; the modules the boot
    stages load; files that do not parse)."""
    configs, broken = parse_oem(oem)
    paths: list[str] | None = None
    modules: set[str] = set()
    for _, cfg in configs:
        for stage, step in cfg.steps(boot_only=True):
            env = step.get("environment")
            if stage.split(".", 1)[0] == "rootfs" and isinstance(env, dict) and PERSISTENT_STATE_PATHS in env:
                paths = str(env[PERSISTENT_STATE_PATHS] or "").split()  # the last writer wins (yip env file)
            modules.update(str(m).replace("-", "_") for m in step.get("modules") or [] if m)
            for command in step.get("commands") or []:
                modules.update(modprobe_modules(str(command)))
            for path, data in step_files(step):
                if path.startswith("/etc/modules-load.d/") and path.endswith(".conf") and data is not None:
                    modules.update(modules_load_conf(data))
    return paths, modules, [f"{p} does not parse ({why})" for p, why in sorted(broken.items())]


def check_rook_host(host: RookHost) -> Finding | None:
    """CSI-05 on a host that runs Rook: /var/lib/rook and /var/lib/ceph on persistent mounts now and
    listed in the /oem rootfs stage's PERSISTENT_STATE_PATHS for the next boot; rbd and nbd loaded
    now and loaded by an /oem boot stage."""
    issues = [why for path in ROOK_PATHS if (why := _persistent_now(host.mounts, path))]
    listed, configured, broken = _boot_config(host.oem)
    missing = [p for p in ROOK_PATHS if not any(_covers(p, x) for x in listed or [])]
    if missing and listed is None:
        issues.append(f"no /oem rootfs stage sets {PERSISTENT_STATE_PATHS}: {', '.join(missing)} not persisted")
    elif missing:
        issues.append(f"the /oem rootfs stage's {PERSISTENT_STATE_PATHS} lacks {', '.join(missing)}")
    absent = [m for m in ROOK_MODULES if not module_loaded(list(host.modules), m) and m not in host.builtin]
    if absent:
        issues.append(f"module(s) {', '.join(absent)} not loaded (not in /proc/modules nor built in)")
    unconfigured = [m for m in ROOK_MODULES if m not in configured and m not in host.builtin]
    if unconfigured:
        issues.append(f"no /oem boot stage loads {', '.join(unconfigured)} (os.modules)")
    if issues:
        issues += broken
    if not issues:
        return None
    return Finding(f"Node {host.node}", f"runs Rook ({'; '.join(host.evidence)}): " + "; ".join(issues))


# -- CSI-04: a vendor class end to end ------------------------------------------------------------------
# The stages of the certification test: a blank PVC of the class (external-provisioner), a VM that
# attaches it, a VolumeSnapshot through csi-driver-config's volumeSnapshotClassName (external-snapshotter:
# status.readyToUse, status.error), and a Harvester VirtualMachineBackup of the VM. Harvester's backup
# controller (pkg/controller/master/backup/backup.go, v1.2.0 to v1.8.x) snapshots each volume as
# VolumeSnapshot `<backup>-volume-<pvc>` through backupVolumeSnapshotClassName for `type: backup`,
# volumeSnapshotClassName for `type: snapshot`. Up to v1.4.x a backup of a third-party volume is admitted
# (with a backup target set); from v1.5.0 the webhook refuses it ("provisioner ... is not supported for
# type backup": third-party drivers get the default ability snapshot-only, pkg/webhook/util/snapshot.go),
# so the VM-level operation there is a VM snapshot.
BACKUP_REFUSED_FROM = (1, 5, 0)
BACKUP_TARGET_SETTING = "backup-target"


def vendor_classes(setting: dict | None, sc: dict | None, name: str) -> tuple[str, str, str] | Finding:
    """(provisioner, volumeSnapshotClassName, backupVolumeSnapshotClassName) that csi-driver-config
    names for the class's provisioner, or why the test cannot use the class."""
    if sc is None:
        return Finding(f"StorageClass {name}", "does not exist (--vendor-storage-class)")
    provisioner = str(sc.get("provisioner") or "")
    if provisioner == LONGHORN:
        return Finding(f"StorageClass {name}", f"provisioner is {LONGHORN}; expected a vendor (third-party) driver")
    config, problem = parse_driver_config(setting)
    if config is None:
        return Finding(SETTING_REF, f"value {problem}")
    entry = config.get(provisioner)
    if entry is None:
        return Finding(SETTING_REF, f"has no entry for {provisioner}, the provisioner of StorageClass {name}")
    missing = [k for k in CLASS_KEYS if not entry.get(k)]
    if missing:
        return Finding(SETTING_REF, f"{provisioner}: {', '.join(missing)} not set")
    return provisioner, str(entry[CLASS_KEYS[0]]), str(entry[CLASS_KEYS[1]])


def backup_type(harvester: tuple[int, ...], backup_target: dict | None) -> str:
    """The VM-level operation to run: `backup` up to v1.4.x when a backup target is set, else `snapshot`."""
    if harvester and harvester >= BACKUP_REFUSED_FROM:
        return "snapshot"
    text = str((backup_target or {}).get("value") or "")
    try:
        endpoint = (json.loads(text) or {}).get("endpoint") if text else None
    except (ValueError, AttributeError):
        endpoint = None
    return "backup" if endpoint else "snapshot"


def _events(events: list[dict], kind: str, ns: str, name: str) -> str:
    """The object's events, newest last, as `reason: message` (or a note when there are none)."""
    mine = [
        e
        for e in events
        if (e.get("involvedObject") or {}).get("kind") == kind
        and (e.get("involvedObject") or {}).get("name") == name
        and (e.get("involvedObject") or {}).get("namespace", ns) == ns
    ]
    mine.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    if not mine:
        return "no events"
    return "events: " + "; ".join(f"{e.get('reason')}: {e.get('message')}" for e in mine[-3:])


def check_claim(pvc: dict | None, ns: str, name: str, sc: str, events: list[dict]) -> list[Finding]:
    """The blank claim is Bound; else the claim and its class, with the claim's events."""
    phase = ((pvc or {}).get("status") or {}).get("phase")
    if phase == "Bound":
        return []
    seen = f"phase {phase}" if pvc else "absent"
    why = f"{seen}; {_events(events, 'PersistentVolumeClaim', ns, name)}"
    return [
        Finding(f"PersistentVolumeClaim {ns}/{name}", f"not Bound on StorageClass {sc} ({why})"),
        Finding(f"StorageClass {sc}", f"did not provision PersistentVolumeClaim {ns}/{name} ({why})"),
    ]


def check_snapshot(
    snap: dict | None, ns: str, name: str, vsc: str, classes: list[dict], provisioner: str, events: list[dict]
) -> list[Finding]:
    """The VolumeSnapshot is readyToUse through `vsc`, a class of the vendor's driver; else the
    snapshot (status.error, events) and the class (missing, or of another driver)."""
    cls = next((c for c in classes if _name(c) == vsc), None)
    problem = None
    if cls is None:
        problem = "does not exist"
    elif cls.get("driver") != provisioner:
        problem = f"is of driver {cls.get('driver')}; expected {provisioner}"
    st = (snap or {}).get("status") or {}
    if st.get("readyToUse") is True and problem is None:
        return []
    error = (st.get("error") or {}).get("message")
    seen = "absent" if snap is None else f"readyToUse {st.get('readyToUse')}"
    why = f"{seen}; {'error: ' + str(error) + '; ' if error else ''}{_events(events, 'VolumeSnapshot', ns, name)}"
    out = [Finding(f"VolumeSnapshot {ns}/{name}", f"through VolumeSnapshotClass {vsc} not ready ({why})")]
    if problem:
        out.append(Finding(f"VolumeSnapshotClass {vsc}", f"named by {SETTING_REF} for {provisioner}, {problem}"))
    return out


def check_vm_backup(
    backup: dict | None, ns: str, name: str, expected: str, snapshots: dict[str, dict], events: list[dict]
) -> list[Finding]:
    """The VirtualMachineBackup is readyToUse and snapshotted each volume through `expected` (the
    class csi-driver-config names for its type); else the backup (status.error, conditions, events)
    and each of its VolumeSnapshots that is not ready or used another class."""
    st = (backup or {}).get("status") or {}
    out: list[Finding] = []
    for vb in st.get("volumeBackups") or []:
        snap_name = str(vb.get("name") or "")
        snap = snapshots.get(snap_name)
        used = ((snap or {}).get("spec") or {}).get("volumeSnapshotClassName")
        if snap is not None and used != expected:
            out.append(
                Finding(f"VolumeSnapshot {ns}/{snap_name}", f"through VolumeSnapshotClass {used}; expected {expected}")
            )
        elif not vb.get("readyToUse"):
            error = (vb.get("error") or {}).get("message")
            snap_error = (((snap or {}).get("status") or {}).get("error") or {}).get("message")
            detail = error or snap_error or ("VolumeSnapshot absent" if snap is None else "no error reported")
            out.append(
                Finding(
                    f"VolumeSnapshot {ns}/{snap_name}",
                    f"volume {vb.get('volumeName')} through VolumeSnapshotClass {expected} not ready ({detail})",
                )
            )
    if st.get("readyToUse") is True and not out:
        return []
    conditions = "; ".join(
        f"{c.get('type')}={c.get('status')}{' ' + str(c.get('message')) if c.get('message') else ''}"
        for c in st.get("conditions") or []
    )
    error = (st.get("error") or {}).get("message")
    parts = [
        "absent" if backup is None else f"readyToUse {st.get('readyToUse')}",
        *([f"error: {error}"] if error else []),
        *([f"conditions: {conditions}"] if conditions else []),
        _events(events, "VirtualMachineBackup", ns, name),
    ]
    return [Finding(f"VirtualMachineBackup {ns}/{name}", f"not ready ({'; '.join(parts)})"), *out]
