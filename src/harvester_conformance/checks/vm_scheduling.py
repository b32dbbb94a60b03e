"""VM scheduling and overcommit (article vm-scheduling; facts.md §15, §17.1, §17.2, R2.2).

Pure functions over plain data: the `overcommit-config` setting (SCH-01), the requests Harvester's
VirtualMachine mutator writes (SCH-02), kube-scheduler's resource scores (SCH-03) and the spread of
running VMs over the nodes (SCH-04).

Upstream sources:
- setting: harvester/harvester `pkg/settings/settings.go` (default {"cpu":1600,"memory":150,
  "storage":200} up to v1.7.x, {"cpu":1000,"memory":150,"storage":100} from v1.8.0) and
  `pkg/webhook/resources/setting/validator.go` (each value >= 100, JSON that decodes);
- mutator: `pkg/webhook/resources/virtualmachine/mutator.go` (`patchResourceOvercommit`,
  `generateMemoryPatch`, `needUpdateResourceOvercommit`; v1.2.1 … v1.5.0);
- scorer: kubernetes `pkg/scheduler/framework/plugins/noderesources/least_allocated.go` and
  `balanced_allocation.go` @v1.21 (absolute difference) and @v1.22+ (standard deviation, PR 101946).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from harvester_conformance.checks.findings import Finding
from harvester_conformance.checks.quantities import milli, quantity, whole

SETTING = "overcommit-config"
SETTING_REF = f"Setting {SETTING}"
OVERHEAD_RATIO_SETTING = "additional-guest-memory-overhead-ratio"
RESERVED_MEMORY_ANNOTATION = "harvesterhci.io/reservedMemory"
MIB = 1 << 20
RESERVED_DEFAULT = 100 * MIB  # mutator.go memory100M
DEFAULT_BEFORE_1_8 = {"cpu": 1600, "memory": 150, "storage": 200}
DEFAULT_FROM_1_8 = {"cpu": 1000, "memory": 150, "storage": 100}
KEYS = ("cpu", "memory", "storage")


# --- Kubernetes quantities ---------------------------------------------------------------------


def version_tuple(version: str | None) -> tuple[int, ...]:
    """(1, 3, 1) from "v1.3.1" or "1.1.1-150500.8.15.1"; () when unknown."""
    if not version:
        return ()
    head = version.lstrip("v").split("-", 1)[0].split("+", 1)[0]
    try:
        return tuple(int(p) for p in head.split(".")[:3])
    except ValueError:
        return ()


# --- SCH-01: the setting -----------------------------------------------------------------------


def default_overcommit(harvester: tuple[int, ...]) -> dict[str, int]:
    """The release's built-in default (settings.go): 1000/150/100 from v1.8.0."""
    return dict(DEFAULT_FROM_1_8 if harvester >= (1, 8, 0) else DEFAULT_BEFORE_1_8)


@dataclass(frozen=True)
class Overcommit:
    cpu: int
    memory: int
    storage: int
    source: str  # "value" or "default"

    def pair(self) -> tuple[int, int]:
        return self.cpu, self.memory


def parse_overcommit(setting: dict | None) -> tuple[Overcommit | None, list[str]]:
    """The ratios in force and the problems found, as the mutator and the validator read them.

    The mutator takes `value`, else `default` (getOvercommit), decodes JSON into Go ints (a
    string, a fraction or a boolean does not decode; unknown keys are ignored, a missing key is
    0); the validator refuses any of cpu, memory, storage under 100 ("Cannot undercommit")."""
    if setting is None:
        return None, ["the setting does not exist: the mutator applies no overcommit"]
    source = "value" if setting.get("value") else "default"
    text = setting.get(source) or ""
    if not text:
        return None, ["neither value nor default is set: the mutator applies no overcommit"]
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return None, [f"{source} is not JSON ({exc.msg}): the mutator cannot decode it"]
    if not isinstance(doc, dict):
        return None, [f"{source} is a JSON {type(doc).__name__}, expected an object with cpu, memory, storage"]
    lowered = {str(k).lower(): v for k, v in doc.items()}  # encoding/json matches keys case-insensitively
    problems: list[str] = []
    values: dict[str, int] = {}
    for key in KEYS:
        raw = lowered.get(key, 0)
        if isinstance(raw, bool) or not isinstance(raw, int):
            problems.append(f"{key} is {raw!r}: not an integer, Go cannot decode it")
            continue
        values[key] = raw
        if raw < 100:
            problems.append(f"{key} is {raw}{' (missing)' if key not in lowered else ''}: under 100 (undercommit)")
    if problems:
        return None, problems
    return Overcommit(values["cpu"], values["memory"], values["storage"], source), []


def check_overcommit(setting: dict | None, harvester: tuple[int, ...]) -> Finding | None:
    _, problems = parse_overcommit(setting)
    if not problems:
        return None
    default = json.dumps(default_overcommit(harvester), separators=(",", ":"))
    return Finding(SETTING_REF, "; ".join(problems) + f" (expected JSON with each value >= 100; default {default})")


# --- SCH-02: the mutator's arithmetic ----------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """The mutator's version-dependent branches (mutator.go at each Harvester tag)."""

    harvester: tuple[int, ...]
    overhead_ratio: str | None  # additional-guest-memory-overhead-ratio in force (v1.4.0+), or None

    @property
    def dedicated_cpu(self) -> bool:  # requests = limits for dedicatedCpuPlacement, from v1.4.0
        return self.harvester >= (1, 4, 0)

    @property
    def host_devices(self) -> bool:  # memory request = guest memory with host devices/GPUs, from v1.3.0
        return self.harvester >= (1, 3, 0)

    @property
    def ratio_set(self) -> bool:
        """The overhead ratio replaces the 100Mi reservation (v1.4.0+); "" and "0" count as unset."""
        if self.harvester < (1, 4, 0) or self.overhead_ratio is None:
            return False
        try:
            return Decimal(self.overhead_ratio.strip() or "0") != 0
        except InvalidOperation:
            return False


def _domain(vm: dict) -> dict:
    return ((((vm.get("spec") or {}).get("template") or {}).get("spec") or {}).get("domain")) or {}


def _has_host_devices(domain: dict) -> bool:
    devices = domain.get("devices") or {}
    return bool(devices.get("hostDevices") or devices.get("gpus"))


def expected_requests(vm: dict, ratio: tuple[int, int], rules: Rules) -> dict[str, int]:
    """{"cpu": milli, "memory": bytes} the mutator writes for `vm` at (cpu%, memory%); a resource
    without a limit is absent (its request, if any, is the operator's and is kept)."""
    domain = _domain(vm)
    limits = (domain.get("resources") or {}).get("limits") or {}
    dedicated = rules.dedicated_cpu and bool((domain.get("cpu") or {}).get("dedicatedCpuPlacement"))
    out: dict[str, int] = {}
    if limits.get("cpu") is not None and milli(limits["cpu"]) != 0:
        cpu = milli(limits["cpu"])
        out["cpu"] = cpu if dedicated else cpu * 100 // ratio[0]
    if limits.get("memory") is not None and whole(limits["memory"]) != 0:
        mem = whole(limits["memory"])
        if dedicated:
            out["memory"] = mem
        elif rules.host_devices and _has_host_devices(domain):
            annotation = ((vm.get("metadata") or {}).get("annotations") or {}).get(RESERVED_MEMORY_ANNOTATION)
            if annotation:
                reserved = whole(annotation)
            else:
                reserved = 0 if rules.ratio_set else RESERVED_DEFAULT
            out["memory"] = mem - reserved
        else:
            out["memory"] = mem * 100 // ratio[1] // MIB * MIB
    return out


def _actual(vm: dict) -> dict[str, int | None]:
    requests = (_domain(vm).get("resources") or {}).get("requests") or {}
    out: dict[str, int | None] = {}
    for key, conv in (("cpu", milli), ("memory", whole)):
        try:
            out[key] = conv(requests[key]) if requests.get(key) is not None else None
        except ValueError:
            out[key] = None
    return out


def _show(key: str, value: int | None) -> str:
    if value is None:
        return "absent"
    return f"{value}m" if key == "cpu" else f"{value} B"


def _ref(obj: dict, kind: str) -> str:
    meta = obj.get("metadata") or {}
    return f"{kind} {meta.get('namespace')}/{meta.get('name')}"


@dataclass(frozen=True)
class RequestsVerdict:
    failed: Finding | None = None
    drift: Finding | None = None


def check_vm_requests(
    vm: dict, current: Overcommit, rules: Rules, earlier: Iterable[tuple[int, int]] = ()
) -> RequestsVerdict:
    """Requests as the mutator computes them at the ratios in force. Requests that match an
    earlier ratio (the mutator recomputes only when limits, the reservedMemory annotation,
    dedicated CPU or host devices change: facts §17.2) are drift; requests no ratio explains fail."""
    ref = _ref(vm, "VirtualMachine")
    try:
        want = expected_requests(vm, current.pair(), rules)
    except ValueError as exc:
        return RequestsVerdict(failed=Finding(ref, f"limits or reservedMemory annotation do not parse: {exc}"))
    got = _actual(vm)
    diff = {k: v for k, v in want.items() if got.get(k) != v}
    if not diff:
        return RequestsVerdict()
    for ratio in earlier:
        if ratio == current.pair():
            continue
        then = expected_requests(vm, ratio, rules)
        if all(got.get(k) == v for k, v in then.items()):
            return RequestsVerdict(
                drift=Finding(
                    ref,
                    f"requests follow cpu {ratio[0]}% / memory {ratio[1]}%, not the ratios in force "
                    f"(cpu {current.cpu}% / memory {current.memory}%): Harvester recomputes them only when the "
                    "limits change",
                )
            )
    shown = ", ".join(f"{k} {_show(k, got.get(k))} (expected {_show(k, v)})" for k, v in diff.items())
    unmutated = all(got.get(k) is not None for k in want) and _equals_limits(vm)
    why = " - requests equal limits: the overcommit mutator did not run" if unmutated else ""
    return RequestsVerdict(
        failed=Finding(ref, f"{shown} at cpu {current.cpu}% / memory {current.memory}% of the limits{why}")
    )


def _equals_limits(vm: dict) -> bool:
    resources = _domain(vm).get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    try:
        return all(quantity(requests[k]) == quantity(v) for k, v in limits.items() if k in ("cpu", "memory"))
    except (KeyError, ValueError):
        return False


def check_launcher_pod(pod: dict, vmi: dict) -> Finding | None:
    """The compute container asks for the VMI's CPU request and its memory request plus KubeVirt's
    overhead (always positive: facts §15.2, §17.1)."""
    container = next((c for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name") == "compute"), None)
    if container is None:
        return Finding(_ref(pod, "Pod"), "virt-launcher pod without a compute container")
    requests = (container.get("resources") or {}).get("requests") or {}
    wanted = ((vmi.get("spec") or {}).get("domain") or {}).get("resources", {}).get("requests") or {}
    problems = []
    try:
        if wanted.get("cpu") is not None and milli(requests.get("cpu", 0)) != milli(wanted["cpu"]):
            problems.append(f"cpu {requests.get('cpu')} (expected the VMI's {wanted['cpu']})")
        if wanted.get("memory") is not None and whole(requests.get("memory", 0)) <= whole(wanted["memory"]):
            problems.append(f"memory {requests.get('memory')} (expected the VMI's {wanted['memory']} plus overhead)")
    except ValueError as exc:
        problems.append(f"requests do not parse: {exc}")
    if not problems:
        return None
    return Finding(_ref(pod, "Pod"), f"compute container requests {', '.join(problems)} for {_ref(vmi, 'VMI')}")


# --- SCH-03: kube-scheduler's resource scores ------------------------------------------------------

MAX_NODE_SCORE = 100
# 1.21 default score-plugin weights (algorithmprovider/registry.go); the logged values are weighted.
OTHER_SCORES_121 = {
    "ImageLocality": 54,  # the article's image-size dependent constant
    "InterPodAffinity": 0,
    "NodeAffinity": 0,
    "NodePreferAvoidPods": 100 * 10000,
    "PodTopologySpread": 100 * 2,
    "TaintToleration": 100 * 1,
}


@dataclass(frozen=True)
class NodeLoad:
    """Allocatable and requested (existing pods plus the incoming one) CPU milli and memory bytes."""

    cpu_alloc: int
    mem_alloc: int
    cpu_req: int
    mem_req: int


def least_allocated(n: NodeLoad) -> int:
    """((alloc - req) * 100) / alloc per resource, integer; cpu and memory weighted 1 each."""

    def one(alloc: int, req: int) -> int:
        if alloc == 0 or req > alloc:
            return 0
        return (alloc - req) * MAX_NODE_SCORE // alloc

    return (one(n.cpu_alloc, n.cpu_req) + one(n.mem_alloc, n.mem_req)) // 2


def balanced_allocation(n: NodeLoad, kubernetes: tuple[int, ...]) -> int:
    """<= 1.21: (1 - |f_cpu - f_mem|) * 100, 0 when a fraction reaches 1. >= 1.22: fractions
    capped at 1 and (1 - std) * 100 with std = |f_cpu - f_mem| / 2 for two resources."""
    fc = n.cpu_req / n.cpu_alloc if n.cpu_alloc else 1.0
    fm = n.mem_req / n.mem_alloc if n.mem_alloc else 1.0
    if kubernetes and kubernetes[:2] <= (1, 21):
        if fc >= 1 or fm >= 1:
            return 0
        return int((1 - abs(fc - fm)) * MAX_NODE_SCORE)
    fc, fm = min(fc, 1.0), min(fm, 1.0)
    return int((1 - abs(fc - fm) / 2) * MAX_NODE_SCORE)


def total_score_121(n: NodeLoad) -> int:
    """The article's "Total Score": the two resource scores plus the constant other plugins."""
    return least_allocated(n) + balanced_allocation(n, (1, 21)) + sum(OTHER_SCORES_121.values())


# --- SCH-04: spread -----------------------------------------------------------------------------------

HOSTNAME = "kubernetes.io/hostname"
WITNESS_LABEL = "node-role.harvesterhci.io/witness"
MIN_SKEW_BOUND = 3


def has_hostname_anti_affinity(vmi: dict) -> bool:
    """A podAntiAffinity term (required or preferred) over kubernetes.io/hostname."""
    anti = (((vmi.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity")) or {}
    terms = list(anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
    terms += [t.get("podAffinityTerm") or {} for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    return any(isinstance(t, dict) and t.get("topologyKey") == HOSTNAME for t in terms)


def skew_bound(total: int, nodes: int) -> int:
    """How far a node may run ahead of the emptiest one: a quarter of the mean, at least 3."""
    return max(MIN_SKEW_BOUND, math.ceil(total / max(nodes, 1) / 4))


def check_spread(nodes: list[str], vmis: list[dict], explain: dict[str, str] | None = None) -> list[Finding]:
    """Nodes holding more running VMs than the emptiest node plus the bound, where VMs without a
    hostname anti-affinity rule add to the crowd."""
    running = [v for v in vmis if (v.get("status") or {}).get("phase") == "Running"]
    per_node: dict[str, list[dict]] = {n: [] for n in nodes}
    for vmi in running:
        node = (vmi.get("status") or {}).get("nodeName")
        if node in per_node:
            per_node[node].append(vmi)
    if len(per_node) < 2:
        return []
    counts = {n: len(v) for n, v in per_node.items()}
    emptiest = min(counts, key=lambda n: (counts[n], n))
    bound = skew_bound(sum(counts.values()), len(counts))
    findings = []
    for node, here in sorted(per_node.items()):
        skew = counts[node] - counts[emptiest]
        loose = sorted(_ref(v, "VMI").removeprefix("VMI ") for v in here if not has_hostname_anti_affinity(v))
        if skew <= bound or not loose:
            continue
        listed = ", ".join(loose[:10]) + (f" and {len(loose) - 10} more" if len(loose) > 10 else "")
        note = f"; {explain[node]}" if explain and node in explain else ""
        findings.append(
            Finding(
                f"Node {node}",
                f"{counts[node]} running VMs against {counts[emptiest]} on {emptiest} (skew {skew} > bound {bound}); "
                f"{len(loose)} without a {HOSTNAME} podAntiAffinity: {listed}{note}",
            )
        )
    return findings


# Requests kube-scheduler assumes for a container that sets none (schedutil.DefaultMilliCPURequest,
# DefaultMemoryRequest: 100m, 200 MB), as the scorer counts them.
DEFAULT_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1000 * 1000


def pod_requests(pod: dict) -> tuple[int, int]:
    """(cpu milli, memory bytes) the scorer counts for a pod: each container's requests, with the
    non-zero defaults for a container that sets none."""
    cpu = mem = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        req = ((c.get("resources") or {}).get("requests")) or {}
        try:
            cpu += milli(req["cpu"]) if req.get("cpu") is not None else DEFAULT_CPU_REQUEST
            mem += whole(req["memory"]) if req.get("memory") is not None else DEFAULT_MEMORY_REQUEST
        except ValueError:
            continue
    return cpu, mem


def explain_placement(
    loads: dict[str, tuple[int, int, int, int]], incoming: tuple[int, int], kubernetes: tuple[int, ...]
) -> dict[str, str]:
    """Per node, the resource scores (current scorer of `kubernetes`) one more VM of `incoming`
    requests would get: why the scheduler keeps choosing a node. loads: node -> (cpu alloc,
    memory alloc, cpu requested, memory requested)."""
    out = {}
    for node, (ca, ma, cr, mr) in loads.items():
        n = NodeLoad(ca, ma, cr + incoming[0], mr + incoming[1])
        out[node] = (
            f"scores for one more VM ({incoming[0]}m, {incoming[1]} B; Kubernetes "
            f"{'.'.join(map(str, kubernetes[:2])) or 'unknown'} scorer): LeastAllocated {least_allocated(n)}, "
            f"BalancedAllocation {balanced_allocation(n, kubernetes)}"
        )
    return out
