"""Resource metrics (article calculation_of_resource_metrics_in_harvester; facts.md §6, §17.3, R4).

MET-01 the Node pod-requests/pod-limits annotations, MET-02 NodeMetrics, MET-03 the Longhorn
storage figures per node, MET-04 the default disk's reserved percentage, MET-05 allocatable and
KubeVirt's device resources.

Upstream sources:
- annotations: harvester/harvester `pkg/controller/master/rancher/pod_resources.go` (v1.2.1 …
  v1.8.2): over the node's pods that are not Succeeded/Failed, requests and limits of the
  containers are summed, an init container counts as max(init, sum so far) per resource, the
  pod overhead is not counted; `pods` (the count) is added to the requests only when the node
  has pods, so an empty node reads `{}` (facts §17.6 and the brief say `{"pods":"0"}`: a
  missing resource counts as 0 here, so both forms compare equal to an empty node);
- Longhorn figures: the article's formulas over `nodes.longhorn.io` (LM
  `k8s/pkg/apis/longhorn/v1beta2/node.go` v1.4.3 … v1.11.2); a default disk reserves
  `storageMaximum × pct / 100` (LM `types/types.go` CreateDefaultDisk, named
  `default-disk-<fsid>`); the percentage is the setting
  `storage-reserved-percentage-for-default-disk` from Longhorn 1.5.0, 30 built in before;
- devices: virt-handler's device plugins advertise `devices.kubevirt.io/kvm`, `tun` and
  `vhost-net` on every node it runs on (kubevirt `pkg/virt-handler/device-manager`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal

from harvester_conformance.checks.findings import Finding
from harvester_conformance.checks.quantities import quantity
from harvester_conformance.checks.vm_scheduling import version_tuple

REQUESTS = "management.cattle.io/pod-requests"
LIMITS = "management.cattle.io/pod-limits"
LONGHORN_NS = "longhorn-system"
RESERVED_SETTING = "storage-reserved-percentage-for-default-disk"
RESERVED_BUILT_IN = 30
RESERVED_SETTING_FROM = (1, 5, 0)
DEFAULT_DISK_PREFIX = "default-disk-"
# A NodeMetrics older than this is stale: metrics-server scrapes every 60 s at most (its default
# --metric-resolution), so a sample three resolutions old means scrapes are failing.
METRICS_MAX_AGE = dt.timedelta(minutes=3)
# A default disk's reserve may drift from the exact product by a filesystem resize of this share.
RESERVED_DRIFT = Decimal("0.005")
KUBEVIRT_DEVICES = ("devices.kubevirt.io/kvm", "devices.kubevirt.io/tun", "devices.kubevirt.io/vhost-net")
WITNESS_LABEL = "node-role.harvesterhci.io/witness"
MAX_DIFFS = 4


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name") or "?"


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


# --- MET-01: pod-requests / pod-limits -----------------------------------------------------------


def _add(into: dict[str, Decimal], items: dict | None) -> None:
    for k, v in (items or {}).items():
        into[k] = into.get(k, Decimal(0)) + quantity(v)


def pod_resources(pod: dict) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """(requests, limits) of one pod as pod_resources.go getPodData computes them."""
    spec = pod.get("spec") or {}
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        _add(requests, res.get("requests"))
        _add(limits, res.get("limits"))
    for c in spec.get("initContainers") or []:
        res = c.get("resources") or {}
        for into, items in ((requests, res.get("requests")), (limits, res.get("limits"))):
            for k, v in (items or {}).items():
                into[k] = max(into.get(k, Decimal(0)), quantity(v))
    return requests, limits


def expected_annotations(pods: Iterable[dict]) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """The node's (requests, limits) over its pods that are not Succeeded/Failed."""
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    count = 0
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        count += 1
        r, lim = pod_resources(pod)
        for k, v in r.items():
            requests[k] = requests.get(k, Decimal(0)) + v
        for k, v in lim.items():
            limits[k] = limits.get(k, Decimal(0)) + v
    if count:
        requests["pods"] = Decimal(count)
    return requests, limits


# A pod started or stopped this recently may not be in the annotations yet: Harvester's controller
# recomputes them on pod events, behind the apiserver by its work queue's latency (well under a
# second when healthy; the margin covers a loaded controller).
IN_FLIGHT = dt.timedelta(seconds=20)


def _differences(found: dict[str, Decimal], low: dict[str, Decimal], high: dict[str, Decimal]) -> list[str]:
    """Resources whose totals fall outside [low, high], beyond rounding to a milli-unit (a missing
    one is 0). low = the settled pods only, high = the in-flight ones as well."""
    out = []
    slack = Decimal("0.001")
    for k in sorted(set(found) | set(low) | set(high)):
        have, lo, hi = found.get(k, Decimal(0)), low.get(k, Decimal(0)), high.get(k, Decimal(0))
        if have < lo - slack or have > hi + slack:
            sums = _fmt(lo) if lo == hi else f"between {_fmt(lo)} and {_fmt(hi)}"
            out.append(f"{k} {_fmt(have)} (pods sum to {sums})")
    return out


def in_flight(pod: dict, now: dt.datetime, settle: dt.timedelta = IN_FLIGHT) -> bool:
    """Whether the controller may not have counted (or uncounted) the pod yet."""
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return True
    created = _time(meta.get("creationTimestamp"))
    return created is not None and now - created < settle


def check_node_annotations(node: dict, pods: list[dict], now: dt.datetime) -> Finding | None:
    """MET-01: the annotations, where present, equal the sums over the node's pods (pods that
    started or are stopping within IN_FLIGHT of `now` may be counted or not)."""
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    if REQUESTS not in annotations and LIMITS not in annotations:
        return None
    try:
        low_req, low_lim = expected_annotations(p for p in pods if not in_flight(p, now))
        high_req, high_lim = expected_annotations(pods)
    except ValueError as exc:
        return Finding(f"Node {_name(node)}", f"a pod on the node has an unreadable resource quantity: {exc}")
    problems: list[str] = []
    for key, low, high in ((REQUESTS, low_req, high_req), (LIMITS, low_lim, high_lim)):
        if key not in annotations:
            problems.append(f"{key} is missing while {REQUESTS if key == LIMITS else LIMITS} is set")
            continue
        try:
            doc = json.loads(annotations[key])
            if not isinstance(doc, dict):
                raise ValueError(f"a JSON {type(doc).__name__}, not a resource list")
            found = {str(k): quantity(v) for k, v in doc.items()}
        except ValueError as exc:
            problems.append(f"{key} is not a resource list ({exc})")
            continue
        diffs = _differences(found, low, high)
        if diffs:
            more = f" and {len(diffs) - MAX_DIFFS} more" if len(diffs) > MAX_DIFFS else ""
            problems.append(f"{key}: {'; '.join(diffs[:MAX_DIFFS])}{more}")
    if not problems:
        return None
    return Finding(
        f"Node {_name(node)}",
        "; ".join(problems) + " — expected the annotations to equal the sums over the node's pods that are not "
        "Succeeded/Failed (Harvester's pod-resources controller)",
    )


# --- MET-02: NodeMetrics ---------------------------------------------------------------------------


def _time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def check_node_metrics(node: dict, metrics: dict | None, now: dt.datetime) -> Finding | None:
    """MET-02: the node has NodeMetrics, sampled recently, with usage within capacity."""
    obj = f"Node {_name(node)}"
    if metrics is None:
        return Finding(obj, "has no NodeMetrics (metrics.k8s.io): metrics-server does not report it")
    sampled = _time(metrics.get("timestamp"))
    if sampled is None:
        return Finding(obj, f"NodeMetrics has no readable timestamp ({metrics.get('timestamp')!r})")
    if now - sampled > METRICS_MAX_AGE:
        return Finding(obj, f"NodeMetrics sampled at {metrics.get('timestamp')}, older than {METRICS_MAX_AGE}")
    capacity = (node.get("status") or {}).get("capacity") or {}
    problems = []
    for res in ("cpu", "memory"):
        used, cap = (metrics.get("usage") or {}).get(res), capacity.get(res)
        if used is None or cap is None:
            problems.append(f"{res}: usage {used!r}, capacity {cap!r} (expected both)")
            continue
        try:
            if quantity(used) > quantity(cap):
                problems.append(f"{res} usage {used} exceeds capacity {cap}")
        except ValueError as exc:
            problems.append(f"{res}: {exc}")
    return Finding(obj, "; ".join(problems)) if problems else None


# --- MET-03 / MET-04: Longhorn storage -------------------------------------------------------------


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return None


def check_storage_figures(lh_node: dict) -> Finding | None:
    """MET-03: total = Σ storageMaximum, used = total − Σ storageAvailable (never negative),
    reserved = Σ storageReserved (never above total); each disk's own figures within its maximum."""
    spec_disks = (lh_node.get("spec") or {}).get("disks") or {}
    status_disks = (lh_node.get("status") or {}).get("diskStatus") or {}
    problems: list[str] = []
    total = available = reserved = 0
    for disk in sorted(set(spec_disks) | set(status_disks)):
        spec, status = spec_disks.get(disk) or {}, status_disks.get(disk)
        if disk not in spec_disks:
            continue  # a disk being removed: Longhorn keeps its status until cleaned up
        if not isinstance(status, dict):
            problems.append(f"disk {disk} has no status (longhorn-manager has not reported it)")
            continue
        maximum, avail, res = (
            _int(status.get("storageMaximum")),
            _int(status.get("storageAvailable")),
            _int(spec.get("storageReserved", 0)),
        )
        if maximum is None or avail is None or res is None:
            problems.append(
                f"disk {disk}: unreadable figures (storageMaximum {status.get('storageMaximum')!r}, "
                f"storageAvailable {status.get('storageAvailable')!r}, storageReserved {spec.get('storageReserved')!r})"
            )
            continue
        if res > maximum:
            problems.append(f"disk {disk}: storageReserved {res} exceeds its storageMaximum {maximum}")
        if avail > maximum:
            problems.append(f"disk {disk}: storageAvailable {avail} exceeds its storageMaximum {maximum}")
        if min(res, avail, maximum) < 0:
            problems.append(f"disk {disk}: negative figure (max {maximum}, available {avail}, reserved {res})")
        total, available, reserved = total + maximum, available + avail, reserved + res
    if total - available < 0:
        problems.append(f"used = total {total} − available {available} is negative")
    if reserved > total:
        problems.append(f"reserved {reserved} exceeds total {total}")
    if not problems:
        return None
    return Finding(
        f"Node {LONGHORN_NS}/{_name(lh_node)}",
        "; ".join(problems) + f" (node figures: total {total}, used {total - available}, reserved {reserved})",
    )


def reserved_percentage(setting: dict | None, longhorn: str | None) -> tuple[int | None, str]:
    """The percentage default disks reserve, and where it comes from (or why it is unknown)."""
    if version_tuple(longhorn) and version_tuple(longhorn) < RESERVED_SETTING_FROM:
        return RESERVED_BUILT_IN, f"built in (Longhorn {longhorn} has no {RESERVED_SETTING} setting)"
    if setting is None:
        if not version_tuple(longhorn):
            return RESERVED_BUILT_IN, f"built in ({RESERVED_SETTING} absent, Longhorn version unknown)"
        return None, f"Setting {LONGHORN_NS}/{RESERVED_SETTING} does not exist on Longhorn {longhorn}"
    raw = setting.get("value")
    text = "" if raw is None else str(raw)
    values = {text}
    if text.startswith("{"):  # Longhorn 1.10's per-data-engine form, should the setting become one
        try:
            doc = json.loads(text)
            if isinstance(doc, dict) and doc:
                values = {str(v) for v in doc.values()}
        except ValueError:
            pass
    if len(values) != 1:
        return None, f"{RESERVED_SETTING} differs per data engine ({text})"
    pct = _int(values.pop())
    if pct is None or not 0 <= pct <= 100:
        return None, f"{RESERVED_SETTING} is {text!r}; expected an integer 0-100 (default 30)"
    return pct, f"{RESERVED_SETTING} {pct}"


def check_default_disks(lh_node: dict, pct: int, source: str) -> Finding | None:
    """MET-04: each default disk reserves storageMaximum × pct / 100 (integer), within a resize drift."""
    spec_disks = (lh_node.get("spec") or {}).get("disks") or {}
    status_disks = (lh_node.get("status") or {}).get("diskStatus") or {}
    problems = []
    for disk in sorted(d for d in spec_disks if d.startswith(DEFAULT_DISK_PREFIX)):
        maximum = _int((status_disks.get(disk) or {}).get("storageMaximum"))
        have = _int((spec_disks[disk] or {}).get("storageReserved", 0))
        if maximum is None or have is None:
            problems.append(f"default disk {disk}: storageMaximum or storageReserved unreadable")
            continue
        want = maximum * pct // 100
        if abs(have - want) > maximum * RESERVED_DRIFT:
            share = f"{Decimal(have) * 100 / maximum:.1f}%" if maximum else "n/a"
            problems.append(
                f"default disk {disk}: storageReserved {have} ({share} of {maximum}); expected {want} ({pct}%)"
            )
    if not problems:
        return None
    return Finding(f"Node {LONGHORN_NS}/{_name(lh_node)}", "; ".join(problems) + f" — percentage from {source}")


# --- MET-05: capacity and devices ------------------------------------------------------------------


def schedulable(node: dict) -> bool:
    """A node VMs may land on: not cordoned, not a witness node (v1.6+: etcd only, no virt-handler)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return not (node.get("spec") or {}).get("unschedulable") and labels.get(WITNESS_LABEL) != "true"


def check_node_capacity(node: dict) -> Finding | None:
    """MET-05: allocatable ≤ capacity per resource; a schedulable node offers KubeVirt's devices."""
    status = node.get("status") or {}
    capacity, allocatable = status.get("capacity") or {}, status.get("allocatable") or {}
    problems = []
    for res in sorted(allocatable):
        if res not in capacity:
            continue
        try:
            if quantity(allocatable[res]) > quantity(capacity[res]):
                problems.append(f"allocatable {res} {allocatable[res]} exceeds capacity {capacity[res]}")
        except ValueError as exc:
            problems.append(f"{res}: {exc}")
    if schedulable(node):
        missing = []
        for dev in KUBEVIRT_DEVICES:
            try:
                ok = dev in allocatable and quantity(allocatable[dev]) > 0
            except ValueError:
                ok = False
            if not ok:
                missing.append(f"{dev} ({allocatable.get(dev, 'absent')})")
        if missing:
            problems.append("schedulable but does not offer " + ", ".join(missing) + " (virt-handler's device plugins)")
    return Finding(f"Node {_name(node)}", "; ".join(problems)) if problems else None
