"""Put a profile's objects into a fresh emulated cluster, through the real API server."""

from __future__ import annotations

import base64
import json
import string
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import clock, crd_fields, lifecycle
from harvester_conformance.emulator.profiles import PROFILES, STORAGE_NETWORK_SETTING, ProfileSpec, suse_repository
from harvester_conformance.emulator.simulator.informers import CachedCluster, Reads
from harvester_conformance.emulator.simulator.webhooks import SETTING_PATH
from harvester_conformance.waits import TIMEOUTS, wait_for

MANAGER = "harvester-conformance-emulator"
CRD_DIR = Path(__file__).with_name("crds")
NAMESPACES = ("harvester-system", "longhorn-system", "cattle-system", "cattle-global-data", "fleet-local")
Progress = Callable[[str], None]
T = TypeVar("T")

# What the simulator may touch: Harvester, KubeVirt and Longhorn objects, and the core objects
# those controllers own upstream. Bound to the simulator's client identity.
SIMULATOR_RULES = [
    {
        "apiGroups": [
            "harvesterhci.io",
            "kubevirt.io",
            "migrations.kubevirt.io",
            "longhorn.io",
            "loadbalancer.harvesterhci.io",
            "network.harvesterhci.io",
            "cdi.kubevirt.io",
            "snapshot.storage.k8s.io",
            "management.cattle.io",
            "provisioning.cattle.io",
            "cluster.x-k8s.io",
            "fleet.cattle.io",
        ],
        "resources": ["*"],
        "verbs": ["*"],
    },
    {
        "apiGroups": [""],
        "resources": [
            "secrets",
            "configmaps",
            "pods",
            "pods/status",
            "pods/binding",
            "nodes",
            "nodes/status",
            "persistentvolumeclaims",
            "persistentvolumes",
            "services",
            "endpoints",
            "events",
        ],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "daemonsets", "replicasets"],
        "verbs": ["get", "list", "watch", "update", "patch"],
    },
    {
        "apiGroups": ["storage.k8s.io", "scheduling.k8s.io", "k8s.cni.cncf.io"],
        "resources": ["*"],
        "verbs": ["get", "list", "watch"],
    },
    # Harvester's vm-migration-network controller (v1.6.0+) creates the migration network's bridge
    # NetworkAttachmentDefinition and deletes the one it replaces.
    {"apiGroups": ["k8s.cni.cncf.io"], "resources": ["network-attachment-definitions"], "verbs": ["create", "delete"]},
    # patch: Harvester's cluster-pod-security-standard controller labels namespaces (v1.8.0+).
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch"]},
]


# What differs between releases' CRDs (facts-releases.md R4.2, R5.1): Longhorn 1.10 serves only
# longhorn.io/v1beta2 (LM k8s/crds.yaml @v1.10.2: no v1beta1, no conversion webhook);
# network-controller 1.8.0 (Harvester v1.8) adds HostNetworkConfig.
REMOVED_VERSIONS = {"longhorn.io": ("v1beta1", "longhorn", (1, 10, 0))}
ADDED_CRDS = {
    "hostnetworkconfigs.network.harvesterhci.io": ("harvester", (1, 8, 0)),
    "volumeattachments.longhorn.io": ("longhorn", (1, 5, 0)),  # ticket-based attachments from Longhorn 1.5
    "cloudinits.node.harvesterhci.io": ("harvester", (1, 3, 0)),  # node-manager v0.2.0 (chart 0.2.3)
}


def crd_documents(spec: ProfileSpec | None = None) -> list[dict]:
    """The CRDs a profile's release serves; without a profile, those every profile serves."""
    docs: list[dict] = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return [for_release(d, spec) for d in docs if _has_crd(d, spec)]


def _component(spec: ProfileSpec, name: str) -> tuple[int, ...]:
    return _release(getattr(spec, name).split("-")[0])


def _has_crd(crd: dict, spec: ProfileSpec | None) -> bool:
    rule = ADDED_CRDS.get(crd["metadata"]["name"])
    return rule is None or (spec is not None and _component(spec, rule[0]) >= rule[1])


def for_release(crd: dict, spec: ProfileSpec | None) -> dict:
    """The CRD as the profile's release has it: without the fields its components do not have yet
    (`crd_fields.GATED_FIELDS`), and without the API version its release removed (and then without
    conversion). Without a profile, the union schema every profile's is cut from."""
    if spec is None:
        return crd
    versions = {name: _component(spec, name) for name in ("kubevirt", "longhorn", "harvester")}
    missing = crd_fields.missing_fields(crd["metadata"]["name"], versions)
    if missing:
        crd = crd_fields.without_fields(crd, [f.path for f in missing])
    rule = REMOVED_VERSIONS.get(crd["spec"]["group"])
    if rule is None or _component(spec, rule[1]) < rule[2]:
        return crd
    versions = [v for v in crd["spec"]["versions"] if v["name"] != rule[0]]
    body = {k: v for k, v in crd["spec"].items() if k != "conversion"}
    return {**crd, "spec": {**body, "versions": versions}}


def to_simulator(crd: dict, st: lifecycle.State) -> dict:
    """A CRD converting through a webhook, its clientConfig pointed at the simulator: the CRD files
    keep upstream's Service reference (which no kube-proxy routes here); its path becomes a URL on
    the simulator's loopback port, verified with the cluster CA, as `register_webhooks` does."""
    webhook = ((crd.get("spec") or {}).get("conversion") or {}).get("webhook")
    if not webhook:
        return crd
    service = webhook["clientConfig"]["service"]
    ca_bundle = base64.b64encode((st.dir / "pki" / "ca.crt").read_bytes()).decode()
    url = f"https://127.0.0.1:{st.ports['simulator']}{service['path']}"
    client = {"url": url, "caBundle": ca_bundle}
    conversion = {**crd["spec"]["conversion"], "webhook": {**webhook, "clientConfig": client}}
    return {**crd, "spec": {**crd["spec"], "conversion": conversion}}


def prepare(cl: Cluster, st: lifecycle.State, progress: Progress) -> None:
    for ns in NAMESPACES:
        cl.apply(R.NAMESPACES, {"metadata": {"name": ns}}, manager=MANAGER)
    crds = [to_simulator(crd, st) for crd in crd_documents(PROFILES.get(st.profile))]
    for crd in crds:
        cl.apply(R.CRDS, crd, manager=MANAGER)
    names = [c["metadata"]["name"] for c in crds]

    def established() -> bool:
        for name in names:
            conds = (cl.get(R.CRDS, name) or {}).get("status", {}).get("conditions", [])
            if not any(c["type"] == "Established" and c["status"] == "True" for c in conds):
                return False
        return True

    wait_for("crd-established", established)
    progress(f"{len(names)} CRDs established")
    grant_simulator(cl, "harvester-simulator", SIMULATOR_RULES)


def register_webhooks(cl: Cluster, st: lifecycle.State, areas: Sequence[ModuleType]) -> None:
    """Register the simulator's webhooks with the real apiserver, over TLS to its loopback port.

    A registration is {"kind": "validating"|"mutating", "name", "path", "rules", optional
    "failurePolicy"}; the core's Setting validator comes first, then every area's (the caller
    passes the areas: this building block imports none)."""
    ca_bundle = base64.b64encode((st.dir / "pki" / "ca.crt").read_bytes()).decode()
    base = f"https://127.0.0.1:{st.ports['simulator']}"
    regs = [
        {
            "kind": "validating",
            "name": "validator.harvesterhci.io",
            "path": SETTING_PATH,
            "rules": [
                {
                    "apiGroups": ["harvesterhci.io"],
                    "apiVersions": ["v1beta1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["settings"],
                    "scope": "Cluster",
                }
            ],
        }
    ]
    for area in areas:
        regs += area.WEBHOOKS
    for kind, res in (("validating", R.VALIDATING_WEBHOOKS), ("mutating", R.MUTATING_WEBHOOKS)):
        hooks = [
            {
                "name": r["name"],
                "clientConfig": {"url": base + r["path"], "caBundle": ca_bundle},
                "rules": r["rules"],
                "failurePolicy": r.get("failurePolicy", "Fail"),
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 10,
            }
            for r in regs
            if r["kind"] == kind
        ]
        if hooks:
            cl.apply(res, {"metadata": {"name": f"harvester-simulator-{kind}"}, "webhooks": hooks}, manager=MANAGER)


def node_body(name: str, index: int, spec: ProfileSpec) -> dict:
    capacity = {
        "cpu": "32",
        "memory": "131811764Ki",
        "pods": "200",
        "ephemeral-storage": "292837504Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "devices.kubevirt.io/kvm": "1k",
        "devices.kubevirt.io/tun": "1k",
        "devices.kubevirt.io/vhost-net": "1k",
    }
    allocatable = {**capacity, "cpu": "31800m", "memory": "131709364Ki", "ephemeral-storage": "284874165160"}
    return {
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": "true",
                "node-role.kubernetes.io/etcd": "true",
                "node-role.kubernetes.io/master": "true",
                "type": "kwok",
                "kubevirt.io/schedulable": "true",
            },
        },
        "spec": {},
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "addresses": [
                {"type": "InternalIP", "address": f"192.0.2.{11 + index}"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kubeletVersion": spec.rke2,
                "kubeProxyVersion": spec.rke2,
                "osImage": f"Harvester {spec.harvester}",
                "kernelVersion": "5.14.21-150500.55.65-default",
                "containerRuntimeVersion": "containerd://1.7.23-k3s2",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "conditions": node_conditions(),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        },
    }


def node_conditions(ready: bool = True) -> list[dict]:
    stamp = clock.stamp()
    healthy = {
        "MemoryPressure": ("False", "KubeletHasSufficientMemory"),
        "DiskPressure": ("False", "KubeletHasNoDiskPressure"),
        "PIDPressure": ("False", "KubeletHasSufficientPID"),
        "Ready": ("True" if ready else "False", "KubeletReady" if ready else "KubeletNotReady"),
    }
    return [
        {"type": t, "status": s, "reason": r, "message": r, "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}
        for t, (s, r) in healthy.items()
    ]


def node_names(spec: ProfileSpec) -> list[str]:
    return [f"harvester-node-{i}" for i in range(spec.nodes)]


SETTINGS_FILE = Path(__file__).with_name("harvester_settings.yaml")


def settings_of(spec: ProfileSpec) -> dict[str, tuple[str, str]]:
    """Every Harvester setting of the release as (default, value), "" for an unset value; the
    table, with its upstream sources, is `harvester_settings.yaml`."""
    table = yaml.safe_load(SETTINGS_FILE.read_text())
    ver = _release(spec.harvester)
    kit = table["support_bundle_kit"].get(spec.harvester)
    image = {"repository": "rancher/support-bundle-kit", "tag": kit, "imagePullPolicy": "IfNotPresent"}
    names = {
        "ui": table["ui"],
        "minor": f"v{ver[0]}.{ver[1]}",
        # json.Marshal's compact form; the code default "{}" for a release whose chart the table lacks
        "support_bundle_image": json.dumps(image, separators=(",", ":")) if kit else "{}",
    }
    defaults = {
        name: string.Template(_default_at(row, ver)).substitute(names)
        for name, row in table["settings"].items()
        if ver >= _release(row.get("since", "v0.0.0"))
    }
    installed = {name: defaults[name] for name in table["installed"]}
    values = {**installed, "server-version": spec.harvester, "storage-network": STORAGE_NETWORK_SETTING}
    if spec.upgraded_from:  # an upgrade keeps the old default of these as an explicit value
        was = _release(spec.upgraded_from)
        for name, minors in (table.get("pinned_on_upgrade") or {}).items():
            if name in defaults and any(was[:2] == _release(m) for m in minors):
                values[name] = string.Template(_default_at(table["settings"][name], was)).substitute(names)
    return {name: (default, values.get(name, "")) for name, default in defaults.items()}


def _default_at(row: dict, ver: tuple[int, ...]) -> str:
    """A setting's default at release `ver`: the last `changed` entry at or before it."""
    text = row["default"]
    for since, default in sorted((row.get("changed") or {}).items(), key=lambda kv: _release(kv[0])):
        if ver >= _release(since):
            text = default
    return text


def _release(tag: str) -> tuple[int, ...]:
    return tuple(int(x) for x in tag.lstrip("v").split("."))


def grant_simulator(cl: Cluster, role: str, rules: list[dict]) -> None:
    """A ClusterRole of `rules`, bound to the simulator's identity (the user its certificate names)."""
    cl.apply(R.CLUSTER_ROLES, {"metadata": {"name": role}, "rules": rules}, manager=MANAGER)
    cl.apply(
        R.CLUSTER_ROLE_BINDINGS,
        {
            "metadata": {"name": role},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "harvester-simulator"}],
        },
        manager=MANAGER,
    )


def populate(cl: Cluster, spec: ProfileSpec, progress: Progress) -> None:
    for i, name in enumerate(node_names(spec)):
        # Registered the way a kubelet does, status included: kwok's default stages initialise only
        # nodes without a Ready condition, so the profile's capacity and addresses stay.
        cl.create(R.NODES, {"apiVersion": "v1", "kind": "Node", **node_body(name, i, spec)})
    progress(f"{spec.nodes} kwok nodes registered")
    for name, (default, value) in settings_of(spec).items():
        # `value` is omitempty upstream: an unset setting has no value field at all.
        body = {"metadata": {"name": name}, "default": default, **({"value": value} if value else {})}
        cl.apply(R.HARVESTER_SETTINGS, body, manager=MANAGER)
    # longhorn-manager records its own version in this setting.
    cl.apply(
        R.LONGHORN_SETTINGS,
        {"metadata": {"name": "current-longhorn-version", "namespace": "longhorn-system"}, "value": spec.longhorn},
        manager=MANAGER,
    )
    cl.apply(
        R.KUBEVIRTS,
        {
            "metadata": {"name": "kubevirt", "namespace": "harvester-system"},
            "spec": {"certificateRotateStrategy": {}, "configuration": {"developerConfiguration": {}}},
        },
        manager=MANAGER,
    )
    cl.apply(
        R.KUBEVIRTS,
        {
            "metadata": {"name": "kubevirt", "namespace": "harvester-system"},
            "status": {
                "phase": "Deployed",
                "observedKubeVirtVersion": spec.kubevirt,
                "targetKubeVirtVersion": spec.kubevirt,
            },
        },
        manager=MANAGER,
        sub="status",
    )
    # The kubevirt-operator chart's PriorityClass, which virt-operator's pods name (HV
    # deploy/charts/harvester/dependency_charts/kubevirt-operator/templates/priorityclass.yaml).
    cl.apply(
        R.PRIORITY_CLASSES,
        {
            "metadata": {"name": "kubevirt-cluster-critical"},
            "value": 1000000000,
            "globalDefault": False,
            "description": "This priority class should be used for core kubevirt components only.",
        },
        manager=MANAGER,
    )
    cl.apply(R.DEPLOYMENTS, virt_operator(spec.kubevirt), manager=MANAGER)
    progress("Harvester settings, KubeVirt CR and virt-operator seeded")


SEED_WORKERS = 8  # writes a seeding step keeps in flight: each waits on the apiserver and its webhooks


def concurrently(step: Callable[[T], object], items: Sequence[T]) -> None:
    """`step` for every item, SEED_WORKERS at a time: one after another, at 2,000 VMs the seeding
    waited on webhook answers for minutes, and at 100 nodes on the per-node objects for half a one.
    The first failure is raised once every step has ended."""
    with ThreadPoolExecutor(max_workers=SEED_WORKERS) as pool:
        list(pool.map(step, items))


def populate_areas(
    cl: Cluster, spec: ProfileSpec, st: lifecycle.State, areas: Sequence[ModuleType], progress: Progress
) -> None:
    for area in areas:
        area.seed(cl, spec, st.dir, progress)


def virt_operator(tag: str) -> dict:
    return _deployment("virt-operator", "harvester-system", tag)


def _deployment(name: str, ns: str, tag: str) -> dict:
    """virt-operator's Deployment as Harvester's kubevirt-operator chart writes it: priority class
    kubevirt-cluster-critical (HV dependency_charts/kubevirt-operator/templates/deployment.yaml,
    v1.2.1 .. v1.5.0)."""
    labels = {"kubevirt.io": name}
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priorityClassName": "kubevirt-cluster-critical",
                    "containers": [
                        {
                            "name": name,
                            "image": f"{suse_repository(tag)}/{name}:{tag}",
                            "resources": {"requests": {"cpu": "10m", "memory": "150Mi"}},
                        }
                    ],
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
                },
            },
        },
    }


def await_ready(cl: Cluster, spec: ProfileSpec, areas: Sequence[ModuleType], progress: Progress) -> None:
    """`up` says ready only when what it seeded has settled: every node Ready, then each area's
    `ready()` in turn (the progress says which and what it waits for, and how long it took), then
    every area in one pass, since a later area's work can unsettle an earlier one.

    The areas' `ready()` read through watch-fed caches, as a controller waits: each type is listed
    once and then watched, and a `ready()` runs again when something it read has changed (or after
    RECHECK_SECONDS).
    Polling lists instead cost a third of the apiserver's CPU while the cluster settled (at 500 VMs
    a list of every VMI every 2 s, decoded from etcd each time), which delayed the settling it
    waited for."""
    # A stand-in for a cluster (a unit test's) has no connection to watch through: read as given.
    reader = CachedCluster(cl, threading.Event()) if isinstance(cl, Cluster) else cl
    try:
        progress(f"waiting for {spec.nodes} nodes to report Ready")
        _settle(reader, spec, [_NODES])
        progress("nodes Ready")
        for area in areas:
            progress(f"waiting for {readiness(area)}")
            started = clock.now()
            _settle(reader, spec, [area])
            progress(f"{area_name(area)} settled in {(clock.now() - started).total_seconds():.1f}s")
        _settle(reader, spec, areas)
        progress("every area settled")
    finally:
        if isinstance(reader, CachedCluster):
            reader.close()


class _NODES:  # noqa: N801 - read as an area by _settle
    """Every node reports Ready."""

    __name__ = "nodes"

    @staticmethod
    def ready(cl: Cluster, spec: ProfileSpec) -> bool:
        for node in cl.list(R.NODES):
            conds = node.get("status", {}).get("conditions", [])
            if not any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                return False
        return True


def area_name(area: ModuleType) -> str:
    return area.__name__.rsplit(".", 1)[-1]


def readiness(area: ModuleType) -> str:
    """What an area's `ready()` waits for, from its docstring (the area's name alone without one)."""
    doc = " ".join((area.ready.__doc__ or "").split()).rstrip(".")
    return f"{area_name(area)}: {doc[:1].lower() + doc[1:]}" if doc else f"{area_name(area)} to settle"


def _settle(cl: Cluster, spec: ProfileSpec, areas: Sequence[ModuleType]) -> None:
    """Wait until every one of `areas` is ready in the same pass; a timeout names those that are not.

    Through the watch-fed reader, an area that was not ready is asked again once something it read
    has changed in the caches (at once when it read past them: a TLS probe, a subresource), and
    at least every RECHECK_SECONDS regardless, as an informer resyncs: a `ready()` may also look
    at what no cache holds. Waiting then costs the apiserver little more than the watches."""
    pending: list[str] = []
    last: dict[str, tuple[Reads, float]] = {}
    cached = isinstance(cl, CachedCluster)

    def ready(area: ModuleType) -> bool:
        name = area_name(area)
        seen = last.get(name)
        if seen is not None and time.monotonic() - seen[1] < RECHECK_SECONDS and cl.unchanged(seen[0]):
            return False  # what made it not ready is still so
        if not cached:
            return area.ready(cl, spec)
        with cl.recording() as reads:
            ok = area.ready(cl, spec)
        if ok:
            last.pop(name, None)
        else:
            last[name] = (reads, time.monotonic())
        return ok

    def settled() -> bool:
        pending[:] = [area_name(a) for a in areas if not ready(a)]
        return not pending

    wait_for(
        "cluster-seeded",
        settled,
        timeout=seeding_timeout(spec),
        describe=lambda: f"not settled: {', '.join(pending)}",
        max_interval=SETTLE_INTERVAL,
    )


# The longest pause between two looks at the caches: a look that finds nothing changed is free.
SETTLE_INTERVAL = 0.5
RECHECK_SECONDS = 2.0  # an area not ready is asked again at least this often, changes or not


def seeding_timeout(spec: ProfileSpec) -> float:
    """The named timeout, grown with the size: every VM is a volume to attach and a VMI to start,
    every node a set of per-node objects (a 2,000-VM scale cluster cannot settle in 120 s)."""
    return TIMEOUTS["cluster-seeded"] + 0.2 * spec.vms + 1.0 * spec.nodes
