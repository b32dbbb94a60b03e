"""Rancher-side objects, upgrade prerequisites and the third-party CSI (Trident) of the emulated
cluster (facts §3, §11, §16; KB "Using NetApp Storage", "Renew Harvester Cloud Credentials").

Cloud-credential tokens: Rancher keeps a token's lifetime on its `tokens.management.cattle.io`
object (`ttl` in ms, `expiresAt` RFC 3339, `expired`), named by the part of the bearer token
before the colon (`kubeconfig-u-xxxxx:<secret>`); this module records every credential's token
there (CRD in crds/management.cattle.io.yaml).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import string
from collections.abc import Callable

import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import clock
from harvester_conformance.emulator.faults import edit_keeping_original
from harvester_conformance.emulator.profiles import ProfileSpec
from harvester_conformance.waits import wait_for

MANAGER = "harvester-conformance-emulator"
TOKENS = R.RANCHER_TOKENS
CSI_DRIVERS = R.CSI_DRIVERS
TRIDENT = "csi.trident.netapp.io"
TRIDENT_CLASS = "ontap-san-economy"
CC_NS = "cattle-global-data"
# The cloud credential's name: Rancher's are `cc-` and five random characters; this one is fixed so
# that the faults breaking it (CCR-01) can declare it.
CC_NAME = "cc-hvstr"
TTL_SETTING = "kubeconfig-default-token-ttl-minutes"
MAX_TTL_SETTING = "auth-token-max-ttl-minutes"  # Rancher's default 0: no maximum
CREATED_ANN = "emulator.harvester-conformance.io/created"  # a token's issue time (may predate the object)
CC_KEY = "harvestercredentialConfig-kubeconfigContent"
NEXT_RELEASE = {"v1.2.1": "v1.2.2", "v1.3.1": "v1.3.2", "v1.4.3": "v1.5.0", "v1.5.0": "v1.5.1"}
_ALNUM = string.ascii_lowercase + string.digits


def _ver(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.lstrip("v").split("-")[0].split("+")[0].split("."))


def rancher_token_ttl_default(spec: ProfileSpec) -> str:
    """Rancher's own default: 0 up to v2.7, 43200 (30 days) from v2.8 (facts §3)."""
    return "43200" if _ver(spec.rancher) >= (2, 8) else "0"


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def setting_minutes(cl: Cluster, name: str) -> int:
    s = cl.get(R.RANCHER_SETTINGS, name) or {}
    return int(s.get("value") or s.get("default") or 0)


def capped_ttl(ttl_minutes: int, max_minutes: int) -> int:
    """Rancher caps a token's TTL at auth-token-max-ttl-minutes when that is set (0: no cap)."""
    return max_minutes if max_minutes and (not ttl_minutes or ttl_minutes > max_minutes) else ttl_minutes


def new_token(cl: Cluster, user: str, ttl_minutes: int, created: dt.datetime | None = None) -> str:
    """Create a Rancher kubeconfig token, as Rancher's API does; returns the bearer string
    `<name>:<secret>` (never logged)."""
    ttl_minutes = capped_ttl(ttl_minutes, setting_minutes(cl, MAX_TTL_SETTING))
    name = f"kubeconfig-{user}{_rand(5)}"
    secret = _rand(54)
    created = created or clock.now()
    expires = created + dt.timedelta(minutes=ttl_minutes) if ttl_minutes else None
    cl.create(
        TOKENS,
        {
            "apiVersion": TOKENS.api_version,
            "kind": TOKENS.kind,
            "metadata": {
                "name": name,
                "labels": {
                    "authn.management.cattle.io/token-userId": user,
                    "authn.management.cattle.io/kind": "kubeconfig",
                },
                "annotations": {CREATED_ANN: clock.stamp(created)},
            },
            "userId": user,
            "authProvider": "local",
            "description": "Kubeconfig token",
            "token": hashlib.sha256(secret.encode()).hexdigest(),
            "ttl": ttl_minutes * 60_000,
            "expiresAt": clock.stamp(expires) if expires else "",
            "expired": bool(expires and expires <= clock.now()),
            "isDerived": True,
            "clusterName": "local",
        },
    )
    return f"{name}:{secret}"


def kubeconfig_for(server: str, ca_pem: bytes, bearer: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()},
                }
            ],
            "users": [{"name": "local", "user": {"token": bearer}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}],
            "current-context": "local",
        },
        sort_keys=False,
    )


def credential_data(kubeconfig: str, cluster_id: str) -> dict[str, str]:
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    return {
        CC_KEY: b64(kubeconfig),
        "harvestercredentialConfig-clusterType": b64("imported"),
        "harvestercredentialConfig-clusterId": b64(cluster_id),
    }


def seed_rancher(cl: Cluster, spec: ProfileSpec, nodes: list[str], ca_pem: bytes) -> None:
    ttl_default = rancher_token_ttl_default(spec)
    # Harvester >= v1.3.1 copies its own setting (default 0) into the embedded Rancher's settings.
    copied = "0" if _ver(spec.harvester) >= (1, 3, 1) else ""
    cl.apply(
        R.RANCHER_SETTINGS,
        {"metadata": {"name": TTL_SETTING}, "default": ttl_default, "value": copied, "source": "db" if copied else ""},
        manager=MANAGER,
    )
    cl.apply(
        R.RANCHER_SETTINGS,
        {"metadata": {"name": MAX_TTL_SETTING}, "default": "0", "value": copied, "source": "db" if copied else ""},
        manager=MANAGER,
    )
    effective = int(copied or ttl_default)
    user = f"u-{_rand(5)}"
    bearer = new_token(cl, user, effective)
    cluster_id = f"c-m-{_rand(8)}"
    cc_name = CC_NAME
    cl.apply(
        R.SECRETS,
        {
            "metadata": {
                "name": cc_name,
                "namespace": CC_NS,
                "annotations": {
                    "provisioning.cattle.io/driver": "harvester",
                    "field.cattle.io/name": "harvester-local",
                },
                "labels": {"cattle.io/creator": "norman"},
            },
            "type": "provisioning.cattle.io/cloud-credential",
            "data": credential_data(kubeconfig_for(cl.host, ca_pem, bearer), cluster_id),
        },
        manager=MANAGER,
    )
    now = clock.stamp()
    ready = [{"type": "Ready", "status": "True", "lastTransitionTime": now}]
    cl.apply(
        R.PROVISIONING_CLUSTERS,
        {
            "metadata": {"name": "local", "namespace": "fleet-local"},
            "spec": {"kubernetesVersion": spec.rke2, "rkeConfig": {}},
            "status": {
                "ready": True,
                "clusterName": "local",
                "clientSecretName": "local-kubeconfig",
                "fleetWorkspaceName": "fleet-local",
                "observedGeneration": 1,
                "conditions": ready + [{"type": "Provisioned", "status": "True", "lastTransitionTime": now}],
            },
        },
        manager=MANAGER,
    )
    cl.apply(
        R.CAPI_CLUSTERS,
        {
            "metadata": {"name": "local", "namespace": "fleet-local"},
            "spec": {"paused": False},
            "status": {
                "phase": "Provisioned",
                "infrastructureReady": True,
                "controlPlaneReady": True,
                "observedGeneration": 1,
                "conditions": ready,
            },
        },
        manager=MANAGER,
    )
    for node in nodes:
        cl.apply(
            R.CAPI_MACHINES,
            {
                "metadata": {
                    "name": f"custom-{hashlib.sha256(node.encode()).hexdigest()[:12]}",
                    "namespace": "fleet-local",
                    "labels": {"cluster.x-k8s.io/cluster-name": "local", "cluster.x-k8s.io/control-plane": "true"},
                },
                "spec": {
                    "clusterName": "local",
                    "version": spec.rke2,
                    "providerID": f"rke2://{node}",
                    "bootstrap": {"dataSecretName": f"custom-{node}-machine-bootstrap"},
                    "infrastructureRef": {"apiVersion": "rke.cattle.io/v1", "kind": "CustomMachine", "name": node},
                },
                "status": {
                    "phase": "Running",
                    "nodeRef": {"apiVersion": "v1", "kind": "Node", "name": node},
                    "bootstrapReady": True,
                    "infrastructureReady": True,
                    "observedGeneration": 1,
                    "conditions": ready,
                },
            },
            manager=MANAGER,
        )
    cl.apply(
        R.SECRETS,
        {
            "metadata": {
                "name": "local-kubeconfig",
                "namespace": "fleet-local",
                "labels": {"cluster.x-k8s.io/cluster-name": "local"},
            },
            "data": {"value": base64.b64encode(b"# kubeconfig of the local cluster (emulated)\n").decode()},
        },
        manager=MANAGER,
    )
    chart_ver = spec.harvester.lstrip("v")
    for chart in ("harvester", "harvester-crd"):
        cl.apply(
            R.MANAGED_CHARTS,
            {
                "metadata": {"name": chart, "namespace": "fleet-local"},
                "spec": {
                    "chart": chart,
                    "version": chart_ver,
                    "releaseName": chart,
                    "defaultNamespace": "harvester-system",
                },
                "status": {
                    "conditions": [
                        {"type": "Ready", "status": "True", "lastTransitionTime": now},
                        {"type": "Processed", "status": "True", "lastTransitionTime": now},
                        {"type": "Defined", "status": "True", "lastTransitionTime": now},
                    ],
                    "summary": {"desiredReady": 1, "ready": 1},
                },
            },
            manager=MANAGER,
        )
    for bundle in ("mcc-harvester", "mcc-harvester-crd", "fleet-agent-local"):
        cl.apply(
            R.FLEET_BUNDLES,
            {
                "metadata": {"name": bundle, "namespace": "fleet-local"},
                "spec": {"targets": [{"clusterName": "local"}]},
                "status": {
                    "summary": {"desiredReady": 1, "ready": 1},
                    "display": {"readyClusters": "1/1", "state": ""},
                    "observedGeneration": 1,
                    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
                },
            },
            manager=MANAGER,
        )
    nxt = NEXT_RELEASE.get(spec.harvester)
    if nxt:
        cl.apply(
            R.VERSIONS,
            {
                "metadata": {"name": nxt, "namespace": "harvester-system"},
                "spec": {
                    "isoURL": f"https://releases.rancher.com/harvester/{nxt}/harvester-{nxt}-amd64.iso",
                    "isoChecksum": hashlib.sha512(nxt.encode()).hexdigest(),
                    "releaseDate": "20250101",
                    "minUpgradableVersion": spec.harvester,
                    "tags": [],
                },
            },
            manager=MANAGER,
        )


def seed_trident(cl: Cluster) -> None:
    """Trident as the NetApp KB installs it: CSIDriver, StorageClass, VolumeSnapshotClass, the
    operator's namespace/SA and the PSA ClusterRole, and csi-driver-config naming the classes."""
    cl.apply(
        CSI_DRIVERS,
        {
            "metadata": {"name": TRIDENT},
            "spec": {"attachRequired": True, "podInfoOnMount": False, "fsGroupPolicy": "ReadWriteOnceWithFSType"},
        },
        manager=MANAGER,
    )
    cl.apply(
        R.STORAGE_CLASSES,
        {
            "metadata": {"name": TRIDENT_CLASS},
            "provisioner": TRIDENT,
            "parameters": {"selector": "name=default_backend_san"},
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": True,
        },
        manager=MANAGER,
    )
    cl.apply(
        R.VOLUME_SNAPSHOT_CLASSES,
        {"metadata": {"name": "trident-snapshotclass"}, "driver": TRIDENT, "deletionPolicy": "Delete"},
        manager=MANAGER,
    )
    cl.apply(R.NAMESPACES, {"metadata": {"name": "trident"}}, manager=MANAGER)
    cl.apply(R.SERVICE_ACCOUNTS, {"metadata": {"name": "trident-operator", "namespace": "trident"}}, manager=MANAGER)
    cl.apply(R.CLUSTER_ROLES, trident_psa_role(), manager=MANAGER)
    cl.apply(
        R.CLUSTER_ROLE_BINDINGS,
        {
            "metadata": {"name": "trident-operator-psa"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "trident-operator-psa"},
            "subjects": [{"kind": "ServiceAccount", "name": "trident-operator", "namespace": "trident"}],
        },
        manager=MANAGER,
    )
    setting = cl.get(R.HARVESTER_SETTINGS, "csi-driver-config") or {}
    current = json.loads(setting.get("value") or setting.get("default") or "{}")
    current[TRIDENT] = {
        "volumeSnapshotClassName": "trident-snapshotclass",
        "backupVolumeSnapshotClassName": "trident-snapshotclass",
    }
    cl.patch(R.HARVESTER_SETTINGS, "csi-driver-config", {"value": json.dumps(current, separators=(",", ":"))})


def trident_psa_role(verbs: tuple[str, ...] = ("updatepsa",)) -> dict:
    return {
        "metadata": {"name": "trident-operator-psa"},
        "rules": [{"apiGroups": ["management.cattle.io"], "resources": ["projects"], "verbs": list(verbs)}],
    }


def token_factory(cl: Cluster, state_dir: object) -> Callable[[], None]:
    """Rancher's token handling for tokens created through the Kubernetes API: the TTL capped at
    auth-token-max-ttl-minutes, expiresAt from the creation time, `expired` kept true once past."""

    def reconcile() -> None:
        max_minutes = setting_minutes(cl, MAX_TTL_SETTING)
        now = clock.now()
        for token in cl.list(TOKENS):
            meta = token["metadata"]
            created_text = (meta.get("annotations") or {}).get(CREATED_ANN) or meta["creationTimestamp"]
            created = clock.parse_stamp(created_text)
            assert created is not None  # creationTimestamp is always set
            ttl = capped_ttl(int(token.get("ttl") or 0) // 60_000, max_minutes)
            expires = created + dt.timedelta(minutes=ttl) if ttl else None
            want = {
                "ttl": ttl * 60_000,
                "expiresAt": clock.stamp(expires) if expires else "",
                "expired": bool(expires and expires <= now),
            }
            if any(token.get(k) != v for k, v in want.items()):
                cl.patch(TOKENS, meta["name"], want)

    return reconcile


def harvester_copies_ttl(cl: Cluster) -> bool:
    """Harvester >= v1.3.1 owns kubeconfig-default-token-ttl-minutes and copies it into Rancher."""
    version = (cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value") or ""
    try:
        return _ver(version) >= (1, 3, 1)
    except ValueError:
        return False


def harvester_ttl(cl: Cluster) -> str:
    own = cl.get(R.HARVESTER_SETTINGS, TTL_SETTING) or {}
    return own.get("value") or own.get("default") or "0"


def not_copied(cl: Cluster, value: str) -> list[str]:
    """The Rancher settings Harvester copies its TTL into that do not hold `value` yet."""
    return [n for n in (TTL_SETTING, MAX_TTL_SETTING) if (cl.get(R.RANCHER_SETTINGS, n) or {}).get("value") != value]


def ttl_copy_factory(cl: Cluster, state_dir: object) -> Callable[[], None]:
    """Harvester's setting controller (HV pkg/controller/master/setting/kubeconfigttl.go): its
    kubeconfig-default-token-ttl-minutes, copied into Rancher's kubeconfig-default-token-ttl-minutes
    and auth-token-max-ttl-minutes."""

    def reconcile() -> None:
        if not harvester_copies_ttl(cl):
            return
        value = harvester_ttl(cl)
        for name in not_copied(cl, value):
            cl.patch(R.RANCHER_SETTINGS, name, {"value": value, "source": "db"})

    return reconcile


def token_ttl_fault(minutes: str | None) -> Callable[[Cluster], None]:
    """Set the token TTL where an admin would: Harvester's setting when Harvester copies it into
    Rancher, Rancher's own settings before that. None restores the value saved at injection."""

    def apply(cl: Cluster) -> None:
        copies = harvester_copies_ttl(cl)
        res, names = (
            (R.HARVESTER_SETTINGS, (TTL_SETTING,)) if copies else (R.RANCHER_SETTINGS, (TTL_SETTING, MAX_TTL_SETTING))
        )
        for name in names:
            inject, revert = edit_keeping_original(res, name, None, "value", minutes)
            (revert if minutes is None else inject)(cl)
        if copies:  # the controller's copy reaches Rancher
            wait_for("cluster-seeded", lambda: not not_copied(cl, harvester_ttl(cl)))

    return apply
