"""Longhorn priority class (article configure_priority_class_longhorn; facts.md §8, §17.3, R4).

LPC-01 the `priority-class` Longhorn setting, LPC-02 the built-in PriorityClass, LPC-03 the
system-managed components running with it, LPC-04 a change of the setting while volumes are
attached not reaching those components.

Upstream sources:
- Harvester sets `longhorn.defaultSettings.priorityClass: system-cluster-critical` from v1.2.0
  (harvester/harvester `deploy/charts/harvester/values.yaml` @v1.2.0 … v1.8.2; absent @v1.1.2);
- Longhorn applies the setting only to system-managed components: DaemonSets and Deployments
  labelled `longhorn.io/managed-by: longhorn-manager`, and the instance-manager, share-manager and
  backing-image-manager pods (longhorn/longhorn-manager `controller/setting_controller.go`
  `updatePriorityClass` / `collectRuntimeObjects`, `types/types.go`
  `GetBaseLabelsForSystemManagedComponent`, v1.4.3 … v1.11.2). Instance managers are
  `instance-manager-e-*` / `-r-*` up to Longhorn 1.4, one `instance-manager-*` from 1.5; all carry
  `longhorn.io/component: instance-manager`, so the check selects by label, not by name;
- `system-cluster-critical` = 2 × 1e9 (kubernetes `pkg/apis/scheduling/types.go`
  `SystemCriticalPriority`); the priority admission plugin copies the class's value into
  `spec.priority` of every pod.
- From Longhorn 1.10 data-engine-specific settings hold `{"v1": …, "v2": …}`; `priority-class` is not
  one of them (R4.1), but such a value is read per engine rather than failed.
- LPC-04, a change with volumes attached: up to Longhorn 1.5 the setting validator refuses it
  (`webhook/resources/setting/validator.go` → `datastore/longhorn.go` ValidateSetting "cannot modify
  priority class setting before all volumes are detached", @v1.4.3 and v1.5.5; updatePriorityClass
  there applies at once, relying on it). From 1.6 ValidateSetting only checks that the class exists,
  and `updatePriorityClass` returns "failed to apply priority-class setting to Longhorn components
  when there are attached volumes. It will be eventually applied" until AreAllVolumesDetached
  (@v1.6.2, v1.7.3 … v1.11.2): workload templates keep the old class and no manager pod is deleted.
  From 1.7 the setting's `status.applied` reads false meanwhile (`setting_controller.go` syncSetting;
  absent @v1.6.2).
"""

from __future__ import annotations

import json

from harvester_conformance.checks.findings import Finding

NAMESPACE = "longhorn-system"
SETTING = "priority-class"
CRITICAL = "system-cluster-critical"
CRITICAL_VALUE = 2_000_000_000
MANAGED_BY = ("longhorn.io/managed-by", "longhorn-manager")
COMPONENT = "longhorn.io/component"
# Pods Longhorn manages directly (not through a managed workload): LM datastore List*ManagerPods.
MANAGER_PODS = ("instance-manager", "share-manager", "backing-image-manager")


def setting_values(setting: dict | None) -> dict[str, str]:
    """The setting's value per data engine: {"": value} for a plain value, {"v1": …, "v2": …} for
    Longhorn 1.10's JSON form (a JSON value that is not an object of strings counts as plain)."""
    raw = (setting or {}).get("value")
    text = "" if raw is None else str(raw)
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc and all(isinstance(v, str) for v in doc.values()):
            return {str(k): v for k, v in doc.items()}
    return {"": text}


def check_setting(setting: dict | None) -> Finding | None:
    """LPC-01: the setting exists and every engine's value is system-cluster-critical."""
    obj = f"Setting {NAMESPACE}/{SETTING}"
    if setting is None:
        return Finding(obj, f"does not exist; expected value {CRITICAL}")
    wrong = {k: v for k, v in setting_values(setting).items() if v != CRITICAL}
    if not wrong:
        return None
    found = ", ".join(f"{k}: {v or 'empty'}" if k else (v or "empty") for k, v in sorted(wrong.items()))
    return Finding(
        obj,
        f"value is {found}; expected {CRITICAL} (Harvester sets it on new clusters from v1.2.0; an upgraded "
        "cluster keeps its old value until configured)",
    )


def check_priority_class(pc: dict | None) -> Finding | None:
    """LPC-02: the built-in class exists with its fixed value."""
    obj = f"PriorityClass {CRITICAL}"
    if pc is None:
        return Finding(obj, f"does not exist; expected the built-in class with value {CRITICAL_VALUE}")
    if pc.get("value") != CRITICAL_VALUE:
        return Finding(obj, f"value is {pc.get('value')!r}; expected {CRITICAL_VALUE}")
    return None


def _labels(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}


def is_managed_workload(obj: dict) -> bool:
    key, value = MANAGED_BY
    return _labels(obj).get(key) == value


def is_manager_pod(pod: dict) -> bool:
    """A pod whose priority class Longhorn sets: an instance-, share- or backing-image-manager pod,
    or a pod of a system-managed workload (its template carries the managed-by label)."""
    return _labels(pod).get(COMPONENT) in MANAGER_PODS or is_managed_workload(pod)


def check_workload(kind: str, obj: dict, want: str) -> Finding | None:
    """LPC-03: a system-managed Deployment or DaemonSet's pod template names the class."""
    meta = obj.get("metadata") or {}
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    have = spec.get("priorityClassName") or ""
    if have == want:
        return None
    return Finding(
        f"{kind} {meta.get('namespace')}/{meta.get('name')}",
        f"pod template priorityClassName is {have or 'unset'}; expected {want} (system-managed: "
        "longhorn.io/managed-by=longhorn-manager)",
    )


def check_pod(pod: dict, want: str, value: int) -> Finding | None:
    """LPC-03: a system-managed pod runs with the class and its priority."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return None
    have, priority = spec.get("priorityClassName") or "", spec.get("priority")
    if have == want and priority == value:
        return None
    role = _labels(pod).get(COMPONENT) or "system-managed workload"
    return Finding(
        f"Pod {meta.get('namespace')}/{meta.get('name')}",
        f"{role} pod runs with priorityClassName {have or 'unset'} and priority {priority!r}; expected {want} "
        f"and {value} (a pod created before the setting took effect keeps its old class)",
    )


def check_components(deployments: list[dict], daemonsets: list[dict], pods: list[dict]) -> list[Finding]:
    """LPC-03 over everything Longhorn manages in longhorn-system."""
    findings: list[Finding | None] = []
    findings += [check_workload("Deployment", d, CRITICAL) for d in deployments if is_managed_workload(d)]
    findings += [check_workload("DaemonSet", d, CRITICAL) for d in daemonsets if is_managed_workload(d)]
    findings += [check_pod(p, CRITICAL, CRITICAL_VALUE) for p in pods if is_manager_pod(p)]
    return [f for f in findings if f is not None]


# -- LPC-04: a change while volumes are attached ----------------------------------------------------
DEFERRED_FROM = (1, 6, 0)  # refused by the validator before, deferred by the controller from
APPLIED_FROM = (1, 7, 0)  # Setting.status.applied
ALTERNATIVE = "system-node-critical"  # built-in like system-cluster-critical: exists on every cluster


def change_to(current: str) -> str:
    """A different valid value to try: the other built-in critical class."""
    return CRITICAL if current == ALTERNATIVE else ALTERNATIVE


def components(deployments: list[dict], daemonsets: list[dict], pods: list[dict]) -> dict[str, tuple[str, str]]:
    """What the setting reaches, keyed as findings name it: each system-managed workload -> ("",
    its pod template's class), each manager pod -> (its UID, its class). Pods already finishing are
    left out."""
    out: dict[str, tuple[str, str]] = {}
    for kind, objs in (("Deployment", deployments), ("DaemonSet", daemonsets)):
        for obj in objs:
            if is_managed_workload(obj):
                meta = obj.get("metadata") or {}
                tmpl = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
                out[f"{kind} {meta.get('namespace')}/{meta.get('name')}"] = ("", tmpl.get("priorityClassName") or "")
    for pod in pods:
        meta = pod.get("metadata") or {}
        if not is_manager_pod(pod) or meta.get("deletionTimestamp"):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        cls = (pod.get("spec") or {}).get("priorityClassName") or ""
        out[f"Pod {meta.get('namespace')}/{meta.get('name')}"] = (str(meta.get("uid") or ""), cls)
    return out


def reached(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]], new: str) -> list[Finding]:
    """Components the change reached: a workload whose template now names `new`, a manager pod
    gone or replaced (Longhorn deletes them to apply a class), or one running with `new`."""
    found = []
    for ref, (uid, cls) in sorted(before.items()):
        now = after.get(ref)
        if ref.startswith("Pod "):
            if now is None:
                found.append(
                    Finding(ref, f"deleted (it ran with {cls or 'no class'}) after priority-class became {new}")
                )
            elif now[0] != uid:
                found.append(Finding(ref, f"recreated with {now[1] or 'no class'} (was {cls or 'no class'})"))
            elif now[1] != cls:
                found.append(Finding(ref, f"runs with {now[1] or 'no class'} (was {cls or 'no class'})"))
        elif now is not None and now[1] != cls and now[1] == new:
            found.append(Finding(ref, f"pod template priorityClassName changed from {cls or 'unset'} to {new}"))
    return found


def check_change(
    longhorn: tuple[int, ...],
    refused: str | None,
    attached: list[str],
    new: str,
    reached_components: list[Finding],
    applied: bool | None,
) -> list[Finding]:
    """LPC-04: the outcome of setting priority-class to `new` with `attached` volumes attached.
    Up to 1.5 it must be refused; from 1.6 accepted and deferred (from 1.7 with status.applied
    false); in every release no component may be reached while the volumes stay attached."""
    ref = f"Setting {NAMESPACE}/{SETTING}"
    shown = ", ".join(attached[:3]) + (f" and {len(attached) - 3} more" if len(attached) > 3 else "")
    where = f"with {len(attached)} volume(s) attached ({shown})"
    found = []
    if longhorn < DEFERRED_FROM and refused is None:
        found.append(
            Finding(
                ref,
                f"the change to {new} was accepted {where}; Longhorn {'.'.join(map(str, longhorn))} refuses it "
                "until every volume is detached (is its admission webhook registered?)",
            )
        )
    if longhorn >= DEFERRED_FROM and refused is not None:
        found.append(
            Finding(ref, f"the change to {new} was refused {where} ({refused}); from Longhorn 1.6 it is deferred")
        )
    if longhorn >= APPLIED_FROM and refused is None and applied is not False:
        found.append(
            Finding(ref, f"status.applied is {applied!r} {where}; expected false while the change is deferred")
        )
    if reached_components:
        found.append(Finding(ref, f"the change to {new} reached {len(reached_components)} component(s) {where}"))
    return found + reached_components
