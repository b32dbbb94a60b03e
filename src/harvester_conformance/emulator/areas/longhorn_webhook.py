"""Longhorn's setting validator, as served by the simulator (facts.md §8).

Longhorn validates settings in its admission webhook; for `priority-class` it requires the named
PriorityClass to exist and refuses a change while any volume is attached.
"""

from __future__ import annotations

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import longhorn_model as M
from harvester_conformance.emulator.simulator.webhooks import Result, route

SETTING_PATH = "/v1/longhorn/longhorn.io.settings/validate"

REGISTRATION = {
    "kind": "validating",
    "name": "validator.longhorn.io",
    "path": SETTING_PATH,
    "rules": [
        {
            "apiGroups": ["longhorn.io"],
            "apiVersions": ["v1beta2"],
            "operations": ["UPDATE"],
            "resources": ["settings"],
            "scope": "Namespaced",
        }
    ],
}


@route(SETTING_PATH)
def validate_setting(request: dict, cluster: Cluster) -> Result:
    new = request.get("object") or {}
    old = request.get("oldObject") or {}
    if request.get("operation") != "UPDATE" or new.get("metadata", {}).get("name") != "priority-class":
        return True, "", None
    value = str(new.get("value", ""))
    if value == str(old.get("value", "")):
        return True, "", None
    if value and cluster.get(R.PRIORITY_CLASSES, value) is None:
        return False, f"priority class {value} does not exist", None
    attached = [
        v["metadata"]["name"]
        for v in cluster.list(R.LONGHORN_VOLUMES, M.NS)
        if (v.get("status") or {}).get("state") == "attached"
    ]
    if attached:
        return False, f"{M.PRIORITY_REFUSED} ({len(attached)} attached, e.g. {attached[0]})", None
    return True, "", None
