"""Area module (see areas/__init__.py): faults of cluster-wide configuration (Harvester and
Rancher settings, nodes, webhooks, storage classes, charts). Seeding of the core objects stays in
emulator/seed.py; the other areas seed theirs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import pki
from harvester_conformance.emulator.areas import (
    cluster_restart,
    harvester_hosts_rancher,
    harvester_pod_security,
    kubevirt_migration_setting,
    longhorn_model,
)
from harvester_conformance.emulator.areas.kubevirt_model import version_tuple
from harvester_conformance.emulator.faults import (
    SETTING_WEBHOOK,
    Fault,
    admitted,
    edit_keeping_original,
    set_webhook_registered,
    webhook_down,
)
from harvester_conformance.emulator.profiles import PROFILES, STORAGE_NETWORK_NAD, STORAGE_NETWORK_SETTING, ProfileSpec
from harvester_conformance.emulator.simulator.informers import ON_CHANGE
from harvester_conformance.emulator.simulator.webhooks import Result, route
from harvester_conformance.waits import wait_for

API_GROUPS: list = []
FIRST_NODE = "harvester-node-0"
LAST_NODE = "harvester-node-2"
AFFECTED_RKE2 = "v1.27.10+rke2r1"  # token rotation breaks restarts (KB security, facts §0.1)


def seed(cl: Any, spec: Any, state_dir: Path, progress: Any) -> None:
    return None


def ready(cl: Any, spec: Any) -> bool:
    """Every ManagedChart's bundle shows the chart's status, and Longhorn's over-provisioning holds
    what Harvester copies into it."""
    return not unmirrored_bundles(cl) and not overcommit_pending(cl)


# -- Harvester's version, as its server-version setting records it -----------------------------------
def harvester_version(cl: Cluster) -> tuple[int, ...]:
    """The running release (server-version's value; "dev" or unset reads as newer than any)."""
    return version_tuple((cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value"))


# -- overcommit-config.storage -> Longhorn storage-over-provisioning-percentage ----------------------
OVER_PROVISIONING = "storage-over-provisioning-percentage"
OVERCOMMIT_DEFAULT_COPIED_SINCE = (1, 3, 2)  # HV 5484b3867 "Fix storage overcommit default not applied"


def overcommit_storage(setting: dict | None, version: tuple[int, ...]) -> str | None:
    """The percentage Harvester's setting controller copies into Longhorn, or None when it copies
    nothing (HV `pkg/controller/master/setting/overcommit_config.go`): up to v1.3.1 it reads `value`
    only, so an unset setting (or JSON that does not parse) leaves Longhorn's own default; from
    v1.3.2 it falls back to `default`."""
    item = setting or {}
    text = item.get("value") or ""
    if not text and version >= OVERCOMMIT_DEFAULT_COPIED_SINCE:
        text = item.get("default") or ""
    try:
        storage = json.loads(text).get("storage", 0)
    except (ValueError, AttributeError):
        return None
    return str(storage) if isinstance(storage, int) else None


def overcommit_pending(cl: Cluster) -> list[str]:
    """The Longhorn setting when it does not hold the percentage Harvester copies yet."""
    want = overcommit_storage(cl.get(R.HARVESTER_SETTINGS, "overcommit-config"), harvester_version(cl))
    current = cl.get(R.LONGHORN_SETTINGS, OVER_PROVISIONING, "longhorn-system")
    if want is None or current is None or current.get("value") == want:
        return []
    return [OVER_PROVISIONING]


def overcommit_factory(cl: Cluster, state_dir: object) -> Any:
    """Harvester's setting controller for overcommit-config (its Longhorn storage part)."""

    def reconcile() -> None:
        if overcommit_pending(cl):
            want = overcommit_storage(cl.get(R.HARVESTER_SETTINGS, "overcommit-config"), harvester_version(cl))
            cl.patch(R.LONGHORN_SETTINGS, OVER_PROVISIONING, {"value": want}, "longhorn-system")

    return reconcile


# -- ManagedChart -> Bundle status ---------------------------------------------------------------
# Upstream Fleet summarises the bundle's deployments and Rancher copies the bundle's status into the
# ManagedChart (rancher `managedchart.go` `updateStatus`: status.BundleStatus = bundle.Status). The
# faults here break the ManagedChart, so the simulator runs that copy the other way round: the
# bundle `mcc-<chart>` shows what its chart shows, as it would have first on a real cluster.
MIRRORED = ("summary", "display", "conditions")


def mirrored_status(chart: dict, bundle: dict) -> dict:
    """The bundle's status with the fields Rancher copies between the two taken from the chart."""
    chart_status = chart.get("status") or {}
    status = {k: v for k, v in (bundle.get("status") or {}).items() if k not in MIRRORED}
    status.update({k: chart_status[k] for k in MIRRORED if k in chart_status})
    return status


def unmirrored_bundles(cl: Cluster) -> list[tuple[dict, dict]]:
    """(bundle, status it should have) for every ManagedChart bundle that does not show its chart."""
    out = []
    for chart in cl.list(R.MANAGED_CHARTS, "fleet-local"):
        bundle = cl.get(R.FLEET_BUNDLES, f"mcc-{chart['metadata']['name']}", "fleet-local")
        if bundle is None:
            continue
        want = mirrored_status(chart, bundle)
        if (bundle.get("status") or {}) != want:
            out.append((bundle, want))
    return out


def bundle_status_factory(cl: Cluster, state_dir: object) -> Any:
    def reconcile() -> None:
        for bundle, want in unmirrored_bundles(cl):
            try:  # the whole status replaced: a merge patch would keep counts the chart dropped
                cl.replace(R.FLEET_BUNDLES, {**bundle, "status": want}, sub="status")
            except ApiError as exc:
                if exc.status != 409:  # changed meanwhile: the next tick sees the new one
                    raise

    return reconcile


# -- VirtualMachineImage mutator -----------------------------------------------------------------
IMAGE_MUTATE_PATH = "/v1/harvester/harvesterhci.io.virtualmachineimages/mutate"
IMAGE_MUTATOR_NAME = "virtualmachineimage.mutator.harvesterhci.io"
IMAGE_BACKEND_SINCE = (1, 5, 0)
LONGHORN_DRIVER = "driver.longhorn.io"
IMAGE_SC_ANNOTATION = "harvesterhci.io/storageClassName"


def image_backend(image: dict, version: tuple[int, ...]) -> str:
    """The image's backend after admission: from v1.5.0 an empty one becomes `backingimage` (HV
    v1.5.0 `virtualmachineimage/mutator.go`; the v1.5.0 CRD defaults it too); before, none exists."""
    given = (image.get("spec") or {}).get("backend") or ""
    return given or ("backingimage" if version >= IMAGE_BACKEND_SINCE else "")


def image_refusal(image: dict, classes: dict[str, dict], version: tuple[int, ...]) -> str | None:
    """Why the mutator refuses the image: a backing-image image (every image before v1.5.0) whose
    `harvesterhci.io/storageClassName` names a class that is missing, not Longhorn's, or itself a
    backing-image class (HV `getStorageClass`/`getSC`). A `cdi` image may name any class."""
    if image_backend(image, version) == "cdi":
        return None
    name = ((image.get("metadata") or {}).get("annotations") or {}).get(IMAGE_SC_ANNOTATION)
    if not name:
        return None
    sc = classes.get(name)
    if sc is None:
        return f'storageclasses.storage.k8s.io "{name}" not found'
    if sc.get("provisioner") != LONGHORN_DRIVER:
        return f"the provisioner of storageClass must be {LONGHORN_DRIVER}, not {sc.get('provisioner')}"
    if (sc.get("parameters") or {}).get("backingImage"):
        return "can not use a backing image storageClass as the base storageClass template"
    return None


# HV pkg/util/image.go GetImageDefaultStorageClassParameters (the same v1.2.1..v1.5.0)
IMAGE_SC_DEFAULTS = {"numberOfReplicas": "3", "staleReplicaTimeout": "30", "migratable": "true"}
IMAGE_SC_FIRST_SINCE = (1, 2, 2)  # the class's parameters win over the image's (v1.2.1: the image's)
IMAGE_SC_KEYS: tuple[tuple[tuple[int, ...], tuple[str, ...]], ...] = (  # mergeStorageClassParams' allowlist
    ((0,), ("nodeSelector", "diskSelector", "numberOfReplicas", "staleReplicaTimeout")),
    ((1, 3, 0), ("dataLocality",)),
    (
        (1, 4, 0),
        (
            "encrypted",
            "csi.storage.k8s.io/provisioner-secret-name",
            "csi.storage.k8s.io/provisioner-secret-namespace",
            "csi.storage.k8s.io/node-stage-secret-name",
            "csi.storage.k8s.io/node-stage-secret-namespace",
            "csi.storage.k8s.io/node-publish-secret-name",
            "csi.storage.k8s.io/node-publish-secret-namespace",
        ),
    ),
)
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def image_base_class(image: dict, classes: dict[str, dict]) -> dict | None:
    """The class the image's parameters derive from (HV getStorageClass/getSC): the one its
    annotation names, else the first default-annotated Longhorn class, else none."""
    name = ((image.get("metadata") or {}).get("annotations") or {}).get(IMAGE_SC_ANNOTATION)
    if name:
        return classes.get(name)
    for sc in classes.values():
        annotations = (sc.get("metadata") or {}).get("annotations") or {}
        if annotations.get(DEFAULT_CLASS_ANNOTATION) == "true" and sc.get("provisioner") == LONGHORN_DRIVER:
            return sc
    return None


def image_sc_params(image: dict, sc: dict | None, version: tuple[int, ...]) -> dict[str, str]:
    """HV mergeStorageClassParams: the defaults, overlaid with the allowlisted keys of one source,
    the image's own parameters or the base class's (which one wins changed in v1.2.2); the other
    source and every key off the list are dropped."""
    own = (image.get("spec") or {}).get("storageClassParameters")
    class_params = None if sc is None else sc.get("parameters") or {}
    if version >= IMAGE_SC_FIRST_SINCE:
        source = class_params if class_params is not None else own
    else:
        source = own if own is not None else class_params
    allowed = {k for since, keys in IMAGE_SC_KEYS if version >= since for k in keys}
    return {**IMAGE_SC_DEFAULTS, **{k: v for k, v in (source or {}).items() if k in allowed}}


def image_patch(image: dict, version: tuple[int, ...], classes: dict[str, dict] | None = None) -> list[dict]:
    """The mutator's patch: spec.backend from v1.5.0, then spec.storageClassParameters merged
    (every image before v1.5.0, backing-image ones from it; a cdi image keeps its own)."""
    backend = image_backend(image, version)
    spec = image.get("spec") or {}
    ops: list[dict] = []
    if backend and spec.get("backend") != backend:
        ops.append({"op": "add", "path": "/spec/backend", "value": backend})
    if backend == "cdi":
        return ops
    params = image_sc_params(image, image_base_class(image, classes or {}), version)
    verb = "replace" if spec.get("storageClassParameters") is not None else "add"
    return [*ops, {"op": verb, "path": "/spec/storageClassParameters", "value": params}]


@route(IMAGE_MUTATE_PATH)
def mutate_image(request: dict, cluster: Cluster) -> Result:
    if request.get("operation") != "CREATE":
        return True, "", None
    image = request.get("object") or {}
    version = harvester_version(cluster)
    classes = {sc["metadata"]["name"]: sc for sc in cluster.list(R.STORAGE_CLASSES)}
    refusal = image_refusal(image, classes, version)
    if refusal:
        return False, refusal, None
    return True, "", image_patch(image, version, classes) or None


CONTROLLERS: list[Any] = [
    ("harvester-overcommit-storage", overcommit_factory, 2.0, ON_CHANGE),
    ("fleet-bundle-status", bundle_status_factory, 2.0, ON_CHANGE),
    ("harvester-pod-security-standard", harvester_pod_security.factory, 2.0, ON_CHANGE),
]
WEBHOOKS: list[dict] = [
    {
        "kind": "mutating",
        "name": IMAGE_MUTATOR_NAME,
        "path": IMAGE_MUTATE_PATH,
        "rules": [
            {
                "apiGroups": ["harvesterhci.io"],
                "apiVersions": ["v1beta1"],
                "operations": ["CREATE"],
                "resources": ["virtualmachineimages"],
                "scope": "Namespaced",
            }
        ],
    }
]


def _set(cl: Cluster, name: str, value: str) -> None:
    cl.patch(R.HARVESTER_SETTINGS, name, {"value": value})


def _set_unvalidated(name: str, value: str):
    def inject(cl: Cluster) -> None:
        with webhook_down(cl, SETTING_WEBHOOK):
            admitted(lambda: _set(cl, name, value))

    return inject


def _reset(name: str):
    """Back to unset: no `value` at all, as Harvester writes an unset setting (omitempty)."""
    return lambda cl: cl.patch(R.HARVESTER_SETTINGS, name, {"value": None})


def _mismatched_ssl_pair(cl: Cluster) -> None:
    # A certificate and a key from two different issuances pasted together: valid PEM each, so
    # Harvester's webhook accepts it (it checks parsing, not that the key fits).
    ca = pki.make_ca("ingress-ca", dt.timedelta(days=365))
    served = pki.issue(ca, "harvester.example.internal", dt.timedelta(days=365), dns=("harvester.example.internal",))
    other = pki.issue(ca, "harvester.example.internal", dt.timedelta(days=365), dns=("harvester.example.internal",))
    _set(
        cl,
        "ssl-certificates",
        json.dumps(
            {
                "ca": ca.cert_pem.decode(),
                "publicCertificate": served.cert_pem.decode(),
                "privateKey": other.key_pem.decode(),
            }
        ),
    )


def _allocatable_above_capacity(cl: Cluster) -> None:
    # A kubelet reporting more allocatable CPU than the node has (a bad --system-reserved edit).
    node = cl.get(R.NODES, FIRST_NODE)
    assert node is not None
    cpu = int(node["status"]["capacity"]["cpu"])
    cl.patch(R.NODES, FIRST_NODE, {"status": {"allocatable": {"cpu": str(cpu + 8)}}}, sub="status")


def _allocatable_restored(cl: Cluster) -> None:
    cl.patch(R.NODES, FIRST_NODE, {"status": {"allocatable": {"cpu": "31800m"}}}, sub="status")


def _cordon(unschedulable: bool):
    # Left cordoned after maintenance: the upgrade gate needs every node schedulable.
    return lambda cl: cl.patch(R.NODES, FIRST_NODE, {"spec": {"unschedulable": unschedulable or None}})


def _release(cl: Cluster) -> ProfileSpec:
    """The profile of the release the cluster runs, whose component versions a revert goes back to."""
    server = (cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value")
    return next(p for p in PROFILES.values() if p.harvester == server and p.name == server)


def set_longhorn_version(cl: Cluster, version: str | None) -> None:
    """Set the version, then wait for Longhorn to have rolled its instance managers to it, each
    with the storage-network address Multus records before a real pod runs."""
    if version is None:  # back to the release's own version
        version = _release(cl).longhorn
    cl.patch(R.LONGHORN_SETTINGS, "current-longhorn-version", {"value": version}, "longhorn-system")
    wait_for("cluster-seeded", lambda: _longhorn_rolled(cl, version))


def _longhorn_rolled(cl: Cluster, version: str) -> bool:
    pods = {p["metadata"]["name"]: p for p in cl.list(R.PODS, "longhorn-system")}
    nodes = [node["metadata"]["name"] for node in cl.list(R.NODES)]
    names = [n for node in nodes for n, _ in longhorn_model.instance_manager_pods(node, version)]
    present = [pods[n] for n in names if n in pods]
    if not present or any((p.get("status") or {}).get("phase") != "Running" for p in present):
        return False
    return not cluster_restart.check_storage_network_status(list(pods.values()))


def _csi_config_with_missing_class(cl: Cluster) -> str:
    cfg = json.loads((cl.get(R.HARVESTER_SETTINGS, "csi-driver-config") or {}).get("value") or "{}")
    cfg["driver.longhorn.io"] = {
        "volumeSnapshotClassName": "longhorn-snapshot-v2",
        "backupVolumeSnapshotClassName": "longhorn",
    }
    return json.dumps(cfg)


def _csi01_inject(cl: Cluster) -> None:
    # An edit naming a VolumeSnapshotClass that was never created (Harvester does not validate it).
    inject, _ = edit_keeping_original(
        R.HARVESTER_SETTINGS, "csi-driver-config", None, "value", _csi_config_with_missing_class(cl)
    )
    inject(cl)


STRICT_LOCAL_CLASS = "longhorn-strict-local"


def _strict_local_class(present: bool):
    name = STRICT_LOCAL_CLASS

    def apply(cl: Cluster) -> None:
        if present:
            cl.create(
                R.STORAGE_CLASSES,
                {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClass",
                    "metadata": {"name": name},
                    "provisioner": "driver.longhorn.io",
                    "allowVolumeExpansion": True,
                    "parameters": {
                        "numberOfReplicas": "3",
                        "dataLocality": "strict-local",
                        "staleReplicaTimeout": "30",
                    },
                },
            )
        else:
            cl.delete(R.STORAGE_CLASSES, name)

    return apply


def _trident_class_removed(cl: Cluster) -> None:
    cl.delete(R.STORAGE_CLASSES, harvester_hosts_rancher.TRIDENT_CLASS)


def _trident_reseeded(cl: Cluster) -> None:
    harvester_hosts_rancher.seed_trident(cl)


def _storage_network(configured: bool):
    """Harvester's setting and the Longhorn setting its controller writes, set or both cleared."""

    def apply(cl: Cluster) -> None:
        if configured:
            _set(cl, "storage-network", STORAGE_NETWORK_SETTING)
        else:  # as left by an upgraded cluster that never configured one
            _set_unvalidated("storage-network", "")(cl)
        lh = "/".join(STORAGE_NETWORK_NAD) if configured else ""
        cl.patch(R.LONGHORN_SETTINGS, "storage-network", {"value": lh}, "longhorn-system")

    return apply


def _rke2_on_node(version: str | None):
    """A node whose RKE2 is (or is no longer) the one the KB warns about for token rotation."""

    def apply(cl: Cluster) -> None:
        rke2 = version or _release(cl).rke2
        info = {"kubeletVersion": rke2, "kubeProxyVersion": rke2}
        cl.patch(R.NODES, LAST_NODE, {"status": {"nodeInfo": info}}, sub="status")

    return apply


# A release's own migration settings deviate from KubeVirt's documented defaults: edited by hand.
MIGRATION_EDIT = {"bandwidthPerMigration": "1Gi", "allowPostCopy": True}
MIGRATION_SETTING_SINCE = (1, 7, 0)  # kubevirt-migration owns the CR's block (facts-releases R1.2)


def _migration_limits(edited: bool):
    """Up to v1.6.x the KubeVirt CR's block is edited (KB 2023-09-01); from v1.7.0 the syncer would
    overwrite that edit, so the same values go where users set them there: the kubevirt-migration
    setting (written even while a VMIM is unfinished, which the webhook refuses, as after a past
    migration left one behind). The syncer writes them into the CR."""

    def apply(cl: Cluster) -> None:
        if harvester_version(cl) >= MIGRATION_SETTING_SINCE:
            setting = cl.get(R.HARVESTER_SETTINGS, "kubevirt-migration") or {}
            value = json.dumps({**json.loads(setting.get("default") or "{}"), **MIGRATION_EDIT}) if edited else None
            with webhook_down(cl, SETTING_WEBHOOK):
                admitted(lambda: cl.patch(R.HARVESTER_SETTINGS, "kubevirt-migration", {"value": value}))
            wait_for("setting-applied", lambda: not kubevirt_migration_setting.pending(cl))
            return
        value = MIGRATION_EDIT if edited else None
        cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"configuration": {"migrations": value}}}, "harvester-system")

    return apply


# What Fleet reports for a bundle whose deployed resources were edited by hand, as Rancher copies it
# into the ManagedChart (fleet `summary.ReadyMessage`, `ModifiedStatus.String`, rancher managedchart.go).
_UPG06_PATCH = '{"spec":{"replicas":2}}'
_UPG06_MODIFIED = {
    "kind": "Deployment",
    "apiVersion": "apps/v1",
    "namespace": "harvester-system",
    "name": "harvester",
    "patch": _UPG06_PATCH,
}
_UPG06 = edit_keeping_original(
    R.MANAGED_CHARTS,
    "harvester",
    "fleet-local",
    "status",
    {
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "message": "Modified(1) [Cluster fleet-local/local]; "
                f"deployment.apps harvester-system/harvester modified {_UPG06_PATCH}",
            }
        ],
        "summary": {
            "desiredReady": 1,
            "ready": 0,
            "modified": 1,
            "nonReadyResources": [
                {"name": "fleet-local/local", "bundleState": "Modified", "modifiedStatus": [_UPG06_MODIFIED]}
            ],
        },
        "display": {"readyClusters": "0/1", "state": "Modified"},
    },
)
_CSI01_REVERT = edit_keeping_original(R.HARVESTER_SETTINGS, "csi-driver-config", None, "value", None)[1]
_FSR01 = edit_keeping_original(R.HARVESTER_SETTINGS, "server-version", None, "value", "v1.0.3")

FAULTS: list[Fault] = [
    Fault(
        "LHP-03",
        "no dedicated storage network: storage-network empty, as an upgraded cluster never configured",
        _storage_network(False),
        _storage_network(True),
        objects=("Setting storage-network",),
    ),
    Fault(
        "FSR-01",
        "a cluster still on Harvester v1.0.3 (before the v1.1.0 Longhorn fix)",
        *_FSR01,
        objects=("Setting server-version",),
        reports_release="v1.0.3",
    ),
    Fault(
        "SEC-06",
        f"{LAST_NODE} still on RKE2 {AFFECTED_RKE2} (a partial upgrade from v1.3.0)",
        _rke2_on_node(AFFECTED_RKE2),
        _rke2_on_node(None),
        objects=(f"Node {LAST_NODE}",),
    ),
    Fault(
        "MIG-01",
        "KubeVirt CR migrations edited by hand: bandwidthPerMigration 1Gi, allowPostCopy true",
        _migration_limits(True),
        _migration_limits(False),
        objects=("KubeVirt harvester-system/kubevirt",),
    ),
    Fault(
        "SEC-02",
        "Harvester's Setting validation webhook not registered (its pods are broken)",
        lambda cl: set_webhook_registered(cl, SETTING_WEBHOOK, False),
        lambda cl: set_webhook_registered(cl, SETTING_WEBHOOK, True),
        objects=("Setting http-proxy",),
    ),
    Fault(
        "CCR-02",
        "kubeconfig-default-token-ttl-minutes at 43200 (Rancher 2.8's default), so credentials expire",
        harvester_hosts_rancher.token_ttl_fault("43200"),
        harvester_hosts_rancher.token_ttl_fault(None),
        objects=(f"Setting {harvester_hosts_rancher.TTL_SETTING}",),
    ),
    Fault(
        "CSI-01",
        "csi-driver-config naming a VolumeSnapshotClass that does not exist",
        _csi01_inject,
        _CSI01_REVERT,
        objects=("Setting csi-driver-config",),
    ),
    Fault(
        "UPG-06",
        "the harvester ManagedChart not Ready (its bundle was modified)",
        *_UPG06,
        objects=("ManagedChart fleet-local/harvester",),
    ),
    Fault(
        "NTA-01",
        "the Trident StorageClass deleted while csi-driver-config still names its driver",
        _trident_class_removed,
        _trident_reseeded,
        objects=(f"StorageClass {harvester_hosts_rancher.TRIDENT_CLASS}",),
    ),
    Fault(
        "LHP-02",
        "an extra Longhorn StorageClass with strict-local data locality and three replicas",
        _strict_local_class(True),
        _strict_local_class(False),
        objects=(f"StorageClass {STRICT_LOCAL_CLASS}",),
        creates=(f"StorageClass {STRICT_LOCAL_CLASS}",),
    ),
    Fault(
        "SCH-01",
        "overcommit-config cpu 50 (under 100) written while the webhook was unavailable",
        _set_unvalidated("overcommit-config", '{"cpu":50,"memory":150,"storage":200}'),
        _reset("overcommit-config"),
        objects=("Setting overcommit-config",),
    ),
    Fault(
        "SEC-03",
        "auto-rotate-rke2-certs holding JSON that does not parse, written while the webhook was down",
        _set_unvalidated("auto-rotate-rke2-certs", '{"enable": true, "expiringInHours": '),
        _reset("auto-rotate-rke2-certs"),
        objects=("Setting auto-rotate-rke2-certs",),
    ),
    Fault(
        "SEC-05",
        "ssl-certificates whose private key does not belong to its certificate",
        _mismatched_ssl_pair,
        _reset("ssl-certificates"),
        objects=("Setting ssl-certificates",),
    ),
    Fault(
        "MET-05",
        "a node reporting more allocatable CPU than its capacity",
        _allocatable_above_capacity,
        _allocatable_restored,
        objects=(f"Node {FIRST_NODE}",),
    ),
    Fault(
        "UPG-02",
        "a node left cordoned after maintenance",
        _cordon(True),
        _cordon(False),
        objects=(f"Node {FIRST_NODE}",),
    ),
    Fault(
        "FRS-01",
        "vm-force-reset-policy period raised to 600 s (a value the setting webhook accepts), so the VMs "
        "of a lost node wait ten minutes before they are rescheduled",
        lambda cl: _set(cl, "vm-force-reset-policy", '{"enable":true,"period":600}'),
        _reset("vm-force-reset-policy"),
        objects=("Setting vm-force-reset-policy",),
    ),
    Fault(
        "TRM-01",
        "Longhorn left at v1.4.2 by a half-finished upgrade (the release ships another)",
        lambda cl: set_longhorn_version(cl, "v1.4.2"),
        lambda cl: set_longhorn_version(cl, None),
        objects=("Setting longhorn-system/current-longhorn-version",),
        reports_component=True,
    ),
]
