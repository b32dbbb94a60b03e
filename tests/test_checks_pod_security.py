"""Pod Security checks (PSS-01..05) on plain dicts, with the article's CloudInit as written."""

from __future__ import annotations

import json

import pytest
import yaml

from harvester_conformance.checks import pod_security as pss

CONFIG = pss.ARTICLE_CONFIG
DROP_IN = pss.ARTICLE_DROP_IN


def article_cloud_init(exemptions: list[str] | None = None, enforce: str = "baseline", paused: bool = False) -> dict:
    admission = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [
            {
                "name": "PodSecurity",
                "configuration": {
                    "kind": "PodSecurityConfiguration",
                    "defaults": {"enforce": enforce, "enforce-version": "latest"},
                    "exemptions": {"namespaces": list(pss.ARTICLE_EXEMPT if exemptions is None else exemptions)},
                },
            }
        ],
    }
    files = [
        {"content": f'kube-apiserver-arg:\n  - "admission-control-config-file={CONFIG}"\n', "path": DROP_IN},
        {"content": yaml.safe_dump(admission), "path": CONFIG},
    ]
    contents = yaml.safe_dump({"stages": {"initramfs": [{"name": "setup harvester pss", "files": files}]}})
    return {
        "metadata": {"name": pss.CLOUD_INIT},
        "spec": {
            "matchSelector": {pss.CONTROL_PLANE: "true"},
            "filename": "99-pss.yaml",
            "contents": contents,
            "paused": paused,
        },
    }


def node(name: str, control_plane: bool = True) -> dict:
    labels = {pss.CONTROL_PLANE: "true"} if control_plane else {}
    return {"metadata": {"name": name, "labels": labels}}


def apiserver(name: str, *extra: str) -> dict:
    args = [f"--admission-control-config-file={pss.RKE2_DEFAULT_CONFIG}", "--secure-port=6443", *extra]
    return {
        "metadata": {"name": f"kube-apiserver-{name}", "namespace": "kube-system"},
        "spec": {"containers": [{"name": "kube-apiserver", "command": ["kube-apiserver"], "args": args}]},
    }


def ns(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": dict(labels)}}


def vm(name: str, namespace: str, devices: dict | None = None) -> dict:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"spec": {"domain": {"devices": devices or {}}}}},
    }


GPU = {"hostDevices": [{"name": "node-0-000065000", "deviceName": "nvidia.com/GA102GL_A10"}]}


# -- the CloudInit --------------------------------------------------------------------------------
def test_article_cloud_init_parses() -> None:
    conf = pss.parse_cluster_wide(article_cloud_init())
    assert conf is not None
    assert (conf.config_path, conf.drop_in, conf.default_enforce) == (CONFIG, DROP_IN, "baseline")
    assert conf.oem_path == "/oem/99-pss.yaml" and len(conf.exemptions) == 41
    assert conf.ref == "CloudInit cluster-wide-pss-enforcement"


def test_a_cloud_init_without_the_argument_is_not_cluster_wide_pss() -> None:
    other = {"metadata": {"name": "ssh-user"}, "spec": {"contents": "stages: {}", "filename": "99-ssh.yaml"}}
    assert pss.parse_cluster_wide(other) is None
    found, bad = pss.cluster_wide([other])
    assert (found, bad) == ([], [])


def test_the_articles_cloud_init_that_sets_nothing_or_does_not_parse_is_reported() -> None:
    named = {"metadata": {"name": pss.CLOUD_INIT}, "spec": {"contents": "stages: {}", "filename": "99-pss.yaml"}}
    _, bad = pss.cluster_wide([named])
    assert [f.object for f in bad] == ["CloudInit cluster-wide-pss-enforcement"]
    broken = {**named, "spec": {**named["spec"], "contents": "stages: [unclosed"}}
    _, bad = pss.cluster_wide([broken])
    assert "not YAML" in bad[0].message


# -- kube-apiserver flag ----------------------------------------------------------------------------
def test_last_admission_flag_wins_as_in_pflag() -> None:
    assert pss.apiserver_config_file(apiserver("n0")) == pss.RKE2_DEFAULT_CONFIG
    assert pss.apiserver_config_file(apiserver("n0", f"--admission-control-config-file={CONFIG}")) == CONFIG
    assert pss.apiserver_config_file(apiserver("n0", "--admission-control-config-file", "/x.yaml")) == "/x.yaml"
    assert pss.apiserver_config_file({"spec": {"containers": [{"name": "other", "args": []}]}}) is None


def test_apiserver_in_force_passes() -> None:
    conf = pss.parse_cluster_wide(article_cloud_init())
    state = pss.judge_apiserver(conf, node("n0"), apiserver("n0", f"--admission-control-config-file={CONFIG}"), {})
    assert state.in_force and state.finding is None and not state.pending


def test_host_with_the_oem_file_but_no_drop_in_is_pending_not_failing() -> None:
    conf = pss.parse_cluster_wide(article_cloud_init())
    host = {"/oem/99-pss.yaml": b"stages: ...", DROP_IN: None}
    state = pss.judge_apiserver(conf, node("n0"), apiserver("n0"), host)
    assert state.pending and state.finding is None


def test_host_booted_with_the_drop_in_but_apiserver_without_it_fails() -> None:
    conf = pss.parse_cluster_wide(article_cloud_init())
    host = {"/oem/99-pss.yaml": b"x", DROP_IN: b"kube-apiserver-arg: ..."}
    state = pss.judge_apiserver(conf, node("n2"), apiserver("n2", "--audit-log-maxage=30"), host)
    assert state.finding is not None and state.finding.object == "Pod kube-system/kube-apiserver-n2"
    assert pss.RKE2_DEFAULT_CONFIG in state.finding.message


def test_selected_host_without_the_oem_file_fails() -> None:
    conf = pss.parse_cluster_wide(article_cloud_init())
    state = pss.judge_apiserver(conf, node("n1"), apiserver("n1"), {"/oem/99-pss.yaml": None, DROP_IN: None})
    assert state.finding is not None and "not rendered" in state.finding.message


def test_control_plane_node_outside_the_selector_and_missing_pod_fail() -> None:
    ci = article_cloud_init()
    ci["spec"]["matchSelector"] = {"kubernetes.io/hostname": "n0"}
    conf = pss.parse_cluster_wide(ci)
    assert pss.judge_apiserver(conf, node("n1"), apiserver("n1"), None).finding.object == "Node n1"
    conf = pss.parse_cluster_wide(article_cloud_init())
    assert pss.judge_apiserver(conf, node("n1"), None, None).finding.object == "Pod kube-system/kube-apiserver-n1"


def test_running_with_lists_the_nodes_in_force() -> None:
    conf = pss.parse_cluster_wide(article_cloud_init())
    pods = {
        "kube-apiserver-n0": apiserver("n0", f"--admission-control-config-file={CONFIG}"),
        "kube-apiserver-n1": apiserver("n1"),
    }
    nodes = [node("n0"), node("n1"), node("w0", control_plane=False)]
    assert pss.running_with(conf, nodes, pods) == ["n0"]


# -- PSS-01 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("release", "affected"),
    [
        ((1, 3, 1), True),
        ((1, 4, 2), True),
        ((1, 4, 3), False),
        ((1, 5, 0), True),
        ((1, 5, 1), False),
        ((1, 8, 2), False),
    ],
)
def test_host_device_fix_releases(release: tuple[int, ...], affected: bool) -> None:
    assert pss.host_device_fix_missing(release) is affected


def test_host_device_vm_under_a_baseline_label_fails() -> None:
    namespaces = {"gpu": ns("gpu", **{pss.ENFORCE: "baseline"})}
    found = pss.check_host_device_vms([vm("vm-gpu", "gpu", GPU), vm("plain", "gpu")], namespaces, pss.Default())
    assert [f.object for f in found] == ["VirtualMachine gpu/vm-gpu"]
    assert "SYS_RESOURCE" in found[0].message


def test_cluster_default_applies_unless_labelled_or_exempted() -> None:
    default = pss.Default("baseline", frozenset({"harvester-public"}), "CloudInit x")
    vms = [vm("a", "default", GPU), vm("b", "gpu", GPU), vm("c", "harvester-public", {"gpus": [{"name": "vgpu"}]})]
    namespaces = {"gpu": ns("gpu", **{pss.ENFORCE: "privileged"}), "default": ns("default")}
    assert [f.object for f in pss.check_host_device_vms(vms, namespaces, default)] == ["VirtualMachine default/a"]
    assert pss.check_host_device_vms(vms, namespaces, pss.Default()) == []


# -- PSS-02 -------------------------------------------------------------------------------------------
def test_system_namespace_labels() -> None:
    namespaces = [
        ns("longhorn-system", **{pss.ENFORCE: "restricted"}),
        ns("kube-system", **{pss.ENFORCE: "privileged"}),
        ns("apps", **{pss.ENFORCE: "baseline"}),
        ns("fleet-local", **{pss.ENFORCE: "baseline"}),
    ]
    assert [f.object for f in pss.check_system_namespaces(namespaces, pss.system_namespaces((1, 5, 0)))] == [
        "Namespace longhorn-system"
    ]
    v18 = pss.check_system_namespaces(namespaces, pss.system_namespaces((1, 8, 0)))
    assert [f.object for f in v18] == ["Namespace longhorn-system", "Namespace fleet-local"]


def test_exemptions_must_cover_existing_system_namespaces() -> None:
    namespaces = [ns("longhorn-system"), ns("fleet-local"), ns("apps")]
    full = pss.parse_cluster_wide(article_cloud_init())
    assert pss.check_exemptions(full, namespaces, pss.system_namespaces((1, 5, 0))) is None
    v18 = pss.check_exemptions(full, namespaces, pss.system_namespaces((1, 8, 0)))
    assert v18 is not None and "fleet-local" in v18.message and "longhorn-system" not in v18.message
    partial = pss.parse_cluster_wide(article_cloud_init([n for n in pss.ARTICLE_EXEMPT if n != "longhorn-system"]))
    assert "longhorn-system" in pss.check_exemptions(partial, namespaces, pss.ARTICLE_EXEMPT).message
    privileged = pss.parse_cluster_wide(article_cloud_init([], enforce="privileged"))
    assert pss.check_exemptions(privileged, namespaces, pss.ARTICLE_EXEMPT) is None


# -- PSS-03 -------------------------------------------------------------------------------------------
def setting(value: object) -> dict:
    return {"metadata": {"name": pss.SETTING}, "default": json.dumps({"enabled": False}), "value": value}


def test_setting_decodes_or_is_refused() -> None:
    assert pss.decode_policy(setting("")).enabled is False
    doc = {"enabled": True, "privilegedNamespacesList": "gpu, legacy", "restrictedNamespacesList": "secure"}
    policy = pss.decode_policy(setting(json.dumps(doc)))
    assert policy.enabled and policy.privileged == {"gpu", "legacy"} and policy.restricted == {"secure"}
    for bad in ("{", '{"enabled": "yes"}', "[]", '{"enabled": true, "restrictedNamespacesList": ["a"]}'):
        with pytest.raises(ValueError):
            pss.decode_policy(setting(bad))


def test_enabled_setting_expects_labels_per_list() -> None:
    policy = pss.decode_policy(
        setting(json.dumps({"enabled": True, "privilegedNamespacesList": "gpu", "restrictedNamespacesList": "gpu,sec"}))
    )
    labelled = {pss.ENFORCE_VERSION: "latest", pss.MANAGED: "true"}
    namespaces = [
        ns("sec", **{pss.ENFORCE: "restricted"}, **labelled),
        ns("gpu", **{pss.ENFORCE: "privileged"}, **labelled),  # restricted is checked first
        ns("apps", **{pss.ENFORCE: "baseline"}, **labelled),
        ns("new"),
        ns("kube-system"),
        ns("forklift"),
    ]
    found = pss.check_managed_labels(namespaces, policy)
    assert [f.object for f in found] == ["Namespace gpu", "Namespace new"]
    assert pss.check_managed_labels(namespaces, pss.decode_policy(setting(""))) == []


# -- PSS-05 -------------------------------------------------------------------------------------------
def vap(name: str = "namespace-pss-label-rejection") -> dict:
    rules = [{"apiGroups": [""], "operations": ["CREATE", "UPDATE"], "resources": ["namespaces"]}]
    return {
        "metadata": {"name": name},
        "spec": {
            "matchConstraints": {"resourceRules": rules},
            "validations": [{"expression": '!("pod-security.kubernetes.io/enforce" in object.metadata.labels)'}],
        },
    }


def binding(policy: str, actions: list[str]) -> dict:
    return {"metadata": {"name": f"{policy}-binding"}, "spec": {"policyName": policy, "validationActions": actions}}


def test_label_rejection_with_the_setting_enabled_is_reported() -> None:
    found = pss.check_label_rejection([vap()], [binding("namespace-pss-label-rejection", ["Deny"])], True)
    assert [f.object for f in found] == ["ValidatingAdmissionPolicy namespace-pss-label-rejection"]
    assert pss.check_label_rejection([vap()], [binding("namespace-pss-label-rejection", ["Deny"])], False) == []
    assert pss.check_label_rejection([vap()], [binding("namespace-pss-label-rejection", ["Audit"])], True) == []
    assert pss.check_label_rejection([vap("renamed")], [binding("renamed", ["Deny"])], True) != []
