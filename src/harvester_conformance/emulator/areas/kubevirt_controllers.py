"""virt-controller, virt-handler and the migration controller of the emulated cluster (facts §10, §15.2).

- VMs that should run get a VMI (spec copied from the template, mutated requests included) and one
  virt-launcher pod that the real kube-scheduler places and kwok runs; the VMI then reports Running
  on the pod's node with Ready/LiveMigratable conditions, volumeStatus with the PVCs' claim info,
  activePods, interfaces and qosClass, each as the running KubeVirt release writes it (facts §17.1);
  migrationMethod only when the LiveMigratable condition is first added, as virt-handler does.
- Deletion follows KubeVirt's finalizers: a VM carries `kubevirt.io/virtualMachineControllerFinalize`
  and its VMI that one and `foregroundDeleteVirtualMachine` (virt-api's mutator). A deleted VM has its
  VMI deleted and goes only once the VMI is gone; a deleted VMI has its pods deleted, is reported
  Succeeded, and goes only once no pod of it is left (KV `vm.go` sync, `vmi.go` sync/allPodsDeleted).
  So a VM found gone has no VMI or launcher pod left behind, as on a real cluster.
- VirtualMachineInstanceMigrations are queued under the effective limits and advance one phase per
  tick through Scheduling..Running to Succeeded, with a target pod that must land on another node.
- CPU models (`cpu_node_selectors`): a VMI's `spec.domain.cpu.model` defaults to the KubeVirt CR's
  `cpuModel`, else `host-model` (virt-api's `setDefaultCPUModel`); the launcher pod selects
  `cpu-model.node.kubevirt.io/<model>` for a named model and `cpu-feature.node.kubevirt.io/<f>` for
  required features (KV 0.54 only with the CPUNodeDiscovery gate); a host-model migration target
  selects the source node's host model and required features, or keeps those of the source pod
  once it has migrated (`prepareNodeSelectorForHostCpuModel`), and from KV 1.6 the source's CPU
  vendor. The node labels come from the node labeller (areas/cpu_models).

Fault hooks (emulator.harvester-conformance.io/fault annotation), each a real-world failure mode:
  on a VMI  `stale-virt-handler` - its virt-handler is stuck: the VMI's status is no longer updated;
            `io-error`           - the guest disk returned IO errors: libvirt paused the domain;
  on the KubeVirt CR `ignore-migration-limits` - the migration controller ignores the per-node limit;
                     `ignore-migration-policies` - it ignores MigrationPolicies (KubeVirt CR values only);
                     `migration-network-down` - sources cannot reach targets: running migrations fail;
  on a VMIM `stuck-migration`    - the migration monitor hangs in Running (no completion timeout).
"""

from __future__ import annotations

import copy
import logging
import secrets
import string
import zlib
from collections import defaultdict

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.areas import kubevirt_model as m
from harvester_conformance.emulator.clock import now, parse_stamp, stamp
from harvester_conformance.emulator.faults import fault_of
from harvester_conformance.emulator.profiles import suse_repository
from harvester_conformance.emulator.simulator.informers import removed
from harvester_conformance.emulator.simulator.workers import each

log = logging.getLogger("virt-controller")
KV_NS = "harvester-system"
LAUNCHER = "kubevirt.io=virt-launcher"
CREATED_BY = "kubevirt.io/created-by"
MIGRATION_LABEL = "kubevirt.io/migrationJobUID"
ACTIVE_PHASES = ("Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running")
RUNNING_SECONDS = 3  # wall-clock time a healthy migration spends copying memory
VM_CONTROLLER_FINALIZER = "kubevirt.io/virtualMachineControllerFinalize"
VMI_FINALIZER = "foregroundDeleteVirtualMachine"
NOT_READY_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]


CPU_MODEL_LABEL = "cpu-model.node.kubevirt.io/"
CPU_FEATURE_LABEL = "cpu-feature.node.kubevirt.io/"
CPU_MODEL_MIGRATION_LABEL = "cpu-model-migration.node.kubevirt.io/"
CPU_VENDOR_LABEL = "cpu-vendor.node.kubevirt.io/"
HOST_MODEL_CPU_LABEL = "host-model-cpu.node.kubevirt.io/"
HOST_MODEL_REQUIRED_LABEL = "host-model-required-features.node.kubevirt.io/"
OBSOLETE_HOST_MODEL_LABEL = "node-labeller.kubevirt.io/obsolete-host-model"
HOST_MODEL, HOST_PASSTHROUGH = "host-model", "host-passthrough"
CPU_NODE_DISCOVERY = "CPUNodeDiscovery"  # the KV 0.54 gate of the CPU model/feature selectors


def cpu_node_discovery(kv: dict, kubevirt: tuple[int, ...]) -> bool:
    """Whether virt-controller renders CPU model and feature selectors: always from KV 1.1
    (nodeselectorrenderer.go), on 0.54 only with the CPUNodeDiscovery gate (template.go)."""
    gates = (((kv.get("spec") or {}).get("configuration") or {}).get("developerConfiguration") or {}).get(
        "featureGates"
    ) or []
    return kubevirt >= (1, 1) or CPU_NODE_DISCOVERY in gates


def default_cpu_model(spec: dict, cluster_model: str) -> dict:
    """virt-api's setDefaultCPUModel on a new VMI spec: an unset model becomes the KubeVirt CR's
    cpuModel, else host-model (amd64, KV v0.54.0 … v1.7.4)."""
    cpu = spec.setdefault("domain", {}).setdefault("cpu", {})
    if not cpu.get("model"):
        cpu["model"] = cluster_model or HOST_MODEL
    return spec


def cpu_node_selectors(cpu: dict, discovery: bool) -> dict[str, str]:
    """The template service's CPU selectors: the named model and the required features."""
    if not discovery:
        return {}
    out = {}
    model = cpu.get("model") or ""
    if model and model not in (HOST_MODEL, HOST_PASSTHROUGH):
        out[CPU_MODEL_LABEL + model] = "true"
    for feature in cpu.get("features") or []:
        if feature.get("policy", "") in ("", "require"):
            out[CPU_FEATURE_LABEL + feature["name"]] = "true"
    return out


def reject_label(affinity: dict, key: str) -> dict:
    """modifyNodeAffintyToRejectLabel: a DoesNotExist requirement on `key` in every required term."""
    requirement = {"key": key, "operator": "DoesNotExist"}
    required = affinity.setdefault("nodeAffinity", {}).setdefault(
        "requiredDuringSchedulingIgnoredDuringExecution", {"nodeSelectorTerms": []}
    )
    terms = required.setdefault("nodeSelectorTerms", [])
    if not terms:
        terms.append({"matchExpressions": [requirement]})
    else:
        for term in terms:
            term.setdefault("matchExpressions", []).append(dict(requirement))
    return affinity


def cpu_affinity(affinity: dict, cpu: dict, kubevirt: tuple[int, ...], discovery: bool) -> dict:
    """setNodeAffinityForPod: host-model (or unset) VMIs avoid nodes whose host model is obsolete
    (KV 1.1+); forbidden features are rejected (KV 1.1+, 0.54 with the gate)."""
    if kubevirt >= (1, 1) and (cpu.get("model") or HOST_MODEL) == HOST_MODEL:
        affinity = reject_label(affinity, OBSOLETE_HOST_MODEL_LABEL)
    if discovery:
        for feature in cpu.get("features") or []:
            if feature.get("policy") == "forbid":
                affinity = reject_label(affinity, CPU_FEATURE_LABEL + feature["name"])
    return affinity


def host_model_selectors(source: dict, source_selector: dict) -> dict[str, str] | None:
    """prepareNodeSelectorForHostCpuModel: a VMI that migrated before keeps its pod's CPU
    selectors; otherwise the source node's host model as a migration model and its required
    features. None when the source node has no host-model label (upstream: an error, retried)."""
    kept = {k: v for k, v in source_selector.items() if CPU_FEATURE_LABEL in k or CPU_MODEL_MIGRATION_LABEL in k}
    if kept:
        return kept
    out: dict[str, str] = {}
    host = None
    for key, value in ((source.get("metadata") or {}).get("labels") or {}).items():
        if key.startswith(HOST_MODEL_CPU_LABEL):
            host = (key[len(HOST_MODEL_CPU_LABEL) :], value)
        elif key.startswith(HOST_MODEL_REQUIRED_LABEL):
            out[CPU_FEATURE_LABEL + key[len(HOST_MODEL_REQUIRED_LABEL) :]] = value
    if host is None:
        return None
    out[CPU_MODEL_MIGRATION_LABEL + host[0]] = host[1]
    return out


def kubevirt_info(cl: Cluster) -> tuple[dict, tuple[int, ...], str, str]:
    """(KubeVirt CR, version tuple, image tag, additionalGuestMemoryOverheadRatio)."""
    kv = cl.get(R.KUBEVIRTS, "kubevirt", KV_NS) or {}
    tag = (kv.get("status") or {}).get("observedKubeVirtVersion") or ""
    ratio = ((kv.get("spec") or {}).get("configuration") or {}).get("additionalGuestMemoryOverheadRatio") or ""
    return kv, m.version_tuple(tag), tag, ratio


CDI_SINCE = (1, 5, 0)  # Harvester's chart installs CDI from v1.5.0 (HV deploy/charts/harvester/charts/cdi-*.tgz)


def harvester_version(cl: Cluster) -> tuple[int, ...]:
    setting = cl.get(R.HARVESTER_SETTINGS, "server-version") or {}
    return m.version_tuple(setting.get("value") or setting.get("default"))


def wants_running(vm: dict) -> bool:
    spec = vm.get("spec") or {}
    if spec.get("running") is not None:
        return bool(spec["running"])
    return spec.get("runStrategy") in ("Always", "RerunOnFailure")


def owner(obj: dict) -> dict:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


DEFAULT_GRACE_SECONDS = 30  # KubeVirt's v1.DefaultGracePeriodSeconds, for a VMI that sets none
LAUNCHER_GRACE_PADDING = 15  # padded twice: virt-handler's grace, then the kill-after (services/template.go)


def launcher_grace_period(spec: dict) -> int:
    """The launcher pod's grace period as virt-controller renders it: the VMI's own (an explicit 0
    stays 0) plus two paddings of 15 s."""
    own = spec.get("terminationGracePeriodSeconds")
    return int(DEFAULT_GRACE_SECONDS if own is None else own) + 2 * LAUNCHER_GRACE_PADDING


def launcher_pod(
    vmi: dict,
    kubevirt: tuple[int, ...],
    tag: str,
    ratio: str,
    extra_affinity: dict | None = None,
    discovery: bool = True,
) -> dict:
    """The virt-launcher pod of a VMI: requests = VMI requests + KubeVirt's memory overhead, the
    KubeVirt device resources, the VMI's scheduling constraints, no nodeName (the scheduler decides).
    Volumes are not mounted: the emulated cluster has no CSI, storage is modelled by the Longhorn area."""
    meta, spec = vmi["metadata"], vmi["spec"]
    vm_name = meta["name"]
    domain = spec.get("domain") or {}
    res = domain.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    mem = req.get("memory") or lim.get("memory") or (domain.get("memory") or {}).get("guest") or "0"
    mem_req = m.to_bytes(mem)
    overhead = m.memory_overhead(domain, mem_req, kubevirt, ratio)
    devices = {f"devices.kubevirt.io/{d}": "1" for d in ("kvm", "tun", "vhost-net")}
    requests = {"memory": str(mem_req + overhead), **devices}
    limits = dict(devices)
    if req.get("cpu") or lim.get("cpu"):
        requests["cpu"] = str(req.get("cpu") or lim.get("cpu"))
    if lim.get("cpu"):
        limits["cpu"] = str(lim["cpu"])
    if lim.get("memory"):
        limits["memory"] = str(m.to_bytes(lim["memory"]) + overhead)
    cpu = domain.get("cpu") or {}
    affinity = cpu_affinity(copy.deepcopy(spec.get("affinity") or {}), cpu, kubevirt, discovery)
    if extra_affinity:
        terms = affinity.setdefault("nodeAffinity", {}).setdefault(
            "requiredDuringSchedulingIgnoredDuringExecution", {"nodeSelectorTerms": []}
        )["nodeSelectorTerms"]
        if not terms:
            terms.append({})
        for term in terms:
            term.setdefault("matchExpressions", []).append(extra_affinity)
    suffix = "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))
    labels = {**(meta.get("labels") or {}), "kubevirt.io": "virt-launcher", CREATED_BY: meta["uid"]}
    labels["vm.kubevirt.io/name"] = vm_name
    labels.pop("kubevirt.io/nodeName", None)
    pod_spec: dict = {
        "containers": [
            {
                "name": "compute",
                "image": f"{suse_repository(tag)}/virt-launcher:{tag}",
                "command": ["/usr/bin/virt-launcher-monitor"],
                "resources": {"requests": requests, "limits": limits},
            }
        ],
        "nodeSelector": {
            **(spec.get("nodeSelector") or {}),
            "kubevirt.io/schedulable": "true",
            **cpu_node_selectors(cpu, discovery),
        },
        "tolerations": list(spec.get("tolerations") or []) + NOT_READY_TOLERATIONS,
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": launcher_grace_period(spec),
        "hostname": spec.get("hostname") or vm_name,
    }
    if affinity:
        pod_spec["affinity"] = affinity
    for key in ("priorityClassName", "schedulerName", "topologySpreadConstraints"):
        if spec.get(key):
            pod_spec[key] = spec[key]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"virt-launcher-{vm_name}-{suffix}"[:63],
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {"kubevirt.io/domain": vm_name, "kubectl.kubernetes.io/default-container": "compute"},
            "ownerReferences": [owner(vmi)],
        },
        "spec": pod_spec,
    }


def set_finalizers(cl: Cluster, res: R.Resource, obj: dict, finalizers: list[str]) -> dict:
    """Replace an object's finalizers only if they are still those it was read with (KubeVirt's
    test-and-replace patch): a concurrent change makes this a conflict, retried on the next tick."""
    meta = obj["metadata"]
    ops: list[dict] = [{"op": "add", "path": "/metadata/finalizers", "value": finalizers}]
    if "finalizers" in meta:
        ops = [
            {"op": "test", "path": "/metadata/finalizers", "value": meta["finalizers"]},
            {"op": "replace", "path": "/metadata/finalizers", "value": finalizers},
        ]
    return cl.json_patch(res, meta["name"], ops, meta.get("namespace"))


def pod_running(pod: dict | None) -> bool:
    return bool(pod) and (pod.get("status") or {}).get("phase") == "Running" and bool(pod["spec"].get("nodeName"))


def condition(ctype: str, status: str, reason: str = "", message: str = "", old: list | None = None) -> dict:
    prev = next((c for c in old or [] if c.get("type") == ctype), None)
    since = prev.get("lastTransitionTime") if prev and prev.get("status") == status else stamp()
    c = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def replacing(old: dict | None, new: dict) -> dict:
    """A merge patch value that replaces a map: keys that are gone are set to null."""
    return {**{k: None for k in old or {} if k not in new}, **new}


def _cond_key(conds: list) -> list:
    return sorted((c.get("type"), c.get("status"), c.get("reason", ""), c.get("message", "")) for c in conds or [])


class VirtController:
    """virt-controller (VM -> VMI -> launcher pod) and virt-handler (VMI status) in one loop."""

    def __init__(self, cl: Cluster) -> None:
        self.cl = cl
        self.cdi = False
        self.discovery = True
        self.cpu_model = ""

    def reconcile(self) -> None:
        kv, kubevirt, tag, ratio = kubevirt_info(self.cl)
        if not kv:
            return
        self.discovery = cpu_node_discovery(kv, kubevirt)
        self.cpu_model = str(((kv.get("spec") or {}).get("configuration") or {}).get("cpuModel") or "")
        harvester = harvester_version(self.cl)
        self.cdi = harvester >= CDI_SINCE
        ratio = self._guest_overhead_ratio(kv, ratio, harvester)
        vmis = {(v["metadata"]["namespace"], v["metadata"]["name"]): v for v in self.cl.list(R.VMIS)}
        pods: dict[str, list[dict]] = defaultdict(list)
        for pod in self.cl.list(R.PODS, label_selector=LAUNCHER):
            pods[(pod["metadata"].get("labels") or {}).get(CREATED_BY, "")].append(pod)
        claims: dict[str, dict[str, dict]] = defaultdict(dict)  # namespace -> name -> PVC
        for pvc in self.cl.list(R.PVCS):
            claims[pvc["metadata"]["namespace"]][pvc["metadata"]["name"]] = pvc
        vms = self.cl.list(R.VMS)

        # In one tick: VM -> VMI (and its pod), VMI status from the pod, VM status from the VMI;
        # each step for every object on the workers (one object's writes touch no other's).
        def ensure(vm: dict) -> None:
            key = (vm["metadata"]["namespace"], vm["metadata"]["name"])
            try:
                vmis[key] = self._ensure_vmi(vm, vmis.get(key))
            except ApiError as exc:
                log.warning("vm %s/%s: %s", *key, exc)

        def sync(item: tuple[tuple[str, str], dict | None]) -> None:
            key, vmi = item
            if vmi is None:
                return
            try:
                uid, ns = vmi["metadata"]["uid"], vmi["metadata"]["namespace"]
                vmis[key] = self._sync_vmi(vmi, pods.get(uid, []), claims.get(ns, {}), kubevirt, tag, ratio)
            except ApiError as exc:
                log.warning("vmi %s/%s: %s", *key, exc)

        def report(vm: dict) -> None:
            key = (vm["metadata"]["namespace"], vm["metadata"]["name"])
            try:
                self._vm_status(vm, vmis.get(key))
                self._vm_finalizer(vm, vmis.get(key))
            except ApiError as exc:
                log.warning("vm %s/%s: %s", *key, exc)

        each(self.cl, ensure, vms)
        each(self.cl, sync, list(vmis.items()))
        each(self.cl, report, vms)

    # -- Harvester's setting controller for additional-guest-memory-overhead-ratio (v1.4.0+) --------
    def _guest_overhead_ratio(self, kv: dict, ratio: str, harvester: tuple[int, ...]) -> str:
        """Copies the Harvester setting into the KubeVirt CR, removing the field when the setting
        counts as unset (empty or "0", HV v1.4.3 `additional_guest_memory_overhead.go`); returns the
        ratio now in effect."""
        if harvester < (1, 4):
            return ratio
        setting = self.cl.get(R.HARVESTER_SETTINGS, "additional-guest-memory-overhead-ratio") or {}
        value = (setting.get("value") or setting.get("default") or "").strip()
        want = value if m.ratio_is_set(value) else None
        have = ((kv.get("spec") or {}).get("configuration") or {}).get("additionalGuestMemoryOverheadRatio")
        if want != have:
            self.cl.patch(
                R.KUBEVIRTS,
                "kubevirt",
                {"spec": {"configuration": {"additionalGuestMemoryOverheadRatio": want}}},
                KV_NS,
            )
        return want or ""

    # -- VM -> VMI -------------------------------------------------------------------------------
    def _vm_finalizer(self, vm: dict, vmi: dict | None) -> None:
        """The VM controller's finalizer: added to every live VM, removed from a deleted one only
        once its VMI is gone (KV `vm.go`: addVMFinalizer / removeVMFinalizer)."""
        meta = vm["metadata"]
        held = VM_CONTROLLER_FINALIZER in (meta.get("finalizers") or [])
        if meta.get("deletionTimestamp"):
            if held and vmi is None:
                set_finalizers(self.cl, R.VMS, vm, [f for f in meta["finalizers"] if f != VM_CONTROLLER_FINALIZER])
        elif not held:
            set_finalizers(self.cl, R.VMS, vm, [*(meta.get("finalizers") or []), VM_CONTROLLER_FINALIZER])

    def _ensure_vmi(self, vm: dict, vmi: dict | None) -> dict | None:
        meta = vm["metadata"]
        ns, name = meta["namespace"], meta["name"]
        run = wants_running(vm) and not meta.get("deletionTimestamp")
        if vmi is not None and vmi["metadata"].get("deletionTimestamp"):
            return vmi
        if run and vmi is None:
            return self._create_vmi(vm)
        if (run and (vmi.get("status") or {}).get("phase") in m.FINAL_PHASES) or (not run and vmi is not None):
            # Stopped, or RerunOnFailure (a new VMI once this one is gone): wound down in this tick.
            self.cl.delete(R.VMIS, name, ns)
            return self.cl.get(R.VMIS, name, ns)
        return vmi

    def _vm_status(self, vm: dict, vmi: dict | None) -> None:
        meta = vm["metadata"]
        ns, name = meta["namespace"], meta["name"]
        run = wants_running(vm) and not meta.get("deletionTimestamp")
        st = (vmi or {}).get("status") or {}
        conds = st.get("conditions") or []
        paused = any(c.get("type") == "Paused" and c.get("status") == "True" for c in conds)
        if vmi is None:
            printable, ready = ("Starting" if run else "Stopped"), False
        elif st.get("phase") == "Running" and st.get("nodeName"):
            printable, ready = ("Paused" if paused else "Running"), not paused
        else:
            printable, ready = "Starting", False
        old = vm.get("status") or {}
        if old.get("printableStatus") == printable and bool(old.get("ready")) == ready and "created" in old:
            return
        status = {
            "printableStatus": printable,
            "ready": ready,
            "created": vmi is not None,
            "conditions": [
                condition("Ready", "True" if ready else "False", "" if ready else "NotReady", old=old.get("conditions"))
            ],
        }
        self.cl.patch(R.VMS, name, {"status": status}, ns, sub="status")

    def _create_vmi(self, vm: dict) -> dict:
        meta, template = vm["metadata"], vm["spec"]["template"]
        tmeta = template.get("metadata") or {}
        body = {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstance",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "labels": dict(tmeta.get("labels") or {}),
                "annotations": {
                    **(tmeta.get("annotations") or {}),
                    "kubevirt.io/latest-observed-api-version": "v1",
                    "kubevirt.io/storage-observed-api-version": "v1",
                },
                "ownerReferences": [owner(vm)],
                # The VM controller's, then virt-api's mutator appends its own.
                "finalizers": [VM_CONTROLLER_FINALIZER, VMI_FINALIZER],
            },
            "spec": default_cpu_model(copy.deepcopy(template.get("spec") or {}), self.cpu_model),
            "status": {
                "phase": "Pending",
                "phaseTransitionTimestamps": [{"phase": "Pending", "phaseTransitionTimestamp": stamp()}],
            },
        }
        return self.cl.create(R.VMIS, body, meta["namespace"])

    # -- VMI -> launcher pod, and the VMI's status as virt-handler reports it ---------------------
    def _sync_vmi(
        self, vmi: dict, pods: list[dict], claims: dict, kubevirt: tuple[int, ...], tag: str, ratio: str
    ) -> dict | None:
        """Returns the VMI as last written (None once it is gone); `claims`: its namespace's PVCs by name."""
        meta = vmi["metadata"]
        ns, name = meta["namespace"], meta["name"]
        st = vmi.get("status") or {}
        phase = st.get("phase") or "Pending"
        if meta.get("deletionTimestamp") or phase in m.FINAL_PHASES:
            return self._wind_down(vmi, pods)
        if fault_of(vmi) == "stale-virt-handler":
            return vmi
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        if phase != "Running":
            if not live:
                self.cl.create(R.PODS, launcher_pod(vmi, kubevirt, tag, ratio, discovery=self.discovery), ns)
                if phase != "Scheduling":
                    return self._patch_vmi(vmi, {"status": {"phase": "Scheduling", **self._phase_ts(st, "Scheduling")}})
                return vmi
            pod = next((p for p in live if pod_running(p)), None)
            if pod is None:
                return vmi
            node = pod["spec"]["nodeName"]
            # Running, the node and the conditions are reported together, in one write.
            started = {"phase": "Running", "nodeName": node, **self._phase_ts(st, "Running")}
            st = {**st, "phase": "Running", "nodeName": node}
        else:
            started = {}
        node = st.get("nodeName")
        current = next((p for p in live if p["spec"].get("nodeName") == node and pod_running(p)), None)
        migrating = (st.get("migrationState") or {}).get("targetPod") and not (
            (st.get("migrationState") or {}).get("completed") or (st.get("migrationState") or {}).get("failed")
        )
        if current is None and not migrating:
            # The launcher died under a running VMI: the VMI fails (the VM's run strategy restarts it).
            return self._patch_vmi(
                vmi, {"status": {"phase": "Failed", "reason": "PodTerminating", **self._phase_ts(st, "Failed")}}
            )
        if current is None:
            return vmi
        volumes = m.versioned_volume_status(
            m.volume_status(vmi["spec"], claims, st.get("volumeStatus"), self.cdi), kubevirt
        )
        ok, reason, message, block = m.live_migration_condition(
            {**vmi, "status": {**st, "volumeStatus": volumes}}, kubevirt
        )
        old = st.get("conditions") or []
        conds = [
            condition("Ready", "True", old=old),
            condition(m.LIVE_MIGRATABLE, "True" if ok else "False", reason, message, old=old),
        ]
        if fault_of(vmi) == "io-error":
            conds.append(condition("Paused", "True", "PausedIOError", "VMI was paused, IO error", old=old))
        # virt-handler writes the method only when it first adds the LiveMigratable condition.
        first = not any(c.get("type") == m.LIVE_MIGRATABLE for c in old)
        method = m.migration_method(block) if first else st.get("migrationMethod")
        crc = zlib.crc32(f"{ns}/{name}".encode())
        pod_ip = (current.get("status") or {}).get("podIP", "")
        want = {
            "conditions": conds,
            "volumeStatus": volumes,
            "activePods": {p["metadata"]["uid"]: p["spec"]["nodeName"] for p in live if p["spec"].get("nodeName")},
            "interfaces": m.interface_statuses(vmi["spec"], pod_ip, crc, kubevirt),
            "qosClass": (current.get("status") or {}).get("qosClass") or "Burstable",
            "launcherContainerImageVersion": f"{suse_repository(tag)}/virt-launcher:{tag}",
        }
        if method:
            want["migrationMethod"] = method
        if (
            not started
            and _cond_key(old) == _cond_key(conds)
            and all(st.get(k) == want[k] for k in want if k != "conditions")
        ):
            return vmi
        want["activePods"] = replacing(st.get("activePods"), want["activePods"])
        patch: dict = {"status": {**want, **started}}
        if started:
            patch["metadata"] = {"labels": {"kubevirt.io/nodeName": started["nodeName"]}}
        return self._patch_vmi(vmi, patch)

    def _wind_down(self, vmi: dict, pods: list[dict]) -> dict | None:
        """A deleted or final VMI (None once gone). virt-controller deletes a deleted VMI's pods;
        virt-handler then reports the domain shut down (Succeeded); once final, the VM controller
        drops its finalizer and, when no pod of the VMI is left, the VMI controller drops virt-api's
        (KV `vmi.go` sync and updateStatus, `vm.go` removeVMIFinalizer)."""
        meta, st = vmi["metadata"], vmi.get("status") or {}
        if meta.get("deletionTimestamp"):
            for pod in pods:
                if not pod["metadata"].get("deletionTimestamp"):
                    self.cl.delete(R.PODS, pod["metadata"]["name"], meta["namespace"])
            if st.get("phase") not in m.FINAL_PHASES:
                # A stuck virt-handler reports nothing: virt-controller fails the VMI once its pod
                # is gone (updateStatus: a running VMI without its pod).
                phase = "Failed" if fault_of(vmi) == "stale-virt-handler" else "Succeeded"
                if phase == "Failed" and pods:
                    return vmi
                return self._patch_vmi(vmi, {"status": {"phase": phase, **self._phase_ts(st, phase)}})
        held = meta.get("finalizers") or []
        keep = [f for f in held if f != VM_CONTROLLER_FINALIZER and (f != VMI_FINALIZER or pods)]
        if keep != held:
            out = set_finalizers(self.cl, R.VMIS, vmi, keep)
            return None if removed(out) else out
        return vmi

    def _phase_ts(self, st: dict, phase: str) -> dict:
        return {
            "phaseTransitionTimestamps": list(st.get("phaseTransitionTimestamps") or [])
            + [{"phase": phase, "phaseTransitionTimestamp": stamp()}]
        }

    def _patch_vmi(self, vmi: dict, patch: dict) -> dict:
        # VMIs have no status subresource: status goes with the object.
        return self.cl.patch(R.VMIS, vmi["metadata"]["name"], patch, vmi["metadata"]["namespace"])


class MigrationController:
    """virt-controller's migration controller plus what virt-handler/virt-launcher report; the
    VMIM status carries only what the running KubeVirt's types have (`m.vmim_status`)."""

    def __init__(self, cl: Cluster) -> None:
        self.cl = cl
        self.kubevirt: tuple[int, ...] = (99,)
        self.discovery = True

    def reconcile(self) -> None:
        migrations = [x for x in self.cl.list(R.VMIMS) if (x.get("status") or {}).get("phase") not in m.FINAL_PHASES]
        if not migrations:
            return
        kv, kubevirt, tag, ratio = kubevirt_info(self.cl)
        self.kubevirt = kubevirt
        self.discovery = cpu_node_discovery(kv, kubevirt)
        base = m.effective_migrations(kv, kubevirt)
        kv_fault = fault_of(kv)
        policies = [] if kv_fault == "ignore-migration-policies" else self.cl.list(R.MIGRATION_POLICIES)
        active = [x for x in migrations if (x.get("status") or {}).get("phase") in ACTIVE_PHASES]
        outbound: dict[str, int] = defaultdict(int)
        states = {
            (v.get("status") or {}).get("migrationState", {}).get("migrationUid"): v["status"]["migrationState"]
            for v in self.cl.list(R.VMIS)
            if (v.get("status") or {}).get("migrationState")
        }
        for x in active:
            state = states.get(x["metadata"]["uid"]) or (x.get("status") or {}).get("migrationState") or {}
            outbound[state.get("sourceNode", "")] += 1
        counts = {"cluster": len(active), "outbound": outbound}
        for mig in sorted(
            migrations, key=lambda x: (x["metadata"].get("creationTimestamp", ""), x["metadata"]["name"])
        ):
            try:
                self._step(mig, base, policies, counts, kv_fault, kubevirt, tag, ratio)
            except ApiError as exc:
                log.warning("migration %s/%s: %s", mig["metadata"]["namespace"], mig["metadata"]["name"], exc)

    # -- helpers ---------------------------------------------------------------------------------
    def _set(self, mig: dict, phase: str | None, extra: dict | None = None) -> None:
        st = mig.get("status") or {}
        status: dict = dict(extra or {})
        if phase and phase != st.get("phase"):
            status["phase"] = phase
            status["phaseTransitionTimestamps"] = list(st.get("phaseTransitionTimestamps") or []) + [
                {"phase": phase, "phaseTransitionTimestamp": stamp()}
            ]
        status = m.vmim_status(status, self.kubevirt)
        if "migrationState" in status:
            status["migrationState"] = replacing(st.get("migrationState"), status["migrationState"])
        if status:
            self.cl.patch(
                R.VMIMS, mig["metadata"]["name"], {"status": status}, mig["metadata"]["namespace"], sub="status"
            )

    def _fail(self, mig: dict, reason: str, message: str) -> None:
        cond = {"type": "Failed", "status": "True", "reason": reason, "message": message, "lastTransitionTime": stamp()}
        self._set(mig, "Failed", {"conditions": [cond]})
        log.info("migration %s/%s failed: %s", mig["metadata"]["namespace"], mig["metadata"]["name"], message)

    def _pod(self, ns: str, uid: str) -> dict | None:
        pods = self.cl.list(R.PODS, ns, label_selector=LAUNCHER)
        return next((p for p in pods if p["metadata"]["uid"] == uid), None)

    def _target_selector(
        self, mig: dict, vmi: dict, rendered: dict, source: str, source_pod: dict | None, kubevirt: tuple[int, ...]
    ) -> dict | None:
        """createTargetPod's node selector: the migration's addedNodeSelector (KV 1.6+) under the
        rendered one; for a host-model VMI the CPU selectors of prepareNodeSelectorForHostCpuModel;
        from KV 1.6 the source node's CPU vendor unless one is selected already."""
        selector = {**(((mig.get("spec") or {}).get("addedNodeSelector") or {}) if kubevirt >= (1, 6) else {})}
        selector.update(rendered)
        cpu = ((vmi.get("spec") or {}).get("domain") or {}).get("cpu") or {}
        node = self.cl.get(R.NODES, source) or {}
        if cpu.get("model") == HOST_MODEL:
            cpu_selector = host_model_selectors(node, ((source_pod or {}).get("spec") or {}).get("nodeSelector") or {})
            if cpu_selector is None:
                log.warning(
                    "migration %s: node %s has no %s label", mig["metadata"]["name"], source, HOST_MODEL_CPU_LABEL
                )
                return None
            selector.update(cpu_selector)
        if kubevirt >= (1, 6) and not any(k.startswith(CPU_VENDOR_LABEL) for k in selector):
            vendor = next(
                (k for k in (node.get("metadata") or {}).get("labels") or {} if k.startswith(CPU_VENDOR_LABEL)), ""
            )
            if vendor:
                selector[vendor] = "true"
        return selector

    def _vmi_state(self, vmi: dict, state: dict, extra: dict | None = None) -> None:
        state = replacing((vmi.get("status") or {}).get("migrationState"), m.migration_state(state, self.kubevirt))
        self.cl.patch(
            R.VMIS,
            vmi["metadata"]["name"],
            {**(extra or {}), "status": {**((extra or {}).get("status") or {}), "migrationState": state}},
            vmi["metadata"]["namespace"],
        )

    def _ns_labels(self, ns: str) -> dict:
        try:
            item = self.cl.get(R.NAMESPACES, ns) or {}
            return (item.get("metadata") or {}).get("labels") or {}
        except ApiError:  # the simulator may not read namespaces: only the automatic label is known
            return {"kubernetes.io/metadata.name": ns}

    # -- one phase per tick ----------------------------------------------------------------------
    def _step(
        self,
        mig: dict,
        base: dict,
        policies: list,
        counts: dict,
        kv_fault: str,
        kubevirt: tuple[int, ...],
        tag: str,
        ratio: str,
    ) -> None:
        meta = mig["metadata"]
        ns = meta["namespace"]
        st = mig.get("status") or {}
        phase = st.get("phase") or ""
        vmi = self.cl.get(R.VMIS, (mig.get("spec") or {}).get("vmiName") or "", ns)
        if vmi is None:
            self._fail(mig, "VMINotFound", f"the VMI {ns}/{(mig.get('spec') or {}).get('vmiName')} does not exist")
            return
        vst = vmi.get("status") or {}
        # The VMI's migrationState is the record (a VMIM of KubeVirt 0.54 has none).
        vmi_state = vst.get("migrationState") or {}
        state = dict(vmi_state if vmi_state.get("migrationUid") == meta["uid"] else st.get("migrationState") or {})
        if phase in ("", "Pending"):
            if vst.get("phase") != "Running" or not vst.get("nodeName"):
                self._fail(mig, "VMINotRunning", f"VMI {ns}/{vmi['metadata']['name']} is not running")
                return
            pvcs = {p["metadata"]["name"]: p for p in self.cl.list(R.PVCS, ns)}
            volumes = m.versioned_volume_status(
                m.volume_status(vmi["spec"], pvcs, vst.get("volumeStatus"), False), kubevirt
            )
            ok, reason, message, _ = m.live_migration_condition(
                {**vmi, "status": {**vst, "volumeStatus": volumes}}, kubevirt
            )
            cond = next((c for c in vst.get("conditions") or [] if c.get("type") == m.LIVE_MIGRATABLE), {})
            if cond.get("status") == "False" and ok:
                ok, reason, message = False, cond.get("reason", ""), cond.get("message", "")
            if not ok:
                self._fail(mig, reason or "NotLiveMigratable", message)
                return
            if phase == "":
                self._set(mig, "Pending")
                return
            source = vst["nodeName"]
            if counts["cluster"] >= int(base["parallelMigrationsPerCluster"]):
                return
            if kv_fault != "ignore-migration-limits" and counts["outbound"][source] >= int(
                base["parallelOutboundMigrationsPerNode"]
            ):
                return
            expr = {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": [source]}
            pod = launcher_pod(vmi, kubevirt, tag, ratio, extra_affinity=expr, discovery=self.discovery)
            pod["metadata"]["labels"][MIGRATION_LABEL] = meta["uid"]
            source_pod = next((uid for uid, node in (vst.get("activePods") or {}).items() if node == source), "")
            source_obj = self._pod(ns, source_pod)
            selector = self._target_selector(mig, vmi, pod["spec"]["nodeSelector"], source, source_obj, kubevirt)
            if selector is None:
                return  # the source node has no host-model label yet: retried on a later tick
            pod["spec"]["nodeSelector"] = selector
            created = self.cl.create(R.PODS, pod, ns)
            source_pod_name = (source_obj or {}).get("metadata", {}).get("name", "")
            state = {
                "sourceNode": source,
                "targetPod": created["metadata"]["name"],
                "migrationUid": meta["uid"],
            }
            if source_pod_name:
                state["sourcePod"] = source_pod_name
            counts["cluster"] += 1
            counts["outbound"][source] += 1
            self._set(mig, "Scheduling", {"migrationState": state})
            self._vmi_state(vmi, state)
            log.info(
                "migration %s/%s scheduling %s from %s (%s)",
                ns,
                meta["name"],
                created["metadata"]["name"],
                source,
                source_pod,
            )
            return
        target = self.cl.get(R.PODS, state.get("targetPod", ""), ns) if state.get("targetPod") else None
        if target is None and phase in ACTIVE_PHASES:
            self._fail(mig, "TargetPodGone", f"target pod {state.get('targetPod')} disappeared")
            self._vmi_state(vmi, {**state, "failed": True, "endTimestamp": stamp()})
            return
        if phase == "Scheduling":
            if target["spec"].get("nodeName"):
                state["targetNode"] = target["spec"]["nodeName"]
                self._set(mig, "Scheduled", {"migrationState": state})
                self._vmi_state(vmi, state)
        elif phase == "Scheduled":
            if pod_running(target):
                self._set(mig, "PreparingTarget")
        elif phase == "PreparingTarget":
            node = self.cl.get(R.NODES, state["targetNode"]) or {}
            address = next(
                (a["address"] for a in (node.get("status") or {}).get("addresses") or [] if a["type"] == "InternalIP"),
                "",
            )
            state.update({"targetNodeAddress": address, "targetNodeDomainDetected": True})
            state["targetNodeDomainReadyTimestamp"] = stamp()
            self._set(mig, "TargetReady", {"migrationState": state})
            self._vmi_state(vmi, state)
        elif phase == "TargetReady":
            ns_labels = self._ns_labels(ns)
            policy = m.match_policy(policies, vmi["metadata"].get("labels") or {}, ns_labels, kubevirt)
            state.update(
                {
                    "startTimestamp": stamp(),
                    "mode": "PreCopy",
                    "migrationConfiguration": m.with_policy(base, policy),
                }
            )
            if policy:
                state["migrationPolicyName"] = policy["metadata"]["name"]
            self._set(mig, "Running", {"migrationState": state})
            self._vmi_state(vmi, state)
        elif phase == "Running":
            if fault_of(mig) == "stuck-migration":
                return  # the migration monitor hangs: no progress, no timeout
            if kv_fault == "migration-network-down":  # the source cannot reach the target: libvirt gives up
                reason = f"migration failed: unable to connect to {state.get('targetNodeAddress')}: connection refused"
                state.update({"failed": True, "endTimestamp": stamp(), "failureReason": reason})
                self._vmi_state(vmi, state)
                self.cl.delete(R.PODS, target["metadata"]["name"], ns)
                self._fail(mig, "MigrationFailed", reason)
                return
            started = parse_stamp(state.get("startTimestamp")) or now()
            elapsed = (now() - started).total_seconds()
            per_gib = int((state.get("migrationConfiguration") or base).get("completionTimeoutPerGiB") or 0)
            limit = per_gib * m.data_size_units(vmi["spec"])
            if limit and elapsed > limit:
                state.update(
                    {
                        "failed": True,
                        "endTimestamp": stamp(),
                        "failureReason": f"migration timed out after {int(elapsed)}s",
                    }
                )
                self._vmi_state(vmi, state)
                self.cl.delete(R.PODS, target["metadata"]["name"], ns)
                self._fail(mig, "CompletionTimeout", f"live migration did not complete within {limit}s")
                return
            if elapsed < RUNNING_SECONDS:
                return
            target_node = target["spec"]["nodeName"]
            state.update({"completed": True, "endTimestamp": stamp()})
            self._vmi_state(
                vmi,
                state,
                {"metadata": {"labels": {"kubevirt.io/nodeName": target_node}}, "status": {"nodeName": target_node}},
            )
            for pod in self.cl.list(R.PODS, ns, label_selector=f"{CREATED_BY}={vmi['metadata']['uid']}"):
                if pod["metadata"]["name"] != target["metadata"]["name"]:
                    self.cl.delete(R.PODS, pod["metadata"]["name"], ns)
            self._set(mig, "Succeeded", {"migrationState": state})
