"""Harvester settings, images, backups and Fleet bundles follow upstream, release by release
(issue 9 items 10 and 14, facts.md §17.4, §17.7, §2, §0.2). Pure model functions are tested
without a cluster; the seeded objects and the webhooks on emulated clusters."""

from __future__ import annotations

import json

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import areas as faults
from harvester_conformance.emulator import seed
from harvester_conformance.emulator.areas import harvester_settings as hs
from harvester_conformance.emulator.areas.kubevirt_model import version_tuple
from harvester_conformance.emulator.profiles import PROFILES, STORAGE_NETWORK_SETTING
from harvester_conformance.emulator.simulator import setting_validator as sv
from harvester_conformance.waits import wait_for

RELEASES = [p for p in PROFILES if p != "scale"]
NODE_IPS = ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
PROXY = {"httpProxy": "http://192.0.2.5:3128", "httpsProxy": "http://192.0.2.5:3128"}
COVERING = "localhost,127.0.0.1,10.0.0.0/8,192.0.2.0/24"
V121, V131, V132, V143, V150 = (1, 2, 1), (1, 3, 1), (1, 3, 2), (1, 4, 3), (1, 5, 0)

# Setting names per release: the NewSetting calls of HV pkg/settings/settings.go at each tag.
COMMON = {
    "additional-ca", "api-ui-version", "cluster-registration-url", "server-version", "ui-index", "ui-path",
    "ui-source", "ui-plugin-index", "volume-snapshot-class", "backup-target", "upgradable-versions",
    "upgrade-checker-enabled", "upgrade-checker-url", "release-download-url", "log-level", "ssl-certificates",
    "ssl-parameters", "support-bundle-image", "support-bundle-namespaces", "support-bundle-timeout",
    "default-storage-class", "http-proxy", "vm-force-reset-policy", "overcommit-config", "vip-pools",
    "auto-disk-provision-paths", "csi-driver-config", "containerd-registry", "storage-network",
    "default-vm-termination-grace-period-seconds", "harvester-csi-ccm-versions", "ntp-servers",
}  # fmt: skip
SINCE_130 = {"auto-rotate-rke2-certs", "support-bundle-expiration"}
SINCE_131 = {"kubeconfig-default-token-ttl-minutes", "support-bundle-node-collection-timeout"}
SINCE_140 = {"longhorn-v2-data-engine-enabled", "additional-guest-memory-overhead-ratio", "upgrade-config"}
SINCE_160 = {"csi-online-expand-validation", "rancher-cluster", "max-hotplug-ratio", "vm-migration-network"}
SINCE_170 = {"kubevirt-migration"}
SINCE_180 = {"support-bundle-file-name", "rwx-network", "instance-manager-resources", "cluster-pod-security-standard"}
UPSTREAM_SETTINGS = {
    "v1.2.1": COMMON,
    "v1.3.1": COMMON | SINCE_130 | SINCE_131,
    "v1.4.3": COMMON | SINCE_130 | SINCE_131 | SINCE_140,
    "v1.5.0": COMMON | SINCE_130 | SINCE_131 | SINCE_140,
    "v1.6.1": COMMON | SINCE_130 | SINCE_131 | SINCE_140 | SINCE_160,
    "v1.7.3": COMMON | SINCE_130 | SINCE_131 | SINCE_140 | SINCE_160 | SINCE_170,
    "v1.8.2": COMMON | SINCE_130 | SINCE_131 | SINCE_140 | SINCE_160 | SINCE_170 | SINCE_180,
}


def _client(emulated, profile: str) -> Cluster:
    return Cluster.from_kubeconfig(str(emulated(profile).kubeconfig))


# -- settings as Harvester writes them --------------------------------------------------------------
@pytest.mark.parametrize("profile", RELEASES)
def test_seed_has_every_setting_of_the_release(profile: str) -> None:
    """HV pkg/settings/settings.go at v1.2.1 (32 settings), v1.3.1 (36), v1.4.3 and v1.5.0 (39),
    v1.6.1 (43), v1.7.3 (44), v1.8.2 (48)."""
    settings = seed.settings_of(PROFILES[profile])
    assert set(settings) == UPSTREAM_SETTINGS[profile]
    assert settings["server-version"] == ("dev", profile)  # facts §17.4: default stays "dev"
    assert settings["storage-network"] == ("", STORAGE_NETWORK_SETTING)  # configured by the profile
    if version_tuple(profile) >= (1, 4, 0):  # HV settings.go @v1.4.0 UpgradeConfig default
        assert json.loads(settings["upgrade-config"][0])["restoreVM"] is False


@pytest.mark.parametrize("profile", ["v1.3.1", "v1.4.3"])
def test_settings_seeded_as_harvester_writes_them(emulated, profile: str) -> None:
    """HV settings.go (`value` omitempty) and register.go SetAll: a setting Harvester has not been
    given a value has no `value` field; the image's HARVESTER_SERVER_VERSION (package/Dockerfile)
    fills server-version's value while its default stays "dev" (facts §17.4)."""
    cl = _client(emulated, profile)
    try:
        items = {s["metadata"]["name"]: s for s in cl.list(R.HARVESTER_SETTINGS)}
        assert UPSTREAM_SETTINGS[profile] <= set(items)
        assert items["server-version"]["default"] == "dev" and items["server-version"]["value"] == profile
        assert (
            items["storage-network"]["value"] == STORAGE_NETWORK_SETTING and items["storage-network"]["default"] == ""
        )
        for name in ("overcommit-config", "http-proxy", "additional-ca", "backup-target", "ntp-servers"):
            assert "value" not in items[name], name
        if profile == "v1.4.3":
            assert json.loads(items["upgrade-config"]["default"]) == {
                "imagePreloadOption": {"strategy": {"type": "sequential"}},
                "restoreVM": False,
            }
        else:
            assert "upgrade-config" not in items
    finally:
        cl.close()


# -- http-proxy validation by release (facts §17.4) ------------------------------------------------
def _problems(setting: dict, version: tuple[int, ...]) -> list[str]:
    texts = sv.http_proxy_texts(setting, version)
    return [p for _, text in texts if (p := sv.http_proxy_problem(text, NODE_IPS, version))]


def test_http_proxy_v121_checks_json_only() -> None:
    """HV v1.2.1 validator.go validateHTTPProxy: the value must unmarshal; noProxy is not checked."""
    assert _problems({"default": "{}", "value": json.dumps(PROXY)}, V121) == []
    assert _problems({"default": "{}", "value": "{"}, V121)


def test_http_proxy_v131_checks_no_proxy_for_any_value() -> None:
    """HV v1.3.1 (and v1.3.2) validator.go validateHTTPProxy: any non-empty `value` must list the
    node IPs in noProxy, proxy set or not; `default` is not validated; an empty value passes."""
    assert _problems({"default": "{}", "value": "{}"}, V131)
    assert _problems({"default": "{}", "value": json.dumps({"noProxy": "localhost"})}, V131)
    assert _problems({"default": "{}", "value": json.dumps({"noProxy": COVERING})}, V131) == []
    assert _problems({"default": "{}", "value": json.dumps({**PROXY, "noProxy": COVERING})}, V131) == []
    assert _problems({"default": json.dumps(PROXY), "value": ""}, V131) == []  # default unchecked
    assert _problems({"default": "{}"}, V131) == []


def test_http_proxy_v140_checks_only_with_a_proxy_and_validates_default() -> None:
    """HV v1.4.0 … v1.5.0 validator.go validateHTTPProxy/validateHTTPProxyHelper: noProxy is checked
    only when httpProxy or httpsProxy is set; `default` is validated unless "{}", `value` unless it
    equals the default."""
    for version in (V143, V150):
        assert _problems({"default": "{}", "value": "{}"}, version) == []
        assert _problems({"default": "{}", "value": json.dumps({"noProxy": "localhost"})}, version) == []
        assert _problems({"default": "{}", "value": json.dumps(PROXY)}, version)
        assert _problems({"default": "{}", "value": json.dumps({**PROXY, "noProxy": COVERING})}, version) == []
        assert _problems({"default": json.dumps(PROXY)}, version)


def test_uncovered_ips_reads_entries_as_go_does() -> None:
    """HV validateNoProxy: entries trimmed; a CIDR covers its addresses, an IP itself, others nothing;
    the uncovered addresses are reported sorted."""
    assert sv.uncovered_ips(" 192.0.2.12 , 192.0.2.0/31,example.com", NODE_IPS) == ["192.0.2.11", "192.0.2.13"]
    assert sv.uncovered_ips("192.0.2.13/29", NODE_IPS) == []  # host bits set: Go ParseCIDR takes its network


def _write_proxy(cl: Cluster, value: str) -> None:
    cl.patch(R.HARVESTER_SETTINGS, "http-proxy", {"value": value}, dry_run=True)


@pytest.mark.parametrize(("profile", "empty_refused"), [("v1.3.1", True), ("v1.4.3", False)])
def test_http_proxy_webhook_by_release(emulated, profile: str, empty_refused: bool) -> None:
    """The Setting webhook applies the release's rules: on v1.3.1 "{}" without the node IPs is
    refused; on v1.4.3 it is accepted; on both a proxy without them is refused (HV validator.go
    @v1.3.1, @v1.4.0)."""
    cl = _client(emulated, profile)
    try:
        if empty_refused:
            with pytest.raises(ApiError) as err:
                _write_proxy(cl, "{}")
            assert err.value.status == 400 and "are not covered" in err.value.message
        else:
            _write_proxy(cl, "{}")
        with pytest.raises(ApiError):
            _write_proxy(cl, json.dumps(PROXY))
        _write_proxy(cl, json.dumps({**PROXY, "noProxy": COVERING}))
    finally:
        cl.close()


# -- overcommit-config.storage copied into Longhorn (HV overcommit_config.go) ----------------------
def test_overcommit_storage_copied_by_release() -> None:
    """HV pkg/controller/master/setting/overcommit_config.go: up to v1.3.1 the controller parses
    `value` only (an unset setting copies nothing); from v1.3.2 (5484b3867) it falls back to
    `default`."""
    unset = {"default": '{"cpu":1600,"memory":150,"storage":200}'}
    assert hs.overcommit_storage(unset, V121) is None
    assert hs.overcommit_storage(unset, V131) is None
    assert hs.overcommit_storage(unset, V132) == "200"
    assert hs.overcommit_storage(unset, V150) == "200"
    edited = {**unset, "value": '{"cpu":1600,"memory":150,"storage":300}'}
    assert hs.overcommit_storage(edited, V131) == "300"
    assert hs.overcommit_storage({**unset, "value": "{"}, V143) is None


def _over_provisioning(cl: Cluster) -> str | None:
    return (cl.get(R.LONGHORN_SETTINGS, hs.OVER_PROVISIONING, "longhorn-system") or {}).get("value")


def test_v143_overcommit_storage_reaches_longhorn(emulated) -> None:
    """On v1.4.3 Longhorn's storage-over-provisioning-percentage follows overcommit-config.storage,
    the default included (HV overcommit_config.go @v1.4.3)."""
    cl = _client(emulated, "v1.4.3")
    try:
        wait_for("setting-applied", lambda: _over_provisioning(cl) == "200")
        cl.patch(R.HARVESTER_SETTINGS, "overcommit-config", {"value": '{"cpu":1600,"memory":150,"storage":300}'})
        try:
            wait_for("setting-applied", lambda: _over_provisioning(cl) == "300")
        finally:
            cl.patch(R.HARVESTER_SETTINGS, "overcommit-config", {"value": None})
        wait_for("setting-applied", lambda: _over_provisioning(cl) == "200")
    finally:
        cl.close()


# -- VirtualMachineImage mutator (facts §17.7) ----------------------------------------------------
def _image(backend: str | None = None, sc: str | None = None) -> dict:
    spec = {"displayName": "img", "sourceType": "download", "url": "https://example.invalid/img.qcow2"}
    meta: dict = {"generateName": "fidelity-", "namespace": "default"}
    if sc:
        meta["annotations"] = {hs.IMAGE_SC_ANNOTATION: sc}
    return {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "VirtualMachineImage",
        "metadata": meta,
        "spec": {**spec, **({"backend": backend} if backend else {})},
    }


def test_image_backend_defaults_from_v150() -> None:
    """HV v1.5.0 virtualmachineimage/mutator.go: an empty backend becomes backingimage; no backend
    field before v1.5.0; a cdi image gets no storageClassParameters (pkg/image/cdi/mutate.go)."""
    assert hs.image_patch(_image(), V150)[0] == {"op": "add", "path": "/spec/backend", "value": "backingimage"}
    assert hs.image_patch(_image("cdi"), V150) == []
    assert [op["path"] for op in hs.image_patch(_image(), V143)] == ["/spec/storageClassParameters"]


SC_DEFAULTS = {"numberOfReplicas": "3", "staleReplicaTimeout": "30", "migratable": "true"}
SC_CLASSES = {
    "harvester-longhorn": {
        "metadata": {
            "name": "harvester-longhorn",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "driver.longhorn.io",
        "parameters": {**SC_DEFAULTS, "numberOfReplicas": "2", "dataLocality": "best-effort", "fsType": "ext4"},
    },
    "encrypted": {
        "metadata": {"name": "encrypted"},
        "provisioner": "driver.longhorn.io",
        "parameters": {
            "numberOfReplicas": "1",
            "encrypted": "true",
            "csi.storage.k8s.io/node-publish-secret-name": "crypto",
            "diskSelector": "ssd",
        },
    },
}


def _merged(image: dict, version: tuple[int, ...]) -> dict:
    (op,) = [op for op in hs.image_patch(image, version, SC_CLASSES) if op["path"] == "/spec/storageClassParameters"]
    return {"op": op["op"], **op["value"]}


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (V121, {**SC_DEFAULTS, "numberOfReplicas": "2"}),
        (V131, {**SC_DEFAULTS, "numberOfReplicas": "2", "dataLocality": "best-effort"}),
        (V143, {**SC_DEFAULTS, "numberOfReplicas": "2", "dataLocality": "best-effort"}),
        (V150, {**SC_DEFAULTS, "numberOfReplicas": "2", "dataLocality": "best-effort"}),
    ],
)
def test_image_parameters_from_the_default_class(version: tuple[int, ...], expected: dict) -> None:
    """HV mergeStorageClassParams (virtualmachineimage/mutator.go @v1.2.1/v1.3.1/v1.4.3,
    pkg/image/common/mutator.go @v1.5.0): without the annotation the default-annotated Longhorn
    class is the base; the defaults (pkg/util/image.go) overlaid with its allowlisted keys only
    (dataLocality from v1.3.0; fsType never); added, as the image had none."""
    assert _merged(_image(), version) == {"op": "add", **expected}


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (V121, {**SC_DEFAULTS, "numberOfReplicas": "1", "diskSelector": "ssd"}),
        (V131, {**SC_DEFAULTS, "numberOfReplicas": "1", "diskSelector": "ssd"}),
        (
            V143,
            {
                **SC_DEFAULTS,
                "numberOfReplicas": "1",
                "diskSelector": "ssd",
                "encrypted": "true",
                "csi.storage.k8s.io/node-publish-secret-name": "crypto",
            },
        ),
    ],
)
def test_image_parameters_from_the_annotated_class(version: tuple[int, ...], expected: dict) -> None:
    """HV mutator.go getStorageClass @v1.2.1/v1.3.1/v1.4.3: `harvesterhci.io/storageClassName`
    names the base class; the encryption keys are on the allowlist from v1.4.0."""
    assert _merged(_image(sc="encrypted"), version) == {"op": "add", **expected}


@pytest.mark.parametrize(("version", "replicas"), [(V121, "5"), (V131, "2"), (V143, "2"), (V150, "2")])
def test_image_own_parameters_against_the_class(version: tuple[int, ...], replicas: str) -> None:
    """HV mergeStorageClassParams: v1.2.1 takes the image's own parameters over the class's;
    from v1.2.2 (and at v1.3.1/v1.4.3/v1.5.0) the class's win and the image's are replaced, its
    off-list keys dropped either way; the op is `replace` as the image had parameters."""
    image = _image()
    image["spec"]["storageClassParameters"] = {"numberOfReplicas": "5", "migratable": "false", "foo": "bar"}
    assert _merged(image, version) == {"op": "replace", **SC_DEFAULTS, "numberOfReplicas": replicas} | (
        {"dataLocality": "best-effort"} if version >= (1, 3, 0) else {}
    )


def test_image_own_parameters_without_a_default_class() -> None:
    """HV mergeStorageClassParams @v1.4.3: with no base class the image's own allowlisted
    parameters are merged over the defaults."""
    image = _image()
    image["spec"]["storageClassParameters"] = {"numberOfReplicas": "1", "nodeSelector": "gpu", "fsType": "xfs"}
    (op,) = hs.image_patch(image, V143, {})
    assert op["value"] == {**SC_DEFAULTS, "numberOfReplicas": "1", "nodeSelector": "gpu"}


def test_image_on_third_party_class_needs_cdi() -> None:
    """HV v1.5.0 pkg/image/common getSC (v1.4.3 mutator.go getStorageClass for every image): a
    backing-image image may not name a non-Longhorn StorageClass; a cdi image may."""
    classes = {
        "ontap-san-economy": {"provisioner": "csi.trident.netapp.io"},
        "harvester-longhorn": {"provisioner": "driver.longhorn.io", "parameters": {}},
    }
    refused = "the provisioner of storageClass must be driver.longhorn.io, not csi.trident.netapp.io"
    assert hs.image_refusal(_image(sc="ontap-san-economy"), classes, V150) == refused
    assert hs.image_refusal(_image(sc="ontap-san-economy"), classes, V143) == refused
    assert hs.image_refusal(_image("cdi", sc="ontap-san-economy"), classes, V150) is None
    assert hs.image_refusal(_image(sc="harvester-longhorn"), classes, V150) is None


@pytest.mark.parametrize(("profile", "backend"), [("v1.5.0", "backingimage"), ("v1.4.3", None)])
def test_image_mutator_on_cluster(emulated, profile: str, backend: str | None) -> None:
    """The emulated cluster's image mutator sets spec.backend on v1.5.0 only (HV mutator.go @v1.5.0)
    and fills spec.storageClassParameters from the default class (harvester-longhorn) on both."""
    cl = _client(emulated, profile)
    try:
        created = cl.request(
            "POST", R.VM_IMAGES.path("default"), body=_image(), query={"dryRun": "All", "fieldValidation": "Strict"}
        )
        assert created["spec"].get("backend") == backend
        assert created["spec"]["storageClassParameters"] == SC_DEFAULTS
    finally:
        cl.close()


# -- Fleet bundles follow their ManagedChart ----------------------------------------------------------
def test_mirrored_status_takes_the_charts_fleet_fields() -> None:
    """rancher managedchart.go updateStatus (status.BundleStatus = bundle.Status): summary, display
    and conditions are the same on both; the bundle keeps its own observedGeneration."""
    chart = {"status": {"summary": {"desiredReady": 1, "ready": 0, "modified": 1}, "display": {"state": "Modified"}}}
    bundle = {"status": {"observedGeneration": 3, "summary": {"desiredReady": 1, "ready": 1}, "conditions": []}}
    assert hs.mirrored_status(chart, bundle) == {"observedGeneration": 3, **chart["status"]}


def _bundle(cl: Cluster) -> dict:
    return cl.get(R.FLEET_BUNDLES, "mcc-harvester", "fleet-local")


def test_mcc_bundle_as_rancher_generates_it(emulated) -> None:
    """rancher managedchart.go: bundle mcc-<chart> owned by the ManagedChart, Helm options and the
    chart files as base64+gz resources; rancher/fleet charts/fleet-crd: status is a subresource."""
    cl = _client(emulated, "v1.3.1")
    try:
        bundle = _bundle(cl)
        assert bundle["spec"]["helm"] == {"releaseName": "harvester", "version": "1.3.1"}
        assert bundle["spec"]["resources"][0]["encoding"] == "base64+gz"
        assert bundle["metadata"]["ownerReferences"][0]["kind"] == "ManagedChart"
        # a write of the main resource does not change status (the status subresource exists)
        cl.patch(R.FLEET_BUNDLES, "mcc-harvester", {"status": {"display": {"state": "Bogus"}}}, "fleet-local")
        assert _bundle(cl)["status"]["display"]["state"] == ""
    finally:
        cl.close()


def test_upg06_shows_in_the_bundle(emulated) -> None:
    """A ManagedChart that is not ready shows modified/ready counts in its bundle, as
    fleet-local/mcc-harvester does (fleet summary.go ReadyMessage; rancher managedchart.go)."""
    c = emulated("v1.3.1")
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    try:
        assert _bundle(cl)["status"]["summary"] == {"desiredReady": 1, "ready": 1}
        faults.inject("UPG-06", c.kubeconfig)
        try:
            wait_for("setting-applied", lambda: (_bundle(cl)["status"]["summary"]).get("modified") == 1)
            status = _bundle(cl)["status"]
            assert status["summary"]["ready"] == 0 and status["display"] == {
                "readyClusters": "0/1",
                "state": "Modified",
            }
            ready = next(c for c in status["conditions"] if c["type"] == "Ready")
            assert ready["status"] == "False" and ready["message"].startswith("Modified(1) [Cluster fleet-local/local]")
        finally:
            faults.revert("UPG-06", c.kubeconfig)
        wait_for("setting-applied", lambda: _bundle(cl)["status"]["summary"] == {"desiredReady": 1, "ready": 1})
    finally:
        cl.close()
