"""Longhorn disk performance best practices (article
best_practices_for_optimizing_longhorn_disk_performance; facts.md §7, §17.3, R4.1).

Pure functions over plain data: the `default-replica-count` setting against the schedulable
Longhorn nodes (LHP-01), the data locality of Longhorn StorageClasses (LHP-02), Harvester's
`storage-network` setting (LHP-03), a dedicated data disk per Longhorn node (LHP-04), and recurring
backups with bounded snapshot counts (LHP-05).

Upstream sources:
- settings: longhorn/longhorn-manager `types/setting.go` (`default-replica-count` 3,
  `default-data-locality` disabled, `default-data-path`; @v1.4.3 … v1.8.1); from v1.10.0 the
  data-engine-specific settings hold JSON keyed by engine (`{"v1":"3","v2":"3"}`,
  `SettingDefinition.DataEngineSpecific`), the v2 engine being off unless `v2-data-engine` is true;
- node schedulability: `k8s/pkg/apis/longhorn/v1beta2/node.go` (spec.allowScheduling,
  spec.evictionRequested, condition `Schedulable`);
- StorageClass parameters: `csi/controller_server.go` (`numberOfReplicas`, `dataLocality`, falling
  back to the settings above);
- storage network: harvester/harvester `pkg/settings/settings.go` (`storage-network`, empty = none);
- recurring backups, per release (LHP-05). Harvester v1.4.0 introduced ScheduleVMBackup
  (harvester/harvester `pkg/apis/harvesterhci.io/v1beta1/schedulebackup.go`, absent @v1.3.2, present
  @v1.4.0 … v1.8.2; `spec.vmbackup.type` backup or snapshot; `spec.suspend`, `status.suspended` and the
  `BackupSuspend` condition, whose reason says who suspended it: "Proactive Schedule Suspend" for the
  user, "Reach Max Failure" / "Longhorn Backup Not Synced" for Harvester itself,
  `pkg/controller/master/schedulevmbackup/common.go`). From v1.4 the docs (vm/backup-restore.md)
  say Longhorn recurring snapshot and backup jobs are not supported by Harvester. Before v1.4 (the
  article's time, 2023-12) Harvester has no schedule of its own and a Longhorn RecurringJob of task
  `backup` is the only recurring backup: longhorn-manager `k8s/pkg/apis/longhorn/v1beta2/
  recurringjob.go` (tasks; group `default`) @v1.4.3, v1.6.2; a volume runs the jobs named by its
  labels `recurring-job.longhorn.io/<job>` and `recurring-job-group.longhorn.io/<group>`, and one
  without any such label is in group `default` (`datastore/longhorn.go` @v1.6.2);
- snapshots: Longhorn `Snapshot` objects (`spec.volume`, `status.userCreated`, `status.markRemoved`,
  `k8s/pkg/apis/longhorn/v1beta2/snapshot.go` @v1.4.3); a volume takes at most 250
  (`types/setting.go` MaxSnapshotNum and `snapshot-max-count` @v1.6.2 … v1.11.2), beyond which
  snapshots, and so backups and rebuilds, fail.
"""

from __future__ import annotations

import json

from harvester_conformance.checks.findings import Finding

NS = "longhorn-system"
DRIVER = "driver.longhorn.io"
REPLICA_SETTING = "default-replica-count"
LOCALITY_SETTING = "default-data-locality"
DATA_PATH_SETTING = "default-data-path"
V2_SETTING = "v2-data-engine"
STORAGE_NETWORK = "storage-network"
RECOMMENDED_REPLICAS = 2
HARVESTER_REPLICAS = 3  # the installer's and harvester-longhorn's count (HV values.yaml)
DEFAULT_DATA_PATH = "/var/lib/harvester/defaultdisk"  # HI rancherd-10-harvester.yaml defaultDataPath


def setting_value(setting: dict | None) -> str:
    """A Longhorn Setting's value ("" when the object is missing)."""
    return str((setting or {}).get("value") or "")


def engine_values(raw: str, v2_enabled: bool) -> dict[str, int]:
    """The per-engine values of a data-engine-specific setting: a plain number before Longhorn
    1.10 (it applies to every engine), JSON keyed by engine from 1.10. Only the v1 engine is judged
    unless the v2 engine is enabled. ValueError when the text is neither."""
    text = raw.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            raise ValueError(f"{raw!r} is not valid JSON") from None
        if not isinstance(doc, dict) or "v1" not in doc:
            raise ValueError(f"{raw!r} has no v1 engine value")
        values = {k: doc[k] for k in ("v1", "v2") if k in doc and (k == "v1" or v2_enabled)}
    else:
        values = {"v1": text}
    out = {}
    for engine, value in values.items():
        try:
            out[engine] = int(str(value))
        except ValueError:
            raise ValueError(f"the {engine} engine's value {value!r} is not a whole number") from None
    return out


def schedulable_nodes(nodes: list[dict]) -> list[str]:
    """Longhorn nodes that can take a replica: scheduling allowed, no eviction requested, and not
    reported unschedulable (a cordoned node, for instance)."""
    names = []
    for node in nodes:
        spec = node.get("spec") or {}
        if spec.get("allowScheduling") is False or spec.get("evictionRequested") is True:
            continue
        conds = (node.get("status") or {}).get("conditions") or []
        if isinstance(conds, dict):  # v1beta1 kept conditions as a map
            conds = list(conds.values())
        if any(isinstance(c, dict) and c.get("type") == "Schedulable" and c.get("status") == "False" for c in conds):
            continue
        names.append(str((node.get("metadata") or {}).get("name")))
    return sorted(names)


def check_replica_count(
    setting: dict | None, nodes: list[dict], v2_enabled: bool
) -> tuple[list[Finding], list[Finding]]:
    """LHP-01: (failures, advice). A count above the schedulable nodes fails: new volumes stay
    degraded. A count outside 2..3 is advice (the article recommends 2, Harvester installs 3)."""
    ref = f"Setting {NS}/{REPLICA_SETTING}"
    raw = setting_value(setting)
    if setting is None:
        return [Finding(ref, "the setting does not exist; expected Longhorn's default-replica-count")], []
    try:
        values = engine_values(raw, v2_enabled)
    except ValueError as exc:
        return [Finding(ref, f"value not usable: {exc}; expected a whole number, or JSON per engine")], []
    schedulable = schedulable_nodes(nodes)
    failures, advice = [], []
    for engine, count in sorted(values.items()):
        where = f"{count} ({engine} engine, value {raw!r})"
        if count > len(schedulable):
            failures.append(
                Finding(
                    ref,
                    f"{where} exceeds the {len(schedulable)} schedulable Longhorn node(s) "
                    f"({', '.join(schedulable) or 'none'}); expected at most {len(schedulable)}",
                )
            )
        elif not RECOMMENDED_REPLICAS <= count <= HARVESTER_REPLICAS:
            advice.append(
                Finding(
                    ref,
                    f"{where}; the article recommends {RECOMMENDED_REPLICAS} (Harvester installs {HARVESTER_REPLICAS})",
                )
            )
    return failures, advice


def check_data_locality(sc: dict, default_locality: str, default_replicas: int | None) -> Finding | None:
    """LHP-02: a Longhorn class whose effective data locality is strict-local keeps a single
    replica (the article's only use of strict-local); best-effort is the recommendation."""
    if sc.get("provisioner") != DRIVER:
        return None
    params = sc.get("parameters") or {}
    locality = str(params.get("dataLocality") or default_locality or "disabled")
    if locality != "strict-local":
        return None
    raw = params.get("numberOfReplicas")
    try:
        replicas = int(raw) if raw not in (None, "") else default_replicas
    except ValueError:
        replicas = None
    if replicas == 1:
        return None
    source = "its dataLocality parameter" if params.get("dataLocality") else f"the {LOCALITY_SETTING} setting"
    return Finding(
        f"StorageClass {(sc.get('metadata') or {}).get('name')}",
        f"data locality strict-local (from {source}) with numberOfReplicas {raw if raw else replicas}; "
        "expected best-effort (the article's recommendation), strict-local only with one replica",
    )


# Fields of the storage-network value and the JSON types Go's json.Unmarshal into network.Config
# accepts for them (HV `pkg/util/network`: Vlan uint16, ClusterNetwork, Range string, Exclude []string).
_NETWORK_FIELDS: dict[str, tuple[type, ...]] = {
    "vlan": (int,),
    "clusterNetwork": (str,),
    "range": (str,),
    "exclude": (list,),
}


def storage_network_problem(value: str) -> str | None:
    """Why Harvester's storage-network controller cannot decode a non-empty value (HV
    `pkg/controller/master/storagenetwork/storage_network.go` getNetworkConfig: json.Unmarshal into
    network.Config fails, no NetworkAttachmentDefinition is made, Longhorn keeps its network)."""
    try:
        doc = json.loads(value)
    except ValueError as exc:
        return f"value is not JSON ({exc.msg})"
    if not isinstance(doc, dict):
        return f"value is a JSON {type(doc).__name__}, not an object"
    for key, types in _NETWORK_FIELDS.items():
        v = doc.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, types):
            return f"{key} is {v!r}, not a {'whole number' if types == (int,) else types[0].__name__}"
    vlan = doc.get("vlan")
    if isinstance(vlan, int) and not 0 <= vlan <= 65535:
        return f"vlan is {vlan}, outside 0..65535"
    if any(not isinstance(e, str) for e in doc.get("exclude") or []):
        return "exclude holds entries that are not strings"
    return None


# LM `types/setting.go` ValidateDataLocality (Longhorn 1.4 … 1.10): the modes a volume may have.
DATA_LOCALITIES = ("disabled", "best-effort", "strict-local")


def check_locality_setting(setting: dict | None) -> Finding | None:
    """LHP-02: default-data-locality is a mode Longhorn knows; another value (written past its
    validator) makes every volume created without its own dataLocality fail Longhorn's validation."""
    value = setting_value(setting)
    if not value or value in DATA_LOCALITIES:
        return None
    return Finding(
        f"Setting {NS}/{LOCALITY_SETTING}",
        f"value {value!r} is not a data locality Longhorn knows; expected one of {', '.join(DATA_LOCALITIES)} "
        "(best-effort is the article's recommendation)",
    )


def check_storage_network(setting: dict | None) -> Finding | None:
    """LHP-03: Harvester's storage-network setting names a dedicated network (value or default)
    that its controller can decode; a value it cannot decode leaves Longhorn on the management network."""
    value = str((setting or {}).get("value") or (setting or {}).get("default") or "").strip()
    if value and value not in ("{}", "null"):
        problem = storage_network_problem(value)
        if problem is None:
            return None
        return Finding(
            f"Setting {STORAGE_NETWORK}",
            f"{problem}: Harvester's storage-network controller cannot decode it, so Longhorn replication "
            'stays on the management network; expected JSON such as {"vlan":100,"clusterNetwork":"storage",'
            '"range":"10.0.0.0/24"}',
        )
    return Finding(
        f"Setting {STORAGE_NETWORK}",
        "empty: Longhorn replication shares the management network; the article recommends a dedicated storage network",
    )


def check_data_disk(node: dict, default_path: str) -> Finding | None:
    """LHP-04: a schedulable Longhorn node has a disk outside the root disk's default data path
    that takes replicas (scheduling allowed, no eviction requested) or still holds some (an
    eviction in progress): Longhorn data lives on a dedicated disk."""
    spec = node.get("spec") or {}
    if spec.get("allowScheduling") is False:
        return None
    disks = spec.get("disks") if isinstance(spec.get("disks"), dict) else {}
    status = (node.get("status") or {}).get("diskStatus")
    status = status if isinstance(status, dict) else {}
    root = default_path.rstrip("/") or DEFAULT_DATA_PATH
    observed = []
    for name, disk in sorted(disks.items()):
        disk = disk if isinstance(disk, dict) else {}
        path = str(disk.get("path") or "").rstrip("/")
        on = disk.get("allowScheduling") is not False and disk.get("evictionRequested") is not True
        held = (status.get(name) or {}).get("scheduledReplica") if isinstance(status.get(name), dict) else None
        if path != root and (on or held):
            return None
        state = "schedulable" if on else "not schedulable"
        observed.append(f"{name} at {path or '?'} ({state}, {len(held or {})} replica(s))")
    return Finding(
        f"Node {NS}/{(node.get('metadata') or {}).get('name')}",
        f"no disk outside the root disk's {root} takes or holds replicas: {'; '.join(observed) or 'no disks'}; "
        "the article recommends a dedicated disk for Longhorn",
    )


# -- LHP-05: recurring backups and snapshot counts ------------------------------------------------
SCHEDULES_FROM = (1, 4, 0)  # Harvester's ScheduleVMBackup
BACKUP_TASKS = ("backup", "backup-force-create")
# Longhorn recurring jobs that Harvester's docs (v1.4+) call unsupported: snapshot and backup jobs.
# snapshot-cleanup, snapshot-delete and filesystem-trim are the article's "clean up" and stay allowed.
UNSUPPORTED_TASKS = ("snapshot", "snapshot-force-create", *BACKUP_TASKS)
JOB_LABEL = "recurring-job.longhorn.io/"
GROUP_LABEL = "recurring-job-group.longhorn.io/"
DEFAULT_GROUP = "default"
SUSPEND_CONDITION = "BackupSuspend"
USER_SUSPEND = "Proactive Schedule Suspend"
LONGHORN_SNAPSHOT_LIMIT = 250
# The default bound: well below Longhorn's 250, so that the system snapshots a rebuild, an
# expansion or a backup takes still fit; a project choice, set per run with --max-snapshots-per-volume.
DEFAULT_SNAPSHOT_BOUND = 100


def _ref(kind: str, obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{kind} {meta.get('namespace')}/{meta.get('name')}"


def job_volumes(job: dict, volumes: list[dict]) -> list[str]:
    """The volumes a Longhorn RecurringJob runs for: those labelled with the job, or with one of
    its groups; a volume without any recurring-job label is in group `default`."""
    name = str((job.get("metadata") or {}).get("name"))
    groups = set((job.get("spec") or {}).get("groups") or [])
    out = []
    for vol in volumes:
        labels = (vol.get("metadata") or {}).get("labels") or {}
        own = {k for k, v in labels.items() if k.startswith((JOB_LABEL, GROUP_LABEL)) and v == "enabled"}
        member = {k.removeprefix(GROUP_LABEL) for k in own if k.startswith(GROUP_LABEL)}
        if not any(k.startswith((JOB_LABEL, GROUP_LABEL)) for k in labels):
            member = {DEFAULT_GROUP}
        if f"{JOB_LABEL}{name}" in own or groups & member:
            out.append(str((vol.get("metadata") or {}).get("name")))
    return sorted(out)


def check_longhorn_backup_jobs(jobs: list[dict], volumes: list[dict]) -> list[Finding]:
    """LHP-05 before Harvester v1.4: a Longhorn RecurringJob of task backup runs for at least one
    volume. None at all is one finding; backup jobs that reach no volume are each named."""
    backups = [j for j in jobs if (j.get("spec") or {}).get("task") in BACKUP_TASKS]
    if not backups:
        others = ", ".join(
            sorted(
                f"{_ref('RecurringJob', j).split(' ', 1)[1]} ({j['spec'].get('task')})" for j in jobs if j.get("spec")
            )
        )
        return [
            Finding(
                f"RecurringJob {NS}/*",
                f"no recurring job of task backup ({others or 'no recurring jobs'}); the article recommends "
                "recurring backup jobs for mission-critical volumes",
            )
        ]
    reaching = {_ref("RecurringJob", j): job_volumes(j, volumes) for j in backups}
    if not volumes or any(reaching.values()):
        return []
    return [
        Finding(
            ref,
            f"task {j['spec'].get('task')}, groups {sorted((j.get('spec') or {}).get('groups') or [])}: no volume "
            f"is in those groups or labelled {JOB_LABEL}{j['metadata']['name']}, so it backs up nothing "
            f"({len(volumes)} volume(s) exist)",
        )
        for j, ref in ((j, _ref("RecurringJob", j)) for j in backups)
    ]


def _suspend_condition(schedule: dict) -> dict:
    conds = (schedule.get("status") or {}).get("conditions") or []
    return next((c for c in conds if isinstance(c, dict) and c.get("type") == SUSPEND_CONDITION), {})


def suspended_by_harvester(schedule: dict) -> str | None:
    """Why Harvester suspended the schedule itself (too many failed backups, a Longhorn backup
    not synced), or None: running, or suspended by the user."""
    if (schedule.get("status") or {}).get("suspended") is not True:
        return None
    cond = _suspend_condition(schedule)
    if cond.get("status") == "True" and cond.get("reason") and cond.get("reason") != USER_SUSPEND:
        return f"{cond.get('reason')}: {cond.get('message') or 'no message'}"
    return None


def is_backup_schedule(schedule: dict) -> bool:
    vmbackup = (schedule.get("spec") or {}).get("vmbackup") or {}
    return (vmbackup.get("type") or "backup") == "backup"


def check_backup_schedules(schedules: list[dict], jobs: list[dict]) -> list[Finding]:
    """LHP-05 from Harvester v1.4: recurring backups are ScheduleVMBackups of type backup. One that
    Harvester suspended after failures takes no backups and is named; one the user suspended counts
    (Harvester's upgrade gate requires every schedule suspended, UPG-05). Longhorn snapshot and
    backup RecurringJobs are named as unsupported."""
    found = []
    backups = [s for s in schedules if is_backup_schedule(s)]
    failed = {_ref("ScheduleVMBackup", s): suspended_by_harvester(s) for s in backups}
    for ref, why in sorted(failed.items()):
        if why:
            found.append(
                Finding(
                    ref, f"suspended by Harvester ({why}): no backups are taken; fix the backup target and resume it"
                )
            )
    if not any(why is None for why in failed.values()) and not found:
        snaps = sorted(_ref("ScheduleVMBackup", s).split(" ", 1)[1] for s in schedules if not is_backup_schedule(s))
        found.append(
            Finding(
                "ScheduleVMBackup *",
                "no VM backup schedule (ScheduleVMBackup of type backup)"
                + (f"; snapshot schedules only: {', '.join(snaps)}" if snaps else "")
                + "; the article recommends recurring backups of mission-critical volumes",
            )
        )
    for job in sorted(jobs, key=lambda j: str((j.get("metadata") or {}).get("name"))):
        task = (job.get("spec") or {}).get("task")
        if task in UNSUPPORTED_TASKS:
            found.append(
                Finding(
                    _ref("RecurringJob", job),
                    f"Longhorn recurring {task} job: not supported by Harvester from v1.4 (use a ScheduleVMBackup); "
                    "it must be disabled before an upgrade",
                )
            )
    return found


def check_snapshot_counts(snapshots: list[dict], bound: int) -> list[Finding]:
    """LHP-05: no volume carries more than `bound` Longhorn snapshots (the volume head excluded)."""
    per: dict[str, list[dict]] = {}
    for snap in snapshots:
        if (snap.get("metadata") or {}).get("name") == "volume-head":
            continue
        per.setdefault(str((snap.get("spec") or {}).get("volume") or "?"), []).append(snap)
    found = []
    for volume, snaps in sorted(per.items()):
        if len(snaps) <= bound:
            continue
        system = sum(1 for s in snaps if (s.get("status") or {}).get("userCreated") is not True)
        removed = sum(1 for s in snaps if (s.get("status") or {}).get("markRemoved") is True)
        full = f"; at {LONGHORN_SNAPSHOT_LIMIT} Longhorn takes no more (backups and rebuilds fail)"
        found.append(
            Finding(
                f"Volume {NS}/{volume}",
                f"{len(snaps)} snapshots ({system} system-generated, {removed} marked removed); expected at most "
                f"{bound}: clean up old snapshots{full if len(snaps) >= LONGHORN_SNAPSHOT_LIMIT - 10 else ''}",
            )
        )
    return found
