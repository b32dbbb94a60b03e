"""Pod Security Standards on Harvester (article 2025-05-08, "Using Pod Security Standards"): PSS-01 … PSS-05.

Pod Security Admission decides a namespace's level from its `pod-security.kubernetes.io/enforce`
label, else from the `defaults.enforce` of the admission configuration file kube-apiserver runs with
(`--admission-control-config-file`), unless the namespace is in that file's `exemptions.namespaces`
(Kubernetes `pod-security-admission` `admission.go`).

RKE2 always passes the flag: it prepends `--admission-control-config-file=/etc/rancher/rke2/rke2-pss.yaml`
(its own privileged default, or restricted in CIS mode) to the apiserver's arguments, and the
user's `kube-apiserver-arg` come after it, so the last occurrence wins (rancher/rke2
`pkg/rke2/psa.go`, `pkg/podexecutor/staticpod.go` @v1.25.9+rke2r1 … `pkg/executor/staticpod/staticpod.go`
@v1.35.7). The static pod's container runs `kube-apiserver` with those arguments, and the kubelet
publishes it as the mirror pod `kube-system/kube-apiserver-<node>` (`pkg/podtemplate/podtemplate.go`).

The article's cluster-wide enablement is a CloudInit (`node.harvesterhci.io`) named
`cluster-wide-pss-enforcement`: node-manager writes its `contents` to `/oem/<filename>` on the
nodes its `matchSelector` selects; at the next boot Elemental's `initramfs` stage writes the RKE2
drop-in (`kube-apiserver-arg: admission-control-config-file=<file>`) and the AdmissionConfiguration
file, so the flag takes effect only after a reboot. A host with the `/oem` file but neither the
flag nor the drop-in has not rebooted yet: pending, not a failure.

Issue harvester/harvester#8218 (the article's warning): the pcidevices controller adds the
`SYS_RESOURCE` capability to the launcher of a VM with PCI, USB or vGPU devices, which `baseline`
(and `restricted`) refuse; fixed in v1.4.3 and v1.5.1.

From v1.8.0 Harvester's `cluster-pod-security-standard` setting labels namespaces itself (HV
`pkg/controller/master/setting/cluster_pod_security_standard.go`, `pkg/util/pss_setting.go`,
`pkg/util/constants.go` @v1.8.2): when `enabled`, every namespace outside the whitelist (the
user's comma-separated list plus `DefaultHarvesterNamespaceWhiteList`) gets enforce = restricted,
privileged or baseline (checked in that order against its lists), `enforce-version: latest` and
`pss.harvesterhci.io/managed: "true"`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml

from harvester_conformance import yamltext
from harvester_conformance.checks.findings import Finding

ENFORCE = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"
MANAGED = "pss.harvesterhci.io/managed"
LEVELS = ("privileged", "baseline", "restricted")
REFUSING = frozenset({"baseline", "restricted"})  # the levels that refuse SYS_RESOURCE (host devices)

CLOUD_INIT = "cluster-wide-pss-enforcement"  # the article's CloudInit
CONFIG_FLAG = "--admission-control-config-file"
APISERVER_ARG = "admission-control-config-file"
RKE2_DEFAULT_CONFIG = "/etc/rancher/rke2/rke2-pss.yaml"  # RKE2's own (privileged) configuration
ARTICLE_CONFIG = "/etc/rancher/rke2/config/harvester-pss.yaml"
ARTICLE_DROP_IN = "/etc/rancher/rke2/config.yaml.d/99-harvester-pss.yaml"
OEM_DIR = "/oem"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
APISERVER_NS = "kube-system"

HOST_DEVICE_FIX = ((1, 4, 3), (1, 5, 1))  # v1.4.3 (v1.4 branch) and v1.5.1 fix issue 8218
SETTING = "cluster-pod-security-standard"
SETTING_SINCE = (1, 8, 0)

# The article's exemption list (41 namespaces).
ARTICLE_EXEMPT = (
    "calico-apiserver", "calico-system", "cattle-alerting", "cattle-csp-adapter-system", "cattle-elemental-system",
    "cattle-epinio-system", "cattle-externalip-system", "cattle-fleet-local-system", "cattle-fleet-system",
    "cattle-gatekeeper-system", "cattle-global-data", "cattle-global-nt", "cattle-impersonation-system",
    "cattle-istio", "cattle-istio-system", "cattle-logging", "cattle-logging-system", "cattle-monitoring-system",
    "cattle-neuvector-system", "cattle-prometheus", "cattle-provisioning-capi-system", "cattle-resources-system",
    "cattle-sriov-system", "cattle-system", "cattle-ui-plugin-system", "cattle-windows-gmsa-system", "cert-manager",
    "cis-operator-system", "fleet-default", "ingress-nginx", "istio-system", "kube-node-lease", "kube-public",
    "kube-system", "longhorn-system", "rancher-alerting-drivers", "security-scan", "tigera-operator",
    "harvester-system", "harvester-public", "rancher-vcluster",
)  # fmt: skip
# DefaultHarvesterNamespaceWhiteList (HV pkg/util/constants.go @v1.8.2): the article's list and four more.
BUILTIN_WHITELIST = (*ARTICLE_EXEMPT, "cattle-dashboards", "fleet-local", "local", "forklift")


def _ref(kind: str, obj: dict) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{kind} {ns}/{meta.get('name')}" if ns else f"{kind} {meta.get('name')}"


def system_namespaces(release: tuple[int, ...]) -> tuple[str, ...]:
    """Harvester's system namespaces on `release`: the article's list, the built-in whitelist from v1.8.0."""
    return BUILTIN_WHITELIST if release >= SETTING_SINCE else ARTICLE_EXEMPT


def host_device_fix_missing(release: tuple[int, ...]) -> bool:
    """Issue 8218 affects releases before v1.4.3, and v1.5.0."""
    return release < HOST_DEVICE_FIX[0] or (1, 5, 0) <= release < HOST_DEVICE_FIX[1]


# -- the article's cluster-wide configuration, as its CloudInit carries it --------------------------
@dataclass(frozen=True)
class ClusterWide:
    """What a CloudInit that enables cluster-wide PSS configures (paths absolute on the host)."""

    name: str
    filename: str  # under /oem
    match_selector: dict[str, str]
    paused: bool
    config_path: str  # the apiserver's --admission-control-config-file
    drop_in: str  # the RKE2 config drop-in that carries the argument
    default_enforce: str | None  # defaults.enforce of the AdmissionConfiguration (None: not in the CloudInit)
    exemptions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ref(self) -> str:
        return f"CloudInit {self.name}"

    @property
    def oem_path(self) -> str:
        return f"{OEM_DIR}/{self.filename}"


def _stage_files(contents: dict) -> list[dict]:
    """Every `files` entry of every stage step of an Elemental cloud-config document."""
    out: list[dict] = []
    stages = contents.get("stages") if isinstance(contents, dict) else None
    for steps in (stages or {}).values() if isinstance(stages, dict) else ():
        for step in steps or []:
            if isinstance(step, dict):
                out += [f for f in step.get("files") or [] if isinstance(f, dict)]
    return out


def _config_arg(doc: object) -> str | None:
    """The admission-control-config-file value an RKE2 config document passes to kube-apiserver."""
    if not isinstance(doc, dict):
        return None
    args = doc.get("kube-apiserver-arg") or []
    for arg in [args] if isinstance(args, str) else args:
        key, sep, value = str(arg).lstrip("-").partition("=")
        if sep and key == APISERVER_ARG:
            return value
    return None


def _pod_security(doc: object) -> dict | None:
    """The PodSecurity plugin configuration of an AdmissionConfiguration document."""
    if not isinstance(doc, dict) or doc.get("kind") != "AdmissionConfiguration":
        return None
    for plugin in doc.get("plugins") or []:
        if isinstance(plugin, dict) and plugin.get("name") == "PodSecurity":
            conf = plugin.get("configuration")
            return conf if isinstance(conf, dict) else {}
    return None


def parse_cluster_wide(cloud_init: dict) -> ClusterWide | None:
    """The cluster-wide PSS configuration a CloudInit carries; None when it sets no admission
    configuration file for kube-apiserver. ValueError when its contents do not parse."""
    spec = cloud_init.get("spec") or {}
    try:
        contents = yamltext.load(spec.get("contents") or "") or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"spec.contents is not YAML: {exc}") from None
    files = _stage_files(contents)
    parsed: dict[str, object] = {}
    for f in files:
        try:
            parsed[str(f.get("path"))] = yamltext.load(str(f.get("content") or ""))
        except yaml.YAMLError:
            parsed[str(f.get("path"))] = None
    drop_in, config_path = next(((p, _config_arg(d)) for p, d in parsed.items() if _config_arg(d)), ("", None))
    if config_path is None:
        return None
    conf = _pod_security(parsed.get(config_path))
    defaults = (conf or {}).get("defaults") or {}
    exemptions = ((conf or {}).get("exemptions") or {}).get("namespaces") or []
    return ClusterWide(
        name=cloud_init["metadata"]["name"],
        filename=str(spec.get("filename") or ""),
        match_selector={str(k): str(v) for k, v in (spec.get("matchSelector") or {}).items()},
        paused=bool(spec.get("paused")),
        config_path=config_path,
        drop_in=drop_in,
        default_enforce=str(defaults.get("enforce")) if conf is not None and defaults.get("enforce") else None,
        exemptions=tuple(str(n) for n in exemptions),
    )


def cluster_wide(cloud_inits: Iterable[dict]) -> tuple[list[ClusterWide], list[Finding]]:
    """The CloudInits that configure cluster-wide PSS (the article's by name, any other by content),
    and findings for the article's one when it does not parse or sets no configuration file."""
    found: list[ClusterWide] = []
    bad: list[Finding] = []
    for ci in cloud_inits:
        name = (ci.get("metadata") or {}).get("name")
        try:
            parsed = parse_cluster_wide(ci)
        except ValueError as exc:
            if name == CLOUD_INIT:
                bad.append(Finding(f"CloudInit {name}", str(exc)))
            continue
        if parsed is not None:
            found.append(parsed)
        elif name == CLOUD_INIT:
            bad.append(Finding(f"CloudInit {name}", f"its contents pass no {APISERVER_ARG} to kube-apiserver"))
    return found, bad


def selects(selector: dict[str, str], node: dict) -> bool:
    """node-manager's matchSelector: every key=value among the node's labels ({} selects all)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def control_plane_nodes(nodes: Iterable[dict]) -> list[dict]:
    """The nodes that run kube-apiserver (RKE2 servers: the control-plane role label)."""
    return [n for n in nodes if ((n.get("metadata") or {}).get("labels") or {}).get(CONTROL_PLANE) == "true"]


# -- kube-apiserver -------------------------------------------------------------------------------
def apiserver_pod_name(node: str) -> str:
    return f"kube-apiserver-{node}"


def apiserver_config_file(pod: dict) -> str | None:
    """The admission configuration file the pod's kube-apiserver reads: the last occurrence of the
    flag among its command and arguments (pflag keeps the last); None without the flag."""
    value = None
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") != "kube-apiserver":
            continue
        words = [str(w) for w in (c.get("command") or []) + (c.get("args") or [])]
        if len(words) == 1 and " " in words[0]:
            words = shlex.split(words[0])
        for i, w in enumerate(words):
            if w.startswith(CONFIG_FLAG + "="):
                value = w.split("=", 1)[1]
            elif w == CONFIG_FLAG and i + 1 < len(words):
                value = words[i + 1]
    return value


@dataclass(frozen=True)
class NodeState:
    """One selected control-plane node for PSS-04."""

    node: str
    in_force: bool
    finding: Finding | None = None
    pending: bool = False


def judge_apiserver(conf: ClusterWide, node: dict, pod: dict | None, host: dict[str, bytes | None] | None) -> NodeState:
    """PSS-04 for one control-plane node: its apiserver runs with the configured file; else, with
    the host read, pending reboot (the /oem file, no drop-in yet) or a failure."""
    name = node["metadata"]["name"]
    ref = f"Pod {APISERVER_NS}/{apiserver_pod_name(name)}"
    if not selects(conf.match_selector, node):
        return NodeState(
            name,
            False,
            Finding(
                f"Node {name}",
                f"control-plane node not selected by {conf.ref} matchSelector {json.dumps(conf.match_selector)}: "
                "its kube-apiserver never gets the cluster-wide configuration",
            ),
        )
    if pod is None:
        return NodeState(name, False, Finding(ref, "no kube-apiserver mirror pod on this control-plane node"))
    running = apiserver_config_file(pod)
    if running == conf.config_path:
        return NodeState(name, True)
    shown = f"{CONFIG_FLAG}={running}" if running else f"no {CONFIG_FLAG}"
    if host is None:
        return NodeState(name, False, Finding(ref, f"runs with {shown}, expected {conf.config_path} ({conf.ref})"))
    oem, drop_in = host.get(conf.oem_path), host.get(conf.drop_in) if conf.drop_in else None
    if oem is not None and drop_in is None:
        return NodeState(name, False, pending=True)
    if oem is None:
        why = f"{conf.oem_path} is missing on the host: {conf.ref} was not rendered there"
    else:
        why = (
            f"the host booted with {conf.drop_in} (written by the CloudInit stage), yet kube-apiserver does not "
            "run with it (a later config.yaml.d file setting kube-apiserver-arg without '+' replaces its list)"
        )
    return NodeState(name, False, Finding(ref, f"runs with {shown}, expected {conf.config_path} ({conf.ref}); {why}"))


def running_with(conf: ClusterWide, nodes: Iterable[dict], pods: dict[str, dict]) -> list[str]:
    """The control-plane nodes whose kube-apiserver runs with the CloudInit's configuration file."""
    return [
        n["metadata"]["name"]
        for n in control_plane_nodes(nodes)
        if apiserver_config_file(pods.get(apiserver_pod_name(n["metadata"]["name"])) or {}) == conf.config_path
    ]


# -- effective level per namespace -----------------------------------------------------------------
@dataclass(frozen=True)
class Default:
    """The cluster-wide default in force: level and exempted namespaces (RKE2's: privileged)."""

    enforce: str = "privileged"
    exemptions: frozenset[str] = frozenset()
    source: str = f"RKE2's {RKE2_DEFAULT_CONFIG}"


def effective_level(namespace: dict, default: Default) -> tuple[str, str]:
    """(level, why) Pod Security Admission enforces in `namespace`."""
    meta = namespace.get("metadata") or {}
    label = (meta.get("labels") or {}).get(ENFORCE)
    if label:
        return label, f"label {ENFORCE}={label}"
    if meta.get("name") in default.exemptions:
        return "privileged", f"exempted by {default.source}"
    return default.enforce, f"cluster-wide default of {default.source}"


def has_host_devices(vm: dict) -> list[str]:
    """The PCI/USB host devices and vGPUs of a VM's template, by name."""
    devices = ((((vm.get("spec") or {}).get("template") or {}).get("spec") or {}).get("domain") or {}).get(
        "devices"
    ) or {}
    return [
        str(d.get("deviceName") or d.get("name")) for key in ("hostDevices", "gpus") for d in devices.get(key) or []
    ]


def check_host_device_vms(vms: Iterable[dict], namespaces: dict[str, dict], default: Default) -> list[Finding]:
    """PSS-01: no VM with host devices in a namespace enforcing baseline or restricted."""
    found = []
    for vm in vms:
        devices = has_host_devices(vm)
        if not devices:
            continue
        ns_name = vm["metadata"].get("namespace", "")
        ns = namespaces.get(ns_name) or {"metadata": {"name": ns_name}}
        level, why = effective_level(ns, default)
        if level in REFUSING:
            found.append(
                Finding(
                    _ref("VirtualMachine", vm),
                    f"has host devices ({', '.join(devices)}) in namespace {ns_name}, which enforces {level} ({why}): "
                    "its launcher needs SYS_RESOURCE, which this release's pcidevices controller adds and "
                    f"{level} refuses, so the VM cannot start",
                )
            )
    return found


# -- PSS-02 ------------------------------------------------------------------------------------------
def check_system_namespaces(namespaces: Iterable[dict], system: Iterable[str]) -> list[Finding]:
    """PSS-02 (labels): no existing system namespace enforces baseline or restricted by label."""
    wanted = set(system)
    found = []
    for ns in namespaces:
        meta = ns.get("metadata") or {}
        label = (meta.get("labels") or {}).get(ENFORCE)
        if meta.get("name") in wanted and label in REFUSING:
            found.append(
                Finding(
                    f"Namespace {meta['name']}",
                    f"system namespace labelled {ENFORCE}={label}: its components need privileged pods",
                )
            )
    return found


def check_exemptions(conf: ClusterWide, namespaces: Iterable[dict], system: Iterable[str]) -> Finding | None:
    """PSS-02 (cluster-wide): a baseline/restricted default exempts every existing system namespace."""
    if conf.default_enforce not in REFUSING:
        return None
    present = {(ns.get("metadata") or {}).get("name") for ns in namespaces}
    missing = sorted(n for n in set(system) & present if n not in conf.exemptions)
    if not missing:
        return None
    return Finding(
        conf.ref,
        f"defaults.enforce={conf.default_enforce} without exempting system namespace(s) {', '.join(missing)} "
        "in exemptions.namespaces",
    )


# -- PSS-03 ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    """The decoded cluster-pod-security-standard setting."""

    enabled: bool
    whitelisted: frozenset[str]
    privileged: frozenset[str]
    restricted: frozenset[str]


def _names(text: object) -> frozenset[str]:
    return frozenset(n.strip() for n in str(text or "").split(",") if n.strip())


def decode_policy(setting: dict | None) -> Policy:
    """The setting's effective value (value, else default) as the controller decodes it; ValueError if not."""
    s = setting or {}
    text = s.get("value") or s.get("default") or ""
    try:
        doc = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"value is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"value is {type(doc).__name__}, expected a JSON object")
    enabled = doc.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ValueError(f"enabled is {json.dumps(enabled)}, expected true or false")
    lists = {}
    for key in ("whitelistedNamespacesList", "privilegedNamespacesList", "restrictedNamespacesList"):
        if doc.get(key) is not None and not isinstance(doc.get(key), str):
            raise ValueError(f"{key} is {json.dumps(doc.get(key))}, expected a comma-separated string")
        lists[key] = _names(doc.get(key))
    return Policy(
        enabled,
        lists["whitelistedNamespacesList"],
        lists["privilegedNamespacesList"],
        lists["restrictedNamespacesList"],
    )


def expected_level(name: str, policy: Policy) -> str | None:
    """The level the controller gives a namespace (None: whitelisted, left alone)."""
    if name in policy.whitelisted or name in BUILTIN_WHITELIST:
        return None
    if name in policy.restricted:
        return "restricted"
    if name in policy.privileged:
        return "privileged"
    return "baseline"


def check_managed_labels(namespaces: Iterable[dict], policy: Policy) -> list[Finding]:
    """PSS-03: with the setting enabled, every namespace outside the whitelists carries its labels."""
    if not policy.enabled:
        return []
    found = []
    for ns in namespaces:
        meta = ns.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        want = expected_level(meta.get("name", ""), policy)
        if want is None:
            continue
        labels = meta.get("labels") or {}
        expected = {ENFORCE: want, ENFORCE_VERSION: "latest", MANAGED: "true"}
        wrong = [f"{k}={labels.get(k)!r} (expected {v})" for k, v in expected.items() if labels.get(k) != v]
        if wrong:
            found.append(Finding(f"Namespace {meta.get('name')}", "; ".join(wrong)))
    return found


# -- PSS-05 ------------------------------------------------------------------------------------------
LABEL_REJECTION = "namespace-pss-label-rejection"


def rejects_enforce_label(policy: dict) -> bool:
    """A ValidatingAdmissionPolicy on namespace CREATE/UPDATE whose validation refuses the enforce label."""
    spec = policy.get("spec") or {}
    rules = ((spec.get("matchConstraints") or {}).get("resourceRules")) or []
    on_namespaces = any(
        "namespaces" in (r.get("resources") or []) and {"UPDATE", "*"} & set(r.get("operations") or []) for r in rules
    )
    refuses = any(ENFORCE in str(v.get("expression") or "") for v in spec.get("validations") or [])
    return on_namespaces and refuses


def check_label_rejection(policies: Iterable[dict], bindings: Iterable[dict], setting_enabled: bool) -> list[Finding]:
    """PSS-05: no bound, denying label-rejection policy while the v1.8 setting is enabled."""
    if not setting_enabled:
        return []
    denying = {
        (b.get("spec") or {}).get("policyName"): b
        for b in bindings
        if "Deny" in ((b.get("spec") or {}).get("validationActions") or [])
    }
    found = []
    for p in policies:
        name = p["metadata"]["name"]
        if name in denying and (name == LABEL_REJECTION or rejects_enforce_label(p)):
            binding = denying[name]["metadata"]["name"]
            found.append(
                Finding(
                    f"ValidatingAdmissionPolicy {name}",
                    f"bound with Deny by {binding} while {SETTING} is enabled: it refuses the namespace label "
                    "updates the setting's controller makes",
                )
            )
    return found
