"""Longhorn's v1beta1 <-> v1beta2 conversion webhook, as served by the simulator (issue 9).

Upstream (LM `k8s/crds.yaml` and chart `templates/crds.yaml`, v1.4.3 … v1.8.1) converts
BackingImage, BackupTarget, EngineImage, Node and Volume with `strategy: Webhook` (service
longhorn-conversion-webhook, path /v1/webhook/conversion; port 9443 in 1.4.x, 9501 from 1.6).
The handler (LM `webhook/conversion/conversion.go`) calls the v1beta1 spokes' ConvertTo /
ConvertFrom in `k8s/pkg/apis/longhorn/v1beta1/{node,volume,engineimage,backingimage}.go`, the same
text at every tag but one change: from v1.7.0 BackingImage.ConvertTo also sets
`spec.diskFileSpecMap[disk]` in a map it never made, a Go nil-map panic for any disk, so a v1beta1
BackingImage with disks cannot be written on 1.7/1.8. BackupTarget is not emulated.

What upstream converts, here too: conditions are a map keyed by type in v1beta1 and a list in
v1beta2 (Node, its disks' statuses, Volume, EngineImage); BackingImage `spec.disks` is a set
(`{disk: {}}`) in v1beta1 and `{disk: ""}` in v1beta2; a v1beta1 Volume without dataLocality gets
"disabled". Everything else passes through: upstream copies the fields both Go types share and
drops the rest, so the simulator keeps v1beta2-only fields a v1beta1 client would lose (left as is).
Map to list is ordered by type (upstream: Go map order, unspecified).
"""

from __future__ import annotations

import copy

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import longhorn_model as M
from harvester_conformance.emulator.simulator.webhooks import ConversionError, conversion

PATH = "/v1/webhook/conversion"
GROUP = "longhorn.io"
HUB, SPOKE = f"{GROUP}/v1beta2", f"{GROUP}/v1beta1"
KINDS = ("Node", "Volume", "EngineImage", "BackingImage")
PANIC = "panic: assignment to entry in nil map (v1beta1 BackingImage.ConvertTo, Longhorn >= v1.7.0)"


def conditions_to_map(conditions: list | None) -> dict:
    """copyConditionFromSliceToMap: each condition keyed by its type (a later duplicate wins)."""
    if not isinstance(conditions, list | None):  # upstream fails to decode it into its Go type
        raise ConversionError("error converting object: v1beta2 conditions must be a list")
    return {str(c.get("type", "")): c for c in conditions or []}


def conditions_to_list(conditions: dict | None) -> list:
    """copyConditionsFromMapToSlice: the map's values; the key itself is not used."""
    if not isinstance(conditions, dict | None):
        raise ConversionError("error converting object: v1beta1 conditions must be a map keyed by type")
    return [conditions[k] for k in sorted(conditions or {})]


def _swap_conditions(status: dict, fn) -> None:
    if "conditions" in status:
        status["conditions"] = fn(status["conditions"])


def to_v1beta1(obj: dict) -> dict:
    """The spokes' ConvertFrom(hub): a v1beta2 object as v1beta1."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = SPOKE
    kind, spec, status = out.get("kind"), out.get("spec") or {}, out.get("status") or {}
    if kind in ("Node", "Volume", "EngineImage"):
        _swap_conditions(status, conditions_to_map)
    if kind == "Node":
        for disk in (status.get("diskStatus") or {}).values():
            _swap_conditions(disk or {}, conditions_to_map)
    if kind == "BackingImage" and "disks" in spec:
        spec["disks"] = {name: {} for name in spec["disks"] or {}}
    return out


def to_v1beta2(obj: dict, longhorn: str) -> dict:
    """The spokes' ConvertTo(hub) at Longhorn `longhorn`: a v1beta1 object as v1beta2."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = HUB
    kind, status = out.get("kind"), out.get("status") or {}
    if kind in ("Node", "Volume", "EngineImage"):
        _swap_conditions(status, conditions_to_list)
    if kind == "Node":
        for disk in (status.get("diskStatus") or {}).values():
            _swap_conditions(disk or {}, conditions_to_list)
    if kind == "Volume":
        spec = out.setdefault("spec", {})
        if not spec.get("dataLocality"):
            spec["dataLocality"] = "disabled"
    if kind == "BackingImage":
        spec = out.setdefault("spec", {})
        disks = spec.get("disks") or {}
        if disks and M.version(longhorn) >= (1, 7, 0):
            raise ConversionError(PANIC)
        if "disks" in spec:
            spec["disks"] = {name: "" for name in disks}
    return out


def convert_object(obj: dict, desired: str, longhorn: str) -> dict:
    """One object of a ConversionReview to `desired`; the same version is refused as upstream does."""
    if obj.get("kind") not in KINDS:
        raise ConversionError(f"{obj.get('kind')} is not converted by the Longhorn conversion webhook")
    if obj.get("apiVersion") == desired:
        raise ConversionError(f"conversion is not allowed between same type {desired}")
    if desired == SPOKE:
        return to_v1beta1(obj)
    if desired == HUB:
        return to_v1beta2(obj, longhorn)
    raise ConversionError(f"unsupported apiVersion {desired}")


def _longhorn_version(cluster: Cluster) -> str:
    setting = cluster.get(R.LONGHORN_SETTINGS, "current-longhorn-version", M.NS) or {}
    return str(setting.get("value") or "v1.6.2")


@conversion(PATH)
def convert(obj: dict, desired: str, cluster: Cluster) -> dict:
    longhorn = _longhorn_version(cluster) if obj.get("kind") == "BackingImage" and desired == HUB else ""
    return convert_object(obj, desired, longhorn)
