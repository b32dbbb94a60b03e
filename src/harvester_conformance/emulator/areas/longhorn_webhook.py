"""Longhorn's admission validators, as served by the simulator (facts.md §8, §17.3).

- Settings (LM `webhook/resources/setting/validator.go`, CREATE and UPDATE, calling
  `datastore/longhorn.go` `ValidateSetting(name, value)`): `priority-class` must name an existing
  PriorityClass; up to Longhorn 1.5.x an update of it is refused unless every volume is detached
  (the value is validated, not compared with the old one); from 1.6 it is accepted and the
  setting controller applies it once they are. Upstream checks the volumes on CREATE too, but
  there longhorn-manager creates every setting at start, before any volume exists; here the seed
  writes Longhorn's settings after the VMs' volumes, so a CREATE is checked for the class only.
- Data-engine-specific settings from Longhorn 1.10 (longhorn_settings): the mutator
  (`webhook/resources/setting/mutator.go`, new in 1.10.0) rewrites a plain value as JSON per engine;
  the validator refuses a map of other engines, or values that do not parse or are out of range.
- Nodes (LM `webhook/resources/node/validator.go`, v1.4.3, v1.6.2, unchanged to v1.11.2): eviction
  may only be requested where scheduling is disabled, for the node and for each of its disks.
"""

from __future__ import annotations

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import longhorn_model as M
from harvester_conformance.emulator.areas import longhorn_settings as S
from harvester_conformance.emulator.simulator.webhooks import Result, route

SETTING_PATH = "/v1/longhorn/longhorn.io.settings/validate"
NODE_PATH = "/v1/longhorn/longhorn.io.nodes/validate"
MUTATE_PATH = "/v1/longhorn/longhorn.io.settings/mutate"


def _registration(name: str, path: str, resource: str, operations: list[str], kind: str = "validating") -> dict:
    return {
        "kind": kind,
        "name": name,
        "path": path,
        "rules": [
            {
                "apiGroups": ["longhorn.io"],
                "apiVersions": ["v1beta2"],
                "operations": operations,
                "resources": [resource],
                "scope": "Namespaced",
            }
        ],
    }


REGISTRATION = _registration("validator.longhorn.io", SETTING_PATH, "settings", ["CREATE", "UPDATE"])
NODE_REGISTRATION = _registration("node.validator.longhorn.io", NODE_PATH, "nodes", ["UPDATE"])
# Registered on every profile; it changes nothing before Longhorn 1.10 (no mutator upstream).
MUTATOR_REGISTRATION = _registration("mutator.longhorn.io", MUTATE_PATH, "settings", ["CREATE", "UPDATE"], "mutating")


def _longhorn_version(cluster: Cluster) -> str:
    setting = cluster.get(R.LONGHORN_SETTINGS, "current-longhorn-version", M.NS) or {}
    return str(setting.get("value") or "v1.6.2")


def not_detached(volumes: list[dict]) -> list[str]:
    """Volumes whose state is not `detached` (AreAllVolumesDetachedState counts every other state)."""
    return [v["metadata"]["name"] for v in volumes if (v.get("status") or {}).get("state") != "detached"]


@route(MUTATE_PATH)
def mutate_setting(request: dict, cluster: Cluster) -> Result:
    """GetSettingValidValue on a data-engine-specific setting (Longhorn >= 1.10): the value as JSON
    per engine of the default; a value that does not parse is refused as the mutator does."""
    new = request.get("object") or {}
    name = str((new.get("metadata") or {}).get("name", ""))
    defn = S.definitions(_longhorn_version(cluster)).get(name)
    if defn is None or "value" not in new:
        return True, "", None
    value = str(new.get("value", ""))
    try:
        want = S.valid_value(defn, value)
    except ValueError as exc:
        return False, f"failed to get valid value for setting {name}: {exc}", None
    if want == value:
        return True, "", None
    return True, "", [{"op": "replace", "path": "/value", "value": want}]


@route(SETTING_PATH)
def validate_setting(request: dict, cluster: Cluster) -> Result:
    new = request.get("object") or {}
    name = str(new.get("metadata", {}).get("name", ""))
    defn = S.definitions(_longhorn_version(cluster)).get(name)
    if defn is not None:
        value = str(new.get("value", ""))
        reason = S.problem(name, defn, value)
        return reason is None, S.refusal(name, value, reason) if reason else "", None
    legacy = S.plain_problem(_longhorn_version(cluster), name, str(new.get("value", "")))
    if legacy is not None:
        return False, f"failed to validate setting {name} with invalid value {new.get('value', '')}: {legacy}", None
    if name != "priority-class":
        return True, "", None
    value = str(new.get("value", ""))
    if value and cluster.get(R.PRIORITY_CLASSES, value) is None:
        return False, f"failed to get priority class {value} before modifying priority class setting", None
    if request.get("operation") != "UPDATE" or not M.priority_refused_while_attached(_longhorn_version(cluster)):
        return True, "", None
    busy = not_detached(cluster.list(R.LONGHORN_VOLUMES, M.NS))
    if busy:
        return False, f"{M.PRIORITY_NOT_DETACHED} ({len(busy)} not detached, e.g. {busy[0]})", None
    return True, "", None


def eviction_problems(node: dict) -> list[str]:
    """The validator's messages for eviction requested where scheduling is still allowed."""
    spec = node.get("spec") or {}
    name = (node.get("metadata") or {}).get("name", "")
    out = []
    if spec.get("evictionRequested") and spec.get("allowScheduling"):
        out.append(
            f"need to disable scheduling on node {name} for node eviction, "
            "or cancel eviction to enable scheduling on this node"
        )
    for disk, d in sorted((spec.get("disks") or {}).items()):
        if d.get("evictionRequested") and d.get("allowScheduling"):
            out.append(
                f"need to disable scheduling on disk {disk} for disk eviction, "
                "or cancel eviction to enable scheduling on this disk"
            )
    return out


@route(NODE_PATH)
def validate_node(request: dict, cluster: Cluster) -> Result:
    if request.get("operation") != "UPDATE":
        return True, "", None
    problems = eviction_problems(request.get("object") or {})
    if problems:
        return False, problems[0], None
    return True, "", None
