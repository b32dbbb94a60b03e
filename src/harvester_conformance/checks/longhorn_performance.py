"""Longhorn disk performance best practices (article
best_practices_for_optimizing_longhorn_disk_performance; facts.md §7, §17.3, R4.1).

Pure functions over plain data: the `default-replica-count` setting against the schedulable
Longhorn nodes (LHP-01), the data locality of Longhorn StorageClasses (LHP-02), Harvester's
`storage-network` setting (LHP-03) and a dedicated data disk per Longhorn node (LHP-04).

Upstream sources:
- settings: longhorn/longhorn-manager `types/setting.go` (`default-replica-count` 3,
  `default-data-locality` disabled, `default-data-path`; @v1.4.3 … v1.8.1); from v1.10.0 the
  data-engine-specific settings hold JSON keyed by engine (`{"v1":"3","v2":"3"}`,
  `SettingDefinition.DataEngineSpecific`), the v2 engine being off unless `v2-data-engine` is true;
- node schedulability: `k8s/pkg/apis/longhorn/v1beta2/node.go` (spec.allowScheduling,
  spec.evictionRequested, condition `Schedulable`);
- StorageClass parameters: `csi/controller_server.go` (`numberOfReplicas`, `dataLocality`, falling
  back to the settings above);
- storage network: harvester/harvester `pkg/settings/settings.go` (`storage-network`, empty = none).
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


def check_storage_network(setting: dict | None) -> Finding | None:
    """LHP-03: Harvester's storage-network setting names a dedicated network (value or default)."""
    value = str((setting or {}).get("value") or (setting or {}).get("default") or "").strip()
    if value and value not in ("{}", "null"):
        return None
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
