"""Rancher-side objects, upgrade prerequisites and the third-party CSI (Trident) of the emulated
cluster (facts §3, §11, §16; KB "Using NetApp Storage", "Renew Harvester Cloud Credentials").

Cloud-credential tokens: Rancher keeps a token's lifetime on its `tokens.management.cattle.io`
object (`ttl` in ms, `expiresAt` RFC 3339), named by the part of the bearer token
before the colon (`kubeconfig-u-xxxxx:<secret>`); this module records every credential's token
there (CRD in crds/management.cattle.io.yaml).

Which Rancher (facts §17.8): cloud credentials and their tokens live in the external Rancher
that manages Harvester, and that Rancher's own settings govern their TTL (default 43200 minutes
from Rancher v2.8, 0 before). The emulated apiserver plays that Rancher (the suite's
`--rancher-kubeconfig`), assumed at the version the release embeds, so its
`settings.management.cattle.io` are the external Rancher's. Harvester >= v1.3.1 copies its own
`kubeconfig-default-token-ttl-minutes` only into the Rancher embedded in Harvester (HV v1.3.1
`pkg/controller/master/setting/kubeconfigttl.go`); that copy never reaches the credentials, and it
is not written here, since the embedded Rancher's settings would carry the same names.

Rancher's defaults (rancher `pkg/settings/setting.go`): kubeconfig-default-token-ttl-minutes 0 and
auth-token-max-ttl-minutes 0 up to v2.7.x; 43200 (30 days) and 129600 (90 days) from v2.8.0. A
downloaded kubeconfig's token gets the first clamped to the second (`pkg/auth/tokens/manager.go`
GetKubeconfigDefaultTokenTTLInMilliSeconds, ClampToMaxTTL). The healthy emulated Rancher is one
configured as the article's remediation says (both set to 0 where the defaults are finite, before the
credential was made), so that a healthy cluster conforms under --strict; Rancher's defaults are
CCR-02's fault.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
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
from harvester_conformance.emulator.profiles import PROFILES, ProfileSpec
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
MAX_TTL_SETTING = "auth-token-max-ttl-minutes"  # 0: no maximum (the default up to Rancher v2.7)
CREATED_ANN = "emulator.harvester-conformance.io/created"  # a token's issue time (may predate the object)
CC_KEY = "harvestercredentialConfig-kubeconfigContent"
NEXT_RELEASE = {
    "v1.2.1": "v1.2.2",
    "v1.3.1": "v1.3.2",
    "v1.4.3": "v1.5.0",
    "v1.5.0": "v1.5.1",
    # one minor step (facts-releases R0.3); v1.8.2 has no final newer release yet
    "v1.6.1": "v1.7.3",
    "v1.7.3": "v1.8.2",
}
_ALNUM = string.ascii_lowercase + string.digits


def _ver(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.lstrip("v").split("-")[0].split("+")[0].split("."))


def rancher_token_ttl_default(spec: ProfileSpec) -> str:
    """Rancher's own default: 0 up to v2.7, 43200 (30 days) from v2.8 (facts §3)."""
    return "43200" if _ver(spec.rancher) >= (2, 8) else "0"


def rancher_max_ttl_default(spec: ProfileSpec) -> str:
    """auth-token-max-ttl-minutes: 0 up to v2.7, 129600 (90 days) from v2.8.0 (rancher setting.go)."""
    return "129600" if _ver(spec.rancher) >= (2, 8) else "0"


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def setting_minutes(cl: Cluster, name: str) -> int:
    s = cl.get(R.RANCHER_SETTINGS, name) or {}
    return int(s.get("value") or s.get("default") or 0)


def capped_ttl(ttl_minutes: int, max_minutes: int) -> int:
    """Rancher caps a token's TTL at auth-token-max-ttl-minutes when that is set (0: no cap)."""
    return max_minutes if max_minutes and (not ttl_minutes or ttl_minutes > max_minutes) else ttl_minutes


LAST_UPDATE_TIME_UNTIL = (2, 10)  # `lastUpdateTime` left the Token type in v2.10.0 (rancher d3c4346334)


def rancher_version(cl: Cluster) -> tuple[int, ...]:
    """The external Rancher's version: the one the running Harvester release embeds (its profile)."""
    harvester = str((cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value") or "")
    spec = next((p for p in PROFILES.values() if p.harvester == harvester), None)
    return _ver(spec.rancher) if spec else (99,)


def token_object(name: str, user: str, ttl_minutes: int, rancher: tuple[int, ...], token: str) -> dict:
    """A kubeconfig token as Rancher's EnsureToken creates it (rancher pkg/auth/providers/common/
    usermanager.go EnsureClusterToken with no cluster, v2.7.5-v2.11.0): the two labels, the
    caller's principal, isDerived, and every field of the Token type without omitempty at its
    zero value (authn_types.go), `lastUpdateTime` only before v2.10. `expiresAt` is filled by
    Rancher's token controller after creation, from creationTimestamp + ttl."""
    body: dict = {
        "apiVersion": TOKENS.api_version,
        "kind": TOKENS.kind,
        "metadata": {
            "name": name,
            "labels": {
                "authn.management.cattle.io/token-userId": user,
                "authn.management.cattle.io/kind": "kubeconfig",
            },
        },
        "token": token,
        "userPrincipal": {
            "metadata": {"name": f"local://{user}"},
            "displayName": "Default Admin",
            "loginName": "admin",
            "principalType": "user",
            "me": True,
            "provider": "local",
        },
        "userId": user,
        "authProvider": "local",
        "ttl": ttl_minutes * 60_000,
        "isDerived": True,
        "description": "Kubeconfig token",
        "expired": False,
        "expiresAt": "",
        "current": False,
    }
    if rancher < LAST_UPDATE_TIME_UNTIL:
        body["lastUpdateTime"] = ""
    return body


def new_token(cl: Cluster, user: str, ttl_minutes: int, created: dt.datetime | None = None) -> str:
    """Create a Rancher kubeconfig token, as Rancher's API does; returns the bearer string
    `<name>:<secret>` (never logged). `created` backdates its issue (an annotation of the emulator's)."""
    ttl_minutes = capped_ttl(ttl_minutes, setting_minutes(cl, MAX_TTL_SETTING))
    name = f"kubeconfig-{user}{_rand(5)}"
    secret = _rand(54)
    created = created or clock.now()
    expires = created + dt.timedelta(minutes=ttl_minutes) if ttl_minutes else None
    body = token_object(name, user, ttl_minutes, rancher_version(cl), hashlib.sha256(secret.encode()).hexdigest())
    body["metadata"]["annotations"] = {CREATED_ANN: clock.stamp(created)}
    body["expiresAt"] = clock.stamp(expires) if expires else ""
    cl.create(TOKENS, body)
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


def rancher_settings(spec: ProfileSpec) -> list[dict]:
    """The external Rancher's token settings: Rancher's defaults, and the value 0 (no expiry) where
    the default is finite, as the article's remediation configures it."""
    defaults = {TTL_SETTING: rancher_token_ttl_default(spec), MAX_TTL_SETTING: rancher_max_ttl_default(spec)}
    return [
        {"metadata": {"name": n}, "default": d, "value": "0" if d != "0" else "", "source": ""}
        for n, d in defaults.items()
    ]


def seed_rancher(cl: Cluster, spec: ProfileSpec, nodes: list[str], ca_pem: bytes) -> None:
    for setting in rancher_settings(spec):
        cl.apply(R.RANCHER_SETTINGS, setting, manager=MANAGER)
    # The credential's kubeconfig was downloaded from the external Rancher: its TTL in force.
    user = f"u-{_rand(5)}"
    bearer = new_token(cl, user, setting_minutes(cl, TTL_SETTING))
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
        machine = f"custom-{hashlib.sha256(node.encode()).hexdigest()[:12]}"
        # A provisioned node names its machine (CAPI's MachineAnnotation) and carries Harvester's
        # managed label: the upgrade gate matches them from v1.5.1 (HV upgrade/validator.go
        # isNodeMachineMatching @v1.8.2, facts-releases R3.1).
        cl.patch(
            R.NODES,
            node,
            {
                "metadata": {
                    "labels": {"harvesterhci.io/managed": "true"},
                    "annotations": {"cluster.x-k8s.io/machine": machine},
                }
            },
        )
        cl.apply(
            R.CAPI_MACHINES,
            {
                "metadata": {
                    "name": machine,
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
        status = fleet_ready_status(now)
        mcc = cl.apply(
            R.MANAGED_CHARTS,
            {
                "metadata": {"name": chart, "namespace": "fleet-local"},
                "spec": {
                    "chart": chart,
                    "version": chart_ver,
                    "releaseName": chart,
                    "defaultNamespace": "harvester-system",
                    "targets": [{"clusterName": "local"}],
                },
                "status": status,
            },
            manager=MANAGER,
        )
        cl.apply(R.FLEET_BUNDLES, mcc_bundle(mcc), manager=MANAGER)
        _bundle_status(cl, f"mcc-{chart}", status)
    cl.apply(
        R.FLEET_BUNDLES,
        {
            "metadata": {"name": "fleet-agent-local", "namespace": "fleet-local"},
            "spec": {"defaultNamespace": "cattle-fleet-local-system", "targets": [{"clusterName": "local"}]},
        },
        manager=MANAGER,
    )
    _bundle_status(cl, "fleet-agent-local", fleet_ready_status(now))
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


def fleet_ready_status(now: str) -> dict:
    """A ready bundle's status (Fleet's BundleStatus), which Rancher also copies into the
    ManagedChart that generated the bundle (rancher `managedchart.go` `updateStatus`)."""
    return {
        "conditions": [
            {"type": "Ready", "status": "True", "lastUpdateTime": now},
            {"type": "Processed", "status": "True", "lastUpdateTime": now},
            {"type": "Defined", "status": "True", "lastUpdateTime": now},
        ],
        "summary": {"desiredReady": 1, "ready": 1},
        "display": {"readyClusters": "1/1", "state": ""},
    }


def _chart_file(text: str) -> str:
    """A chart file as Rancher puts it into a bundle: gzip, then base64 (encoding base64+gz)."""
    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()


def mcc_bundle(mcc: dict) -> dict:
    """The Bundle Rancher's managedchart controller generates for a ManagedChart (rancher
    `pkg/controllers/provisioningv2/managedchart/managedchart.go`): `mcc-<name>`, Helm options from
    the chart's spec, the chart's files as resources, owned by the ManagedChart."""
    meta, spec = mcc["metadata"], mcc["spec"]
    chart_yaml = f"apiVersion: v2\nname: {spec['chart']}\nversion: {spec['version']}\n"
    return {
        "metadata": {
            "name": f"mcc-{meta['name']}",
            "namespace": meta["namespace"],
            "ownerReferences": [
                {
                    "apiVersion": "management.cattle.io/v3",
                    "kind": "ManagedChart",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "defaultNamespace": spec["defaultNamespace"],
            "helm": {"releaseName": spec["releaseName"], "version": spec["version"]},
            "resources": [{"name": "Chart.yaml", "content": _chart_file(chart_yaml), "encoding": "base64+gz"}],
            "targets": spec.get("targets") or [],
        },
    }


def _bundle_status(cl: Cluster, name: str, status: dict) -> None:
    """Fleet writes a bundle's status through the status subresource."""
    body = {"metadata": {"name": name, "namespace": "fleet-local"}, "status": status}
    cl.apply(R.FLEET_BUNDLES, body, manager=MANAGER, sub="status")


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
    """Rancher's token handling for tokens created through the Kubernetes API: when a token is
    issued (it has no expiresAt yet) its TTL is capped at auth-token-max-ttl-minutes, as Rancher's
    token API does; expiresAt follows from the creation time (rancher pkg/controllers/management/
    auth/token.go). The stored `expired` stays false: Rancher sets it only in its API's answers
    (pkg/auth/tokens/manager.go IsExpired), never on the object. A later change of the maximum
    leaves tokens already issued as they are."""

    def reconcile() -> None:
        max_minutes = setting_minutes(cl, MAX_TTL_SETTING)
        for token in cl.list(TOKENS):
            meta = token["metadata"]
            created_text = (meta.get("annotations") or {}).get(CREATED_ANN) or meta["creationTimestamp"]
            created = clock.parse_stamp(created_text)
            assert created is not None  # creationTimestamp is always set
            ttl = int(token.get("ttl") or 0) // 60_000
            if "expiresAt" not in token:
                ttl = capped_ttl(ttl, max_minutes)
            expires = created + dt.timedelta(minutes=ttl) if ttl else None
            want = {"ttl": ttl * 60_000, "expiresAt": clock.stamp(expires) if expires else ""}
            if any(token.get(k) != v for k, v in want.items()):
                cl.patch(TOKENS, meta["name"], want)

    return reconcile


def token_ttl_fault(minutes: str | None) -> Callable[[Cluster], None]:
    """Set the token TTL where it governs cloud credentials: the external Rancher's
    kubeconfig-default-token-ttl-minutes and auth-token-max-ttl-minutes, on every release (Harvester's
    own setting feeds only its embedded Rancher). None restores the values saved at injection."""

    def apply(cl: Cluster) -> None:
        for name in (TTL_SETTING, MAX_TTL_SETTING):
            inject, revert = edit_keeping_original(R.RANCHER_SETTINGS, name, None, "value", minutes)
            (revert if minutes is None else inject)(cl)

    return apply


def credential_immutable_fault(immutable: bool) -> Callable[[Cluster], None]:
    """CCR-03: the credential Secret made immutable (as a policy tool or an admin may mark
    credentials), so that the article's merge patch is refused by the apiserver ("field is immutable
    when `immutable` is set"; k8s core validation of Secrets, GA since 1.21). An immutable Secret
    can only be deleted and re-created: both directions re-create it, with the same data."""

    def apply(cl: Cluster) -> None:
        secret = cl.get(R.SECRETS, CC_NAME, CC_NS)
        assert secret is not None, f"Secret {CC_NS}/{CC_NAME} does not exist; is the cluster seeded?"
        meta = {
            k: secret["metadata"][k] for k in ("name", "namespace", "labels", "annotations") if k in secret["metadata"]
        }
        body = {"metadata": meta, "type": secret.get("type"), "data": secret.get("data") or {}}
        if immutable:
            body["immutable"] = True
        cl.delete(R.SECRETS, CC_NAME, CC_NS)
        wait_for("cluster-seeded", lambda: cl.get(R.SECRETS, CC_NAME, CC_NS) is None)
        cl.create(R.SECRETS, body, CC_NS)

    return apply
