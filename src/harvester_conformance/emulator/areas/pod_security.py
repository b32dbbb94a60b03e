"""Area module (see areas/__init__.py): Pod Security Standards (article 2025-05-08, checks/pod_security.py).

Seed, on every profile:
- the kube-apiserver mirror pods RKE2's kubelet publishes on each control-plane node
  (`kube-system/kube-apiserver-<node>`: labels component/tier, the `kubernetes.io/config.*`
  annotations, owned by the Node), with the arguments RKE2 renders: its own
  `--admission-control-config-file=/etc/rancher/rke2/rke2-pss.yaml` first, the user's
  `kube-apiserver-arg` last (rancher/rke2 `pkg/podexecutor/staticpod.go` @v1.25.9 … v1.31.7,
  `pkg/executor/staticpod/staticpod.go` @v1.35.7; `pkg/podtemplate`; RKE2's default requests
  250m CPU / 1024M memory); RKE2's privileged default file on each host (`pkg/rke2/psa.go`).
- from v1.3.0 (node-manager's CloudInit): the article's `cluster-wide-pss-enforcement` CloudInit
  (its exemption list is the release's system namespaces: the article's 41, Harvester's built-in
  whitelist from v1.8.0, as the article invites), applied and rebooted: each control-plane host has
  `/oem/99-pss.yaml`, the RKE2 drop-in and the admission configuration its `initramfs` stage wrote,
  and each kube-apiserver runs with the file (baseline by default).
- a namespace `gpu-vms` labelled `enforce=privileged` (the article's override for workloads that
  need it) holding a stopped VM with a PCI host device.

Faults:
- PSS-01: the article's namespace-level command run on `gpu-vms` (`enforce=baseline`) on a release
  before the host-device fix (harvester issue 8218): its VM cannot start.
- PSS-02: a system namespace, `cattle-global-data`, labelled `enforce=restricted`.
- PSS-04: a later RKE2 drop-in on harvester-node-2 (`99-zz-audit.yaml`) sets `kube-apiserver-arg`
  without `+`, which replaces the list of the earlier drop-in (RKE2/k3s config.yaml.d merge: files
  in lexical order, a later key replaces, `key+` appends); after its reboot the node's apiserver
  runs without the cluster-wide configuration.

Faults from v1.8.0 (`Fault.releases`; proven on the v1.8.2 profile, not on the matrix's v1.3.1):
- PSS-03: `cluster-pod-security-standard` enabled while one namespace lost its labels (v1.8+).
- PSS-05: the setting enabled with the article's label-rejection policy bound (v1.8+).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import clock
from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs
from harvester_conformance.emulator.areas import harvester_pod_security as hps
from harvester_conformance.emulator.areas.harvester_hosts import state_dir_of
from harvester_conformance.emulator.areas.kubevirt_model import version_tuple
from harvester_conformance.emulator.faults import Fault
from harvester_conformance.emulator.profiles import ProfileSpec
from harvester_conformance.waits import wait_for

MANAGER = "harvester-conformance-pod-security"
NS = "kube-system"
CLOUD_INIT = "cluster-wide-pss-enforcement"
CLOUD_INIT_SINCE = (1, 3, 0)  # node-manager's CloudInit CRD ships with Harvester v1.3.0
OEM_FILE = "/oem/99-pss.yaml"
DROP_IN = "/etc/rancher/rke2/config.yaml.d/99-harvester-pss.yaml"
CONFIG = "/etc/rancher/rke2/config/harvester-pss.yaml"
RKE2_PSS = "/etc/rancher/rke2/rke2-pss.yaml"
LATER_DROP_IN = "/etc/rancher/rke2/config.yaml.d/99-zz-audit.yaml"
AUDIT_ARG = "audit-log-maxage=30"
GPU_NS, GPU_VM = "gpu-vms", "vm-gpu"
ENFORCE = hps.ENFORCE
FAULT_NODE = "harvester-node-2"
SYSTEM_NS = "cattle-global-data"

# rancher/rke2 pkg/rke2/psa.go unrestrictedPSAConfig.
RKE2_PSS_CONTENT = """apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1beta1
    kind: PodSecurityConfiguration
    defaults:
      enforce: "privileged"
      enforce-version: "latest"
    exemptions:
      usernames: []
      runtimeClasses: []
      namespaces: []"""


def _release(cl_or_spec: Cluster | ProfileSpec) -> tuple[int, ...]:
    if isinstance(cl_or_spec, ProfileSpec):
        return version_tuple(cl_or_spec.harvester)
    return version_tuple((cl_or_spec.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value"))


def exempt(release: tuple[int, ...]) -> list[str]:
    """The exemption list the seeded CloudInit carries: the release's system namespaces."""
    extra = ["cattle-dashboards", "fleet-local", "local", "forklift"]
    base = [n for n in hps.WHITELIST if n not in extra]
    return base + (extra if release >= hps.SINCE else [])


def admission_configuration(release: tuple[int, ...]) -> str:
    doc = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [
            {
                "name": "PodSecurity",
                "configuration": {
                    "apiVersion": "pod-security.admission.config.k8s.io/v1",
                    "kind": "PodSecurityConfiguration",
                    "defaults": {
                        "enforce": "baseline",
                        "enforce-version": "latest",
                        "audit": "baseline",
                        "audit-version": "latest",
                        "warn": "baseline",
                        "warn-version": "latest",
                    },
                    "exemptions": {"usernames": [], "runtimeClasses": [], "namespaces": exempt(release)},
                },
            }
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def drop_in(args: list[str]) -> str:
    return yaml.safe_dump({"kube-apiserver-arg": args}, sort_keys=False)


def cloud_init_contents(release: tuple[int, ...]) -> str:
    """The article's Elemental stage: the RKE2 drop-in and the admission configuration."""
    owner = {"permissions": 384, "owner": 0, "group": 0}
    stages = {
        "stages": {
            "initramfs": [
                {
                    "name": "setup harvester pss",
                    "directories": [{"path": "/etc/rancher/rke2/config", **owner}],
                    "files": [
                        {"content": drop_in([f"admission-control-config-file={CONFIG}"]), "path": DROP_IN, **owner},
                        {"content": admission_configuration(release), "path": CONFIG, **owner},
                    ],
                }
            ]
        }
    }
    return yaml.safe_dump(stages, sort_keys=False)


def cloud_init(release: tuple[int, ...]) -> dict:
    return {
        "apiVersion": "node.harvesterhci.io/v1beta1",
        "kind": "CloudInit",
        "metadata": {"name": CLOUD_INIT},
        "spec": {
            "matchSelector": {"node-role.kubernetes.io/control-plane": "true"},
            "filename": OEM_FILE.rsplit("/", 1)[1],
            "contents": cloud_init_contents(release),
            "paused": False,
        },
    }


def apiserver_args(node_ip: str, user_args: list[str]) -> list[str]:
    """The arguments RKE2 renders: its PSA file first, then k3s's flags, then the user's."""
    tls = "/var/lib/rancher/rke2/server/tls"
    base = [
        f"--admission-control-config-file={RKE2_PSS}",
        "--advertise-address=" + node_ip,
        "--allow-privileged=true",
        "--anonymous-auth=false",
        "--api-audiences=https://kubernetes.default.svc.cluster.local,rke2",
        "--authorization-mode=Node,RBAC",
        "--bind-address=0.0.0.0",
        f"--cert-dir={tls}/temporary-certs",
        f"--client-ca-file={tls}/client-ca.crt",
        "--enable-admission-plugins=NodeRestriction",
        "--etcd-servers=https://127.0.0.1:2379",
        "--secure-port=6443",
        "--service-cluster-ip-range=10.53.0.0/16",
        f"--tls-cert-file={tls}/serving-kube-apiserver.crt",
        f"--tls-private-key-file={tls}/serving-kube-apiserver.key",
    ]
    return base + [f"--{a}" for a in user_args]


def apiserver_pod(node: dict, rke2: str, user_args: list[str]) -> dict:
    """The kubelet's mirror of RKE2's kube-apiserver static pod on `node`."""
    name = node["metadata"]["name"]
    ip = next((a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"), "")
    args = apiserver_args(ip, user_args)
    digest = hashlib.sha256(json.dumps([name, args]).encode()).hexdigest()[:32]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"kube-apiserver-{name}",
            "namespace": NS,
            "labels": {"component": "kube-apiserver", "tier": "control-plane"},
            "annotations": {
                "kubernetes.io/config.hash": digest,
                "kubernetes.io/config.mirror": digest,
                "kubernetes.io/config.seen": clock.stamp(),
                "kubernetes.io/config.source": "file",
            },
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"], "controller": True}
            ],
        },
        "spec": {
            "nodeName": name,
            "hostNetwork": True,
            "priorityClassName": "system-cluster-critical",
            "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
            "containers": [
                {
                    "name": "kube-apiserver",
                    "image": f"index.docker.io/rancher/hardened-kubernetes:{rke2.replace('+', '-')}",
                    "command": ["kube-apiserver"],
                    "args": args,
                    "resources": {"requests": {"cpu": "250m", "memory": "1024M"}},
                    "securityContext": {"privileged": False},
                }
            ],
        },
    }


def _control_plane(cl: Cluster) -> list[dict]:
    return [
        n
        for n in cl.list(R.NODES)
        if (n["metadata"].get("labels") or {}).get("node-role.kubernetes.io/control-plane") == "true"
    ]


def _put_apiserver(cl: Cluster, node: dict, rke2: str, user_args: list[str]) -> None:
    """(Re)create the mirror pod: a static pod's spec changes only by the kubelet recreating it."""
    pod = apiserver_pod(node, rke2, user_args)
    name = pod["metadata"]["name"]
    old = cl.get(R.PODS, name, NS)
    if old is not None:
        if old["spec"]["containers"][0].get("args") == pod["spec"]["containers"][0]["args"]:
            return
        cl.request("DELETE", R.PODS.path(NS, name), query={"gracePeriodSeconds": "0"})
        wait_for("cluster-seeded", lambda: cl.get(R.PODS, name, NS) is None)
    wait_for("cluster-seeded", lambda: _create(cl, pod))


def _create(cl: Cluster, pod: dict) -> bool:
    try:
        cl.create(R.PODS, pod, NS)
    except ApiError as exc:
        if exc.status != 409:
            raise
    return True


def _rke2(cl: Cluster, node: dict) -> str:
    return node["status"]["nodeInfo"].get("kubeletVersion") or "v0.0.0+rke2r1"


def _configured(release: tuple[int, ...]) -> bool:
    return release >= CLOUD_INIT_SINCE


def _user_args(release: tuple[int, ...]) -> list[str]:
    return [f"admission-control-config-file={CONFIG}"] if _configured(release) else []


def _write_host(state_dir: Path, node: str, release: tuple[int, ...]) -> None:
    """The host after the CloudInit was rendered and the node rebooted."""
    hostfs.write(state_dir, node, RKE2_PSS, RKE2_PSS_CONTENT, 0o600)
    if not _configured(release):
        return
    hostfs.write(state_dir, node, OEM_FILE, cloud_init(release)["spec"]["contents"], 0o600)
    hostfs.write(state_dir, node, DROP_IN, drop_in([f"admission-control-config-file={CONFIG}"]), 0o600)
    hostfs.write(state_dir, node, CONFIG, admission_configuration(release), 0o600)


def gpu_vm() -> dict:
    """A stopped VM with a PCI device passed through (pcidevices' resource name and claim naming)."""
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": GPU_VM, "namespace": GPU_NS, "labels": {"harvesterhci.io/creator": "harvester"}},
        "spec": {
            "runStrategy": "Halted",
            "template": {
                "metadata": {"labels": {"harvesterhci.io/vmName": GPU_VM}},
                "spec": {
                    "domain": {
                        "cpu": {"cores": 4, "sockets": 1, "threads": 1},
                        # Guest memory without a memory limit: no release's mutator derives a
                        # memory request from it (their host-device rules differ from v1.3.0 on, and
                        # the FSR-01 fault's "v1.0.3" would otherwise judge this VM by older ones).
                        "memory": {"guest": "16Gi"},
                        "resources": {"limits": {"cpu": "4"}},
                        "machine": {"type": "q35"},
                        "devices": {
                            "disks": [],
                            "hostDevices": [
                                {"name": "harvester-node-0-000065000", "deviceName": "nvidia.com/GA102GL_A10"}
                            ],
                        },
                    },
                    "evictionStrategy": "LiveMigrateIfPossible",
                    "terminationGracePeriodSeconds": 120,
                },
            },
        },
    }


def seed(cl: Cluster, spec: ProfileSpec, state_dir: Path, progress: Callable[[str], None]) -> None:
    release = _release(spec)
    for node in _control_plane(cl):
        _write_host(state_dir, node["metadata"]["name"], release)
        _put_apiserver(cl, node, _rke2(cl, node), _user_args(release))
    if _configured(release):
        cl.apply(R.CLOUD_INITS, cloud_init(release), manager=MANAGER)
    cl.apply(R.NAMESPACES, {"metadata": {"name": GPU_NS, "labels": {ENFORCE: "privileged"}}}, manager=MANAGER)
    if cl.get(R.VMS, GPU_VM, GPU_NS) is None:
        wait_for("cluster-seeded", lambda: _create_vm(cl))
    progress("pod security: kube-apiserver mirror pods, cluster-wide CloudInit, host-device VM seeded")


def _create_vm(cl: Cluster) -> bool:
    try:
        cl.create(R.VMS, gpu_vm(), GPU_NS)
    except ApiError as exc:
        if exc.status == 409:
            return True
        if exc.status >= 500:
            return False
        raise
    return True


def ready(cl: Cluster, spec: ProfileSpec) -> bool:
    return all(cl.get(R.PODS, f"kube-apiserver-{n['metadata']['name']}", NS) for n in _control_plane(cl))


# -- faults -----------------------------------------------------------------------------------------
def _label(ns: str, value: str | None) -> Callable[[Cluster], None]:
    def change(cl: Cluster) -> None:
        cl.patch(R.NAMESPACES, ns, {"metadata": {"labels": {ENFORCE: value}}})

    return change


def _pss04(cl: Cluster) -> None:
    """harvester-node-2 rebooted after an admin added a later drop-in with `kube-apiserver-arg`."""
    node = cl.get(R.NODES, FAULT_NODE)
    assert node is not None, f"Node {FAULT_NODE} does not exist"
    hostfs.write(state_dir_of(cl), FAULT_NODE, LATER_DROP_IN, drop_in([AUDIT_ARG]), 0o600)
    _put_apiserver(cl, node, _rke2(cl, node), [AUDIT_ARG])


def _pss04_revert(cl: Cluster) -> None:
    node = cl.get(R.NODES, FAULT_NODE)
    assert node is not None, f"Node {FAULT_NODE} does not exist"
    hostfs.remove(state_dir_of(cl), FAULT_NODE, LATER_DROP_IN)
    _put_apiserver(cl, node, _rke2(cl, node), _user_args(_release(cl)))


FAULTS: list[Fault] = [
    Fault(
        "PSS-01",
        f"the article's `kubectl label ns {GPU_NS} {ENFORCE}=baseline` on a release before the host-device fix",
        _label(GPU_NS, "baseline"),
        _label(GPU_NS, "privileged"),
        objects=(f"VirtualMachine {GPU_NS}/{GPU_VM}",),
        releases=("", "v1.5.1"),
        why_not="from v1.5.1 (and in v1.4.3) the host-device fix (harvester issue 8218) lets such a VM start "
        "under a baseline namespace: the failure no longer exists",
    ),
    Fault(
        "PSS-02",
        f"system namespace {SYSTEM_NS} labelled {ENFORCE}=restricted",
        _label(SYSTEM_NS, "restricted"),
        _label(SYSTEM_NS, None),
        objects=(f"Namespace {SYSTEM_NS}",),
    ),
    Fault(
        "PSS-04",
        f"{FAULT_NODE} rebooted with a later RKE2 drop-in replacing kube-apiserver-arg: its apiserver runs "
        "without the cluster-wide admission configuration",
        _pss04,
        _pss04_revert,
        objects=(f"Pod {NS}/kube-apiserver-{FAULT_NODE}",),
        releases=("v1.3.0", ""),
        why_not="the article's CloudInit needs node-manager's CloudInit (v1.3.0+)",
    ),
]


# -- v1.8+ faults, for runs on a v1.8 profile ------------------------------------------------------
def _setting(enabled: bool) -> Callable[[Cluster], None]:
    def change(cl: Cluster) -> None:
        doc = {
            "enabled": enabled,
            "whitelistedNamespacesList": "",
            "privilegedNamespacesList": GPU_NS,
            "restrictedNamespacesList": "",
        }
        cl.patch(R.HARVESTER_SETTINGS, hps.SETTING, {"value": json.dumps(doc) if enabled else ""})

    return change


LABEL_REJECTION = "namespace-pss-label-rejection"


def _pss05(cl: Cluster) -> None:
    """The article's policy and binding, then the v1.8 setting enabled on top."""
    cl.apply(
        R.VALIDATING_ADMISSION_POLICIES,
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": LABEL_REJECTION},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["namespaces"],
                        }
                    ]
                },
                "validations": [{"expression": f'!("{ENFORCE}" in object.metadata.labels)'}],
            },
        },
        manager=MANAGER,
    )
    cl.apply(
        R.VALIDATING_ADMISSION_POLICY_BINDINGS,
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": f"{LABEL_REJECTION}-binding"},
            "spec": {"policyName": LABEL_REJECTION, "validationActions": ["Deny"]},
        },
        manager=MANAGER,
    )
    _setting(True)(cl)
    wait_for("webhook-registration", lambda: not _label_admitted(cl))


def _pss05_revert(cl: Cluster) -> None:
    _setting(False)(cl)
    cl.delete(R.VALIDATING_ADMISSION_POLICY_BINDINGS, f"{LABEL_REJECTION}-binding")
    cl.delete(R.VALIDATING_ADMISSION_POLICIES, LABEL_REJECTION)
    wait_for("webhook-registration", lambda: _label_admitted(cl))


def _label_admitted(cl: Cluster) -> bool:
    """Whether the apiserver admits a namespace with the enforce label (a dry run: nothing is
    stored). It loads admission policies asynchronously, so the fault is in, or out, only once
    this answers: until then a namespace write elsewhere is still denied."""
    probe = {"metadata": {"name": "emulator-pss-label-probe", "labels": {ENFORCE: "baseline"}}}
    try:
        cl.request("POST", R.NAMESPACES.path(), body=probe, query={"dryRun": "All"})
    except ApiError as exc:
        if exc.status == 422:
            return False
        raise
    return True


def _pss03(cl: Cluster) -> None:
    """The setting's value written unparsable while Harvester's webhook was down."""
    cl.patch(R.HARVESTER_SETTINGS, hps.SETTING, {"value": '{"enabled": "yes"}'})


# The setting exists from v1.8.0: these faults apply there only.
FAULTS += [
    Fault(
        "PSS-03",
        f'{hps.SETTING} value with enabled "yes" (not a boolean)',
        _pss03,
        _setting(False),
        objects=(f"Setting {hps.SETTING}",),
        releases=("v1.8.0", ""),
        why_not="the setting exists from v1.8.0",
    ),
    Fault(
        "PSS-05",
        f"the article's {LABEL_REJECTION} policy bound while {hps.SETTING} is enabled",
        _pss05,
        _pss05_revert,
        objects=(f"ValidatingAdmissionPolicy {LABEL_REJECTION}",),
        creates=(f"ValidatingAdmissionPolicy {LABEL_REJECTION}",),
        admission_wide=True,
        releases=("v1.8.0", ""),
        why_not="the setting exists from v1.8.0",
    ),
]

CONTROLLERS: list = []
WEBHOOKS: list = []
API_GROUPS: list = []
