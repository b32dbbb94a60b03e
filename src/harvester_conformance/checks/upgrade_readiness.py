"""Upgrade readiness (facts.md §16, facts-releases.md R3.1): Harvester's upgrade gate, every
violation at once.

UPG-03, non-live-migratable VMIs: harvester/harvester `pkg/webhook/resources/upgrade/validator.go`
`checkNonLiveMigratableVMs` and `pkg/util/virtualmachineinstance` `GetAllNonLiveMigratableVMINames`
(v1.2.2 … v1.8.2). The gate lists every VMI (any phase) and refuses, per VMI, the first of: a
`nodeSelector` (any, even empty), `hostDevices` (any), a required node affinity that matches no
schedulable node other than the VMI's own, and up to v1.7.x a CD-ROM disk or containerDisk volume.
With a single node (from v1.6.0 a single non-witness node) nothing is refused: the upgrade shuts
the VMs down. From v1.6.0 `upgrade-config` `restoreVM: true` skips the check and witness nodes
are left out. v1.8.2 adds stale hotplug volumes.

KubeVirt's `LiveMigratable=False` condition is NOT part of the gate: from v1.7.1 it refuses
Harvester's migrate action only (`ValidateVMMigratable`, called from pkg/api/vm handler.go and
formatter.go), while the gate and the upgrade's live-migration detector call
`GetAllNonLiveMigratableVMINames`, which never reads the condition (pkg/util/virtualmachineinstance/
virtualmachineinstance.go @v1.7.1 and @v1.8.2). So it is not counted here.

Skip annotations (`harvesterhci.io/skipGarbageCollectionThresholdCheck`, `minCertsExpirationInDay`,
`skipSingleReplicaDetachedVol`): v1.5.0 reads the first two from the Version the Upgrade names,
v1.5.1+ from the Upgrade object itself (validator.go `checkNodes`, `checkCerts` @v1.5.0 / @v1.5.1);
`skipSingleReplicaDetachedVol` is read from the Upgrade from v1.5.0. An Upgrade is judged when it
is created, so its annotations cannot be seen beforehand: the checks honour what they can see
(v1.5.0's Versions, the strictest of them since the Upgrade may name any) and say, in the message,
which annotation of the Upgrade would waive the finding.

UPG-01, 02, 04, 05, 06, 07: the other rules of the same validator.go (`Create`, `Update`,
`checkResources`) and of harvester/upgrade-helpers `pre-check/v1.x/check.sh` (bundles, CAPI
paused, the v1.7.x COS_STATE size), each reporting every offending object instead of the first.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from harvester_conformance.checks.findings import Finding

WITNESS_LABEL = "node-role.harvesterhci.io/witness"
UPGRADE_CONFIG = "upgrade-config"


@dataclass(frozen=True)
class Gate:
    harvester: tuple[int, ...]

    @property
    def excludes_witness(self) -> bool:
        return self.harvester >= (1, 6, 0)

    @property
    def restore_vm_skips(self) -> bool:
        return self.harvester >= (1, 6, 0)

    @property
    def cdrom_blocks(self) -> bool:
        return self.harvester < (1, 8, 0)

    @property
    def stale_hotplug(self) -> bool:
        return self.harvester >= (1, 8, 2)

    @property
    def node_machine_matching(self) -> bool:
        """checkNodeMachineMatching, from v1.5.1 (HV commit on the v1.5 branch)."""
        return self.harvester >= (1, 5, 1)

    @property
    def annotations_on_upgrade(self) -> bool:
        """skip/threshold annotations read from the Upgrade object from v1.5.1 (the Version before)."""
        return self.harvester >= (1, 5, 1)

    @property
    def annotations_on_version(self) -> bool:
        """v1.5.0 only: skipGarbageCollectionThresholdCheck and minCertsExpirationInDay on the Version."""
        return (1, 5, 0) <= self.harvester < (1, 5, 1)

    @property
    def checks_certs(self) -> bool:
        """checkCerts exists from v1.5.0 (validator.go @v1.4.3 has none)."""
        return self.harvester >= (1, 5, 0)

    @property
    def single_replica(self) -> str | None:
        """checkSingleReplicaVolumes: none before v1.3.0, attached/attaching/creating volumes only on
        v1.3.x-v1.4.x, every state from v1.5.0 (the Upgrade's skipSingleReplicaDetachedVol narrows it
        back to the active ones)."""
        if self.harvester < (1, 3, 0):
            return None
        return "active" if self.harvester < (1, 5, 0) else "all"

    @property
    def cleanup_pending_blocks(self) -> bool:
        """An earlier Upgrade labelled harvesterhci.io/upgradeCleanup=pending refuses a new one (v1.7.0+)."""
        return self.harvester >= (1, 7, 0)

    @property
    def checks_addons(self) -> bool:
        """checkAddons: no Addon being enabled, disabled or updated (v1.7.0+)."""
        return self.harvester >= (1, 7, 0)

    @property
    def pause_map(self) -> bool:
        """Create and Update validate harvesterhci.io/node-upgrade-pause-map (v1.7.0+)."""
        return self.harvester >= (1, 7, 0)

    @property
    def cos_state_size(self) -> bool:
        """The pre-check script's COS_STATE size rule, for v1.7.x clusters about to go to v1.8."""
        return (1, 7, 0) <= self.harvester < (1, 8, 0)


def gate_nodes(nodes: list[dict], gate: Gate) -> list[dict]:
    if not gate.excludes_witness:
        return nodes
    return [n for n in nodes if WITNESS_LABEL not in ((n.get("metadata") or {}).get("labels") or {})]


def restore_vm(setting: dict | None) -> bool:
    """upgrade-config's restoreVM (value, else default); an unparsable value counts as false."""
    text = (setting or {}).get("value") or (setting or {}).get("default") or ""
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("restoreVM") is True


def skip_reason(nodes: list[dict], upgrade_config: dict | None, gate: Gate) -> str | None:
    """Why the gate does not check VMIs at all on this cluster (None: it does)."""
    if gate.restore_vm_skips and restore_vm(upgrade_config):
        return "upgrade-config restoreVM is true: the upgrade shuts VMs down and restores them"
    counted = gate_nodes(nodes, gate)
    if len(counted) <= 1:
        which = "non-witness node" if gate.excludes_witness else "node"
        return f"a single {which}: the upgrade shuts every VM down, the gate checks none"
    return None


# -- node selector terms (k8s.io/component-helpers/scheduling/corev1 MatchNodeSelectorTerms) ----


def _match_expression(expr: dict, labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    present = key in labels
    value = labels.get(key)
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        try:
            have, bound = int(value or ""), int(values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def _match_term(term: dict, node: dict) -> bool:
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term matches nothing
    labels = (node.get("metadata") or {}).get("labels") or {}
    name = {"metadata.name": (node.get("metadata") or {}).get("name")}
    return all(_match_expression(e, labels) for e in exprs) and all(_match_expression(f, name) for f in fields)


def matches_node_selector(selector: dict, node: dict) -> bool:
    return any(_match_term(t, node) for t in selector.get("nodeSelectorTerms") or [] if isinstance(t, dict))


def _other_nodes_allowed(vmi: dict, nodes: list[dict]) -> bool:
    """migratableByNodeAffinity: some schedulable node other than the VMI's matches its required
    node affinity (any schedulable other node when it has none)."""
    here = (vmi.get("status") or {}).get("nodeName")
    required = (((vmi.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    for node in nodes:
        if (node.get("metadata") or {}).get("name") == here or (node.get("spec") or {}).get("unschedulable"):
            continue
        if required is None or matches_node_selector(required, node):
            return True
    return False


def blocking_rules(vmi: dict, nodes: list[dict], gate: Gate) -> list[str]:
    """Every rule of the gate the VMI breaks (upstream stops at the first)."""
    spec = vmi.get("spec") or {}
    devices = ((spec.get("domain") or {}).get("devices")) or {}
    rules = []
    if spec.get("nodeSelector") is not None:
        rules.append(f"nodeSelector {json.dumps(spec['nodeSelector'], sort_keys=True)}")
    if devices.get("hostDevices") is not None:
        rules.append(f"{len(devices['hostDevices'])} host device(s)")
    if not _other_nodes_allowed(vmi, gate_nodes(nodes, gate)):
        rules.append("its node affinity matches no other schedulable node")
    if gate.cdrom_blocks:
        cdroms = [
            d.get("name") for d in devices.get("disks") or [] if isinstance(d, dict) and d.get("cdrom") is not None
        ]
        images = [v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict) and v.get("containerDisk")]
        if cdroms:
            rules.append(f"CD-ROM disk(s) {', '.join(map(str, cdroms))}")
        if images:
            rules.append(f"containerDisk volume(s) {', '.join(map(str, images))}")
    return rules


def check_vmi(vmi: dict, nodes: list[dict], gate: Gate) -> Finding | None:
    rules = blocking_rules(vmi, nodes, gate)
    if not rules:
        return None
    meta, status = vmi.get("metadata") or {}, vmi.get("status") or {}
    return Finding(
        f"VirtualMachineInstance {meta.get('namespace')}/{meta.get('name')}",
        f"not live-migratable for the upgrade ({status.get('phase') or 'no phase'} on "
        f"{status.get('nodeName') or 'no node'}): {'; '.join(rules)}",
    )


def _hotplug_volumes(spec: dict) -> set[str]:
    out = set()
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict):
            continue
        for source in ("persistentVolumeClaim", "dataVolume"):
            if isinstance(v.get(source), dict) and v[source].get("hotpluggable") is True:
                out.add(str(v.get("name")))
    return out


def check_stale_hotplug(vm: dict, vmi: dict | None) -> Finding | None:
    """v1.8.2 `checkStaleHotplugVolumes`: pending volumeRequests, or hotplug volumes of the running
    VMI missing from the VM's template."""
    meta = vm.get("metadata") or {}
    ref = f"VirtualMachine {meta.get('namespace')}/{meta.get('name')}"
    pending = (vm.get("status") or {}).get("volumeRequests") or []
    if pending:
        return Finding(ref, f"{len(pending)} pending status.volumeRequests (stale hotplug request)")
    if vmi is None or (vmi.get("status") or {}).get("phase") != "Running":
        return None
    template = (((vm.get("spec") or {}).get("template") or {}).get("spec")) or {}
    declared = {str(v.get("name")) for v in template.get("volumes") or [] if isinstance(v, dict)}
    stale = sorted(_hotplug_volumes(vmi.get("spec") or {}) - declared)
    if stale:
        return Finding(ref, f"hotplugged volume(s) {', '.join(stale)} of the running VMI missing from the VM template")
    return None


# -- skip annotations (checkNodes, checkCerts, checkSingleReplicaVolumes) ----------------------------

SKIP_GC = "harvesterhci.io/skipGarbageCollectionThresholdCheck"
MIN_CERT_DAYS_ANNOTATION = "harvesterhci.io/minCertsExpirationInDay"
SKIP_SINGLE_REPLICA_DETACHED = "harvesterhci.io/skipSingleReplicaDetachedVol"
_GO_TRUE, _GO_FALSE = ("1", "t", "T", "TRUE", "true", "True"), ("0", "f", "F", "FALSE", "false", "False")


def _go_bool(value: str) -> bool | None:
    """strconv.ParseBool; None for what it refuses."""
    return True if value in _GO_TRUE else False if value in _GO_FALSE else None


def _annotated(versions: list[dict], key: str) -> dict[str, str]:
    """Version name -> its value of `key`, for the Versions that carry it."""
    out = {}
    for v in versions:
        meta = v.get("metadata") or {}
        value = (meta.get("annotations") or {}).get(key)
        if value is not None:
            out[str(meta.get("name"))] = value
    return out


def _ignored_on_versions(versions: list[dict], key: str) -> str:
    carrying = sorted(_annotated(versions, key))
    if not carrying:
        return ""
    return f"; Version(s) {', '.join(carrying)} carry it, which this release no longer reads"


@dataclass(frozen=True)
class Waiver:
    """What the gate of this release makes of a skip annotation the check can see."""

    applies: bool  # the rule is skipped on this cluster
    note: str  # where the release reads the annotation, for the message ("" when it has none)


def disk_rule_waiver(gate: Gate, versions: list[dict]) -> Waiver:
    """skipGarbageCollectionThresholdCheck: none before v1.5.0; the named Version's on v1.5.0 (the
    rule is skipped here only when every Version says true: the Upgrade may name any of them); the
    Upgrade's from v1.5.1, which does not exist before the upgrade is started."""
    if gate.annotations_on_upgrade:
        return Waiver(
            False,
            f'the gate skips this rule only when the Upgrade you create carries {SKIP_GC}: "true" '
            f"(read from the Upgrade object from v1.5.1{_ignored_on_versions(versions, SKIP_GC)})",
        )
    if not gate.annotations_on_version:
        return Waiver(False, "")
    values = {name: _go_bool(value) for name, value in _annotated(versions, SKIP_GC).items()}
    names = sorted(str((v.get("metadata") or {}).get("name")) for v in versions)
    skipping = sorted(n for n, b in values.items() if b)
    if names and skipping == names:
        return Waiver(
            True, f"skipped: every Version ({', '.join(names)}) carries {SKIP_GC}: true (v1.5.0 reads it there)"
        )
    if skipping:
        note = f"v1.5.0 reads {SKIP_GC} from the Version the Upgrade names: only {', '.join(skipping)} skip(s) it"
        return Waiver(False, note)
    return Waiver(False, f"v1.5.0 skips this rule when the Version the Upgrade names carries {SKIP_GC}: true")


def min_cert_days(gate: Gate, versions: list[dict]) -> tuple[int, str]:
    """(days, where they come from): 7 by default; on v1.5.0 the strictest of the Versions'
    minCertsExpirationInDay (the Upgrade may name any); from v1.5.1 the Upgrade's, not yet visible."""
    if not gate.checks_certs:
        return MIN_CERT_DAYS, (
            "this release's upgrade gate has no certificate rule (checkCerts comes in v1.5.0); the upgrade "
            "still needs the certificates to outlive it, judged here with v1.5.0's 7 days"
        )
    if gate.annotations_on_upgrade:
        return MIN_CERT_DAYS, (
            f"{MIN_CERT_DAYS} days by default; the Upgrade you create may change it with {MIN_CERT_DAYS_ANNOTATION} "
            f"(an integer above 0, read from the Upgrade object from v1.5.1"
            f"{_ignored_on_versions(versions, MIN_CERT_DAYS_ANNOTATION)})"
        )
    days = {}
    for name, value in _annotated(versions, MIN_CERT_DAYS_ANNOTATION).items():
        try:
            days[name] = int(value)
        except ValueError:
            continue
    if not days:
        return MIN_CERT_DAYS, f"{MIN_CERT_DAYS} days: no Version carries {MIN_CERT_DAYS_ANNOTATION}"
    strictest = max([*days.values(), *([MIN_CERT_DAYS] if len(days) < len(versions) else [])])
    listed = ", ".join(f"{n}={d}" for n, d in sorted(days.items()))
    return strictest, f"{strictest} days, the strictest of the Versions' {MIN_CERT_DAYS_ANNOTATION} ({listed}; v1.5.0)"


# -- UPG-01: Longhorn volumes (hasDegradedVolume, checkSingleReplicaVolumes) ------------------------


ACTIVE_STATES = ("creating", "attached", "attaching")  # checkActiveSingleReplicaVols


def check_volume(volume: dict, node_count: int, gate: Gate) -> Finding | None:
    """Degraded counts from three nodes; a single replica on any multi-node cluster, in every state
    from v1.5.0 (the Upgrade's skipSingleReplicaDetachedVol, not yet visible, spares the detached
    ones) and only while attached, attaching or being created on v1.3.x-v1.4.x."""
    meta, spec, status = volume.get("metadata") or {}, volume.get("spec") or {}, volume.get("status") or {}
    problems = []
    if node_count >= 3 and status.get("robustness") == "degraded":
        problems.append("robustness degraded")
    state = status.get("state") or "unknown"
    rule = gate.single_replica
    if rule and node_count > 1 and spec.get("numberOfReplicas") == 1 and (rule == "all" or state in ACTIVE_STATES):
        k8s = status.get("kubernetesStatus") or {}
        pvc = f"PVC {k8s.get('namespace')}/{k8s.get('pvcName')}" if k8s.get("pvcName") else "no PVC"
        text = f"a single replica ({pvc}, state {state})"
        if state not in ACTIVE_STATES:
            text += f"; refused unless the Upgrade you create carries {SKIP_SINGLE_REPLICA_DETACHED}"
        problems.append(text)
    if not problems:
        return None
    return Finding(f"Volume {meta.get('namespace')}/{meta.get('name')}", "; ".join(problems))


# -- UPG-02: nodes (checkNodes, checkDiskSpace) ------------------------------------------------------

NEW_IMAGE_BYTES = 13 * 1024**3  # defaultNewImageSize
IMAGE_GC_HIGH_DEFAULT = 85.0  # defaultImageGCHighThresholdPercent (kubelet default)


def check_node_state(node: dict) -> Finding | None:
    name = node["metadata"]["name"]
    problems = []
    ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is not None and ready.get("status") != "True":
        problems.append(f"Ready is {ready.get('status')} ({ready.get('reason') or 'no reason'})")
    if (node.get("spec") or {}).get("unschedulable"):
        problems.append("unschedulable (cordoned)")
    return Finding(f"Node {name}", "; ".join(problems)) if problems else None


@dataclass(frozen=True)
class NodeFs:
    used: int
    capacity: int


def node_fs(summary: dict) -> NodeFs | None:
    """The kubelet's root filesystem from /stats/summary (node.fs); None when a figure is missing."""
    fs = (summary.get("node") or {}).get("fs") or {}
    used, capacity = fs.get("usedBytes"), fs.get("capacityBytes")
    if not isinstance(used, int) or not isinstance(capacity, int) or capacity <= 0 or fs.get("availableBytes") is None:
        return None
    return NodeFs(used, capacity)


def check_disk_room(name: str, fs: NodeFs, threshold: float, waiver: Waiver | None = None) -> Finding | None:
    percent = (fs.used + NEW_IMAGE_BYTES) / fs.capacity * 100.0
    if percent <= threshold or (waiver is not None and waiver.applies):
        return None
    gib = 1024**3
    note = f"; {waiver.note}" if waiver is not None and waiver.note else ""
    return Finding(
        f"Node {name}",
        f"will reach {percent:.2f}% of its {fs.capacity / gib:.1f} GiB root filesystem after loading the new "
        f"images ({fs.used / gib:.1f} GiB used + 13 GiB), above the image GC high threshold {threshold:g}%{note}",
    )


# The pre-check script's COS_STATE rule (harvester/upgrade-helpers pre-check/v1.x/check.sh
# `check_cos_state_partition_size`, issue harvester/harvester#10687): `df` 1K-blocks of
# /run/initramfs/cos-state divided by 1,000,000 must reach 15 before a v1.7 cluster goes to v1.8.
# The node probe reads files, not statfs: the partition's size comes from /proc/partitions (1K
# blocks), found through the host's mount table. The installer's partition is 15360 MiB
# (harvester-installer pkg/config/constants.go DefaultCosStateSizeMiB, v1.4.0 … v1.8.0), whose
# ext4 filesystem df reports near 15,375,000 1K-blocks: the partition stands for it with ample margin.
COS_STATE_MOUNT = "/run/initramfs/cos-state"
COS_STATE_MIN_GB = 15
HOST_MOUNTINFO, HOST_PARTITIONS = "/proc/1/mountinfo", "/proc/partitions"


def cos_state_kib(mountinfo: bytes | None, partitions: bytes | None) -> tuple[int | None, str]:
    """(COS_STATE's size in 1K blocks, or None, with why or which device)."""
    if mountinfo is None or partitions is None:
        return None, f"{HOST_MOUNTINFO if mountinfo is None else HOST_PARTITIONS} not readable"
    devno = None
    for line in mountinfo.decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == COS_STATE_MOUNT:
            devno = fields[2]
    if devno is None:
        return None, f"nothing mounted at {COS_STATE_MOUNT}"
    for line in partitions.decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[2].isdigit() and f"{fields[0]}:{fields[1]}" == devno:
            return int(fields[2]), fields[3]
    return None, f"device {devno} of {COS_STATE_MOUNT} not in {HOST_PARTITIONS}"


def check_cos_state(name: str, kib: int, device: str) -> Finding | None:
    if kib // 1_000_000 >= COS_STATE_MIN_GB:
        return None
    return Finding(
        f"Node {name}",
        f"COS_STATE ({device}, {COS_STATE_MOUNT}) is {kib // 1_000_000} GB ({kib} KiB), under the "
        f"{COS_STATE_MIN_GB} GB the pre-check requires before upgrading to v1.8 (a smaller partition corrupts "
        "the new OS image, issue 10687): reinstall the node first",
    )


# -- UPG-04: the API endpoints' certificates (checkCerts) ------------------------------------------

MIN_CERT_DAYS = 7  # defaultMinCertsExpirationInDay


def check_endpoint_cert(
    where: str, not_after: dt.datetime, now: dt.datetime, days: int = MIN_CERT_DAYS, note: str = ""
) -> Finding | None:
    if not_after >= now + dt.timedelta(days=days):
        return None
    left = (not_after - now).total_seconds() / 86400
    return Finding(
        where,
        f"the earliest-expiring certificate served by the Kubernetes API expires on {not_after:%Y-%m-%d %H:%M} UTC "
        f"({left:.1f} days left), within the gate's {days} days: rotate the RKE2 certificates"
        + (f" ({note})" if note else ""),
    )


# -- UPG-05: backups (checkVMBackups, checkScheduleVMBackups) ----------------------------------------


def check_vm_backup(backup: dict) -> Finding | None:
    """IsBackupProgressing: no status.error and not status.readyToUse (a missing status counts)."""
    meta, status = backup.get("metadata") or {}, backup.get("status") or {}
    if status.get("error") is not None or status.get("readyToUse") is True:
        return None
    progress = status.get("progress")
    detail = f", progress {progress}%" if progress is not None else ""
    return Finding(
        f"VirtualMachineBackup {meta.get('namespace')}/{meta.get('name')}",
        f"in progress (readyToUse {status.get('readyToUse')}{detail}, type {(backup.get('spec') or {}).get('type')})",
    )


def check_schedule(schedule: dict) -> Finding | None:
    """scheduleVMBackupBySuspended indexes status.suspended: a schedule without it is active."""
    meta, status = schedule.get("metadata") or {}, schedule.get("status") or {}
    if status.get("suspended") is True:
        return None
    return Finding(
        f"ScheduleVMBackup {meta.get('namespace')}/{meta.get('name')}",
        f"active (status.suspended {status.get('suspended')}, cron {(schedule.get('spec') or {}).get('cron')!r})",
    )


# -- UPG-06: charts, bundles, CAPI (checkManagedCharts, cluster phase, checkMachines, matching) -----

FLEET_LOCAL = "fleet-local"
MACHINE_ANNOTATION = "cluster.x-k8s.io/machine"
MANAGED_LABEL = "harvesterhci.io/managed"


def _ready(obj: dict) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)


def check_managed_chart(chart: dict) -> Finding | None:
    """Only a Ready condition that is not True refuses (a chart with none passes upstream too)."""
    cond = _ready(chart)
    if cond is None or cond.get("status") == "True":
        return None
    meta = chart["metadata"]
    return Finding(
        f"ManagedChart {meta.get('namespace')}/{meta['name']}",
        f"Ready is {cond.get('status')}: {(cond.get('message') or '')[:300]}",
    )


def chart_owned(bundle: dict) -> bool:
    """A ManagedChart's bundle (`mcc-<name>`): Rancher copies its status into the chart
    (rancher managedchart.go), whose finding names it once, as the gate does."""
    owners = (bundle.get("metadata") or {}).get("ownerReferences") or []
    return any(o.get("kind") == "ManagedChart" for o in owners)


def check_bundle(bundle: dict) -> Finding | None:
    """pre-check script: every other Fleet bundle ready (Ready condition, summary ready = desiredReady)."""
    if chart_owned(bundle):
        return None
    meta, summary = bundle["metadata"], (bundle.get("status") or {}).get("summary") or {}
    problems = []
    cond = _ready(bundle)
    if cond is not None and cond.get("status") != "True":
        problems.append(f"Ready is {cond.get('status')}")
    desired, ready = summary.get("desiredReady"), summary.get("ready")
    if isinstance(desired, int) and (ready or 0) < desired:
        problems.append(f"{ready or 0}/{desired} ready")
    if not problems:
        return None
    return Finding(f"Bundle {meta.get('namespace')}/{meta['name']}", "; ".join(problems))


def check_capi_cluster(cluster: dict | None) -> Finding | None:
    ref = f"Cluster {FLEET_LOCAL}/local"
    if cluster is None:
        return Finding(ref, "the local CAPI cluster (cluster.x-k8s.io) does not exist")
    problems = []
    phase = (cluster.get("status") or {}).get("phase")
    if phase != "Provisioned":
        problems.append(f"phase {phase!r}, expected Provisioned")
    if (cluster.get("spec") or {}).get("paused"):
        problems.append("spec.paused is true")
    return Finding(ref, "; ".join(problems)) if problems else None


def check_machine(machine: dict) -> Finding | None:
    meta, phase = machine["metadata"], (machine.get("status") or {}).get("phase")
    if phase == "Running":
        return None
    return Finding(f"Machine {meta.get('namespace')}/{meta['name']}", f"phase {phase!r}, expected Running")


def check_node_machine_matching(nodes: list[dict], machines: list[dict]) -> list[Finding]:
    """isNodeMachineMatching (v1.5.1+): equal counts, every machine has a nodeRef, every node is
    labelled managed and annotated with a machine that points back to it."""
    out = []
    if len(nodes) != len(machines):
        out.append(Finding(f"Cluster {FLEET_LOCAL}/local", f"{len(nodes)} node(s) but {len(machines)} machine(s)"))
    refs = {}
    for m in machines:
        ref = ((m.get("status") or {}).get("nodeRef") or {}).get("name")
        if not ref:
            out.append(Finding(f"Machine {m['metadata'].get('namespace')}/{m['metadata']['name']}", "no nodeRef"))
        refs[m["metadata"]["name"]] = ref
    for node in nodes:
        meta = node["metadata"]
        problems = []
        if (meta.get("labels") or {}).get(MANAGED_LABEL) != "true":
            problems.append(f'label {MANAGED_LABEL} is not "true"')
        machine = (meta.get("annotations") or {}).get(MACHINE_ANNOTATION)
        if not machine:
            problems.append(f"no annotation {MACHINE_ANNOTATION}")
        elif machine not in refs:
            problems.append(f"annotation names machine {machine}, which does not exist")
        elif refs[machine] != meta["name"]:
            problems.append(f"machine {machine} refers to node {refs[machine]}")
        if problems:
            out.append(Finding(f"Node {meta['name']}", "; ".join(problems)))
    return out


ADDON_DEPLOYED, ADDON_DISABLED = "AddonDeploySuccessful", "AddonDisabled"


def check_addon(addon: dict) -> Finding | None:
    """pkg/util/addon `IsAddonOnProcessing` (checkAddons, v1.7.0+): a disabled Addon must be
    AddonDisabled or never processed (empty status), an enabled one AddonDeploySuccessful; any
    other state (AddonEnabling, AddonDisabling, AddonUpdating, a failed job) is still processing."""
    meta, status = addon.get("metadata") or {}, addon.get("status") or {}
    state = status.get("status") or ""
    enabled = (addon.get("spec") or {}).get("enabled") is True
    if (not enabled and state in ("", ADDON_DISABLED)) or (enabled and state == ADDON_DEPLOYED):
        return None
    failed = [
        c.get("message") or c.get("reason") or "no message"
        for c in status.get("conditions") or []
        if isinstance(c, dict) and c.get("type") == "OperationFailed" and c.get("status") == "True"
    ]
    detail = f" (OperationFailed: {failed[0][:200]})" if failed else ""
    return Finding(
        f"Addon {meta.get('namespace')}/{meta.get('name')}",
        f"{'enabled' if enabled else 'disabled'} but still {state or 'without a status'}{detail}: the gate refuses "
        "while an Addon is being enabled, disabled or updated",
    )


# -- UPG-07: other upgrades (Create) -----------------------------------------------------------------

UPGRADE_STATE = "harvesterhci.io/upgradeState"
UPGRADE_CLEANUP = "harvesterhci.io/upgradeCleanup"
FINISHED = ("Succeeded", "Failed")


def check_upgrade(upgrade: dict, gate: Gate) -> Finding | None:
    """The label selector `upgradeState notin (Succeeded, Failed)` also matches an Upgrade without
    the label; from v1.7.0 `upgradeCleanup=pending` refuses as well."""
    meta = upgrade["metadata"]
    labels = meta.get("labels") or {}
    problems = []
    state = labels.get(UPGRADE_STATE)
    if state not in FINISHED:
        problems.append(f"in progress ({UPGRADE_STATE} {state or 'not set'})")
    if gate.cleanup_pending_blocks and labels.get(UPGRADE_CLEANUP) == "pending":
        problems.append(f"cleanup pending ({UPGRADE_CLEANUP}=pending)")
    if not problems:
        return None
    target = (upgrade.get("spec") or {}).get("version") or (upgrade.get("spec") or {}).get("image")
    return Finding(f"Upgrade {meta.get('namespace')}/{meta['name']}", f"to {target}: {'; '.join(problems)}")


PAUSE_MAP = "harvesterhci.io/node-upgrade-pause-map"
PAUSE_ACTIONS = ("pause", "unpause")


def still_updated(upgrade: dict) -> bool:
    """The controller still writes the Upgrade (labels, annotations: through the webhook's Update):
    not finished, or its cleanup pending."""
    labels = (upgrade.get("metadata") or {}).get("labels") or {}
    return labels.get(UPGRADE_STATE) not in FINISHED or labels.get(UPGRADE_CLEANUP) == "pending"


def check_pause_map(upgrade: dict, node_names: set[str], gate: Gate) -> Finding | None:
    """validatePauseMapAnnotation (Create and Update, v1.7.0+): a JSON object of node -> "pause" or
    "unpause", every node existing. A map that went bad (a node removed since) makes the webhook
    refuse every further update of the Upgrade, which stalls it."""
    meta = upgrade.get("metadata") or {}
    value = (meta.get("annotations") or {}).get(PAUSE_MAP)
    if not gate.pause_map or value is None:
        return None
    ref = f"Upgrade {meta.get('namespace')}/{meta.get('name')}"
    try:
        doc = json.loads(value)
    except ValueError as exc:
        return Finding(ref, f"annotation {PAUSE_MAP} is not JSON ({exc}): the webhook refuses every update")
    if doc is None:
        return None  # Go unmarshals null into a nil map: nothing to validate
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        return Finding(ref, f"annotation {PAUSE_MAP} is not a map of node name to string: the webhook refuses it")
    problems = [f"{n}: {a!r} is neither pause nor unpause" for n, a in sorted(doc.items()) if a not in PAUSE_ACTIONS]
    problems += [f"node {n} does not exist" for n in sorted(doc) if doc[n] in PAUSE_ACTIONS and n not in node_names]
    if not problems:
        return None
    return Finding(ref, f"annotation {PAUSE_MAP}: {'; '.join(problems)}: the webhook refuses every update of it")
