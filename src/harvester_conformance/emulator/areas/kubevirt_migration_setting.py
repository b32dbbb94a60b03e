"""Harvester's controllers of the KubeVirt CR's migration block:

- the `kubevirt-migration` setting syncer (v1.7.0+, facts-releases R1.2): the setting owns the
  KubeVirt CR's spec.configuration.migrations, so a direct edit of the CR is overwritten with the
  decoded setting (`network` kept: `vm-migration-network` owns it; nodeDrainTaintKey dropped). HV
  `pkg/controller/master/setting/kubevirt_migration.go` @v1.7.0 … v1.8.2. Its webhook rules are in
  `simulator/setting_validator.py`. Upstream syncs on a change of the setting; the simulator
  re-syncs every tick, so an edit of the CR lasts at most one resync period (when upstream
  overwrites it is unverified, R1.2).
- the `vm-migration-network` controller (v1.6.0+): a change of the setting finds or creates a
  bridge NetworkAttachmentDefinition `harvester-system/vm-migration-network-<random>` (labelled
  with the SHA-1 of the value) and writes its bare name into the CR's
  spec.configuration.migrations.network; an empty value clears it; the previous NAD is deleted.
  The setting records what it applied in two annotations (the value's SHA-1 and "ns/name" of the
  NAD), and is not synced again while the SHA-1 matches. HV
  `pkg/controller/master/kubevirt/vm_migration_network.go` and `pkg/util/network/common.go`
  CreateBridgeConfig @v1.6.0 … v1.8.2. Not modelled: the setting's Configured condition.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.areas import kubevirt_model as m

KV_NS = "harvester-system"
SETTING = "kubevirt-migration"
SINCE = (1, 7, 0)

NETWORK_SETTING = "vm-migration-network"
NETWORK_SINCE = (1, 6, 0)
NETWORK_PREFIX = "vm-migration-network.settings.harvesterhci.io"
HASH_KEY = f"{NETWORK_PREFIX}/hash"  # label of the NAD and annotation of the setting
NAD_ANNOTATION = f"{NETWORK_PREFIX}/net-attach-def"
NAD_PREFIX = "vm-migration-network-"
log = logging.getLogger("simulator")


def harvester_version(cl: Cluster) -> tuple[int, ...]:
    setting = cl.get(R.HARVESTER_SETTINGS, "server-version") or {}
    return m.version_tuple(setting.get("value") or setting.get("default"))


def wanted(cl: Cluster) -> tuple[dict, dict | None]:
    """(migrations in the CR now, what the syncer writes); the latter None when nothing is synced
    (before v1.7.0, no setting or no CR, or a value that does not decode)."""
    kv = cl.get(R.KUBEVIRTS, "kubevirt", KV_NS) or {}
    current = ((kv.get("spec") or {}).get("configuration") or {}).get("migrations") or {}
    if not kv or harvester_version(cl) < SINCE:
        return current, None
    setting = cl.get(R.HARVESTER_SETTINGS, SETTING)
    if setting is None:
        return current, None
    return current, m.migrations_from_setting(setting.get("value") or setting.get("default") or "", current)


# -- vm-migration-network --------------------------------------------------------------------------
def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - upstream's change marker, not security


def bridge_config(value: str) -> dict:
    """`network.CreateBridgeConfig`: the NAD's CNI config for a setting value such as
    {"clusterNetwork":"vm-net","vlan":2013,"range":"10.0.13.0/24","exclude":[]} (VLAN 0 -> 1)."""
    config = json.loads(value)
    ipam: dict[str, Any] = {"type": "whereabouts", "range": config.get("range") or ""}
    if config.get("exclude"):
        ipam["exclude"] = list(config["exclude"])
    return {
        "cniVersion": "0.3.1",
        "type": "bridge",
        "bridge": f"{config.get('clusterNetwork') or ''}-br",
        "promiscMode": True,
        "vlan": int(config.get("vlan") or 1),
        "ipam": ipam,
    }


def network_pending(cl: Cluster) -> dict | None:
    """The vm-migration-network setting when its controller has a change to apply (v1.6.0+): its
    value's SHA-1 differs from the one it recorded, except an empty value never synced."""
    if harvester_version(cl) < NETWORK_SINCE:
        return None
    setting = cl.get(R.HARVESTER_SETTINGS, NETWORK_SETTING)
    if setting is None:
        return None
    return setting if needs_sync(setting["metadata"].get("annotations") or {}, setting.get("value") or "") else None


def needs_sync(annotations: dict, value: str) -> bool:
    """Whether the controller acts on a setting carrying `annotations` and `value`: when the
    value's SHA-1 differs from the one recorded, except an empty value never synced (upstream
    skips the initial empty setting)."""
    if not annotations and not value:
        return False
    return annotations.get(HASH_KEY) != sha1(value)


def _find_or_create_nad(cl: Cluster, value: str) -> dict:
    found = cl.list(R.NADS, KV_NS, label_selector=f"{HASH_KEY}={sha1(value)}")
    if found:
        return sorted(found, key=lambda n: n["metadata"]["name"])[0]
    body = {
        "apiVersion": R.NADS.api_version,
        "kind": R.NADS.kind,
        "metadata": {
            "generateName": NAD_PREFIX,
            "namespace": KV_NS,
            "annotations": {NETWORK_PREFIX: "true"},
            "labels": {HASH_KEY: sha1(value)},
        },
        "spec": {"config": json.dumps(bridge_config(value), separators=(",", ":"))},
    }
    return cl.create(R.NADS, body, KV_NS)


def sync_network(cl: Cluster) -> None:
    """`OnVMMigrationNetworkChange`: point the CR's migration network at the setting's NAD."""
    setting = network_pending(cl)
    if setting is None or cl.get(R.KUBEVIRTS, "kubevirt", KV_NS) is None:
        return
    value = setting.get("value") or ""
    old = (setting["metadata"].get("annotations") or {}).get(NAD_ANNOTATION) or ""
    try:
        nad = _find_or_create_nad(cl, value) if value else None
    except (ValueError, TypeError, AttributeError):
        # Upstream: CreateNadError; the CR untouched, the value's SHA-1 recorded all the same (so
        # not retried until the value changes), the old NAD kept. Its webhook refuses such values.
        annotations = {HASH_KEY: sha1(value), NAD_ANNOTATION: old}
        cl.patch(R.HARVESTER_SETTINGS, NETWORK_SETTING, {"metadata": {"annotations": annotations}})
        return
    ref = f"{KV_NS}/{nad['metadata']['name']}" if nad else ""
    network = nad["metadata"]["name"] if nad else None
    cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"configuration": {"migrations": {"network": network}}}}, KV_NS)
    if old and old != ref and "/" in old:
        ns, name = old.split("/", 1)
        cl.delete(R.NADS, name, ns)
    annotations = {HASH_KEY: sha1(value), NAD_ANNOTATION: ref}
    cl.patch(R.HARVESTER_SETTINGS, NETWORK_SETTING, {"metadata": {"annotations": annotations}})


def pending(cl: Cluster) -> bool:
    current, want = wanted(cl)
    return (want is not None and want != current) or network_pending(cl) is not None


def factory(cl: Cluster, state_dir: object) -> Any:
    def reconcile() -> None:
        try:
            sync_network(cl)
        except ApiError as exc:  # upstream's two controllers are independent: one failing spares the other
            log.warning("vm-migration-network: %s", exc)
        current, want = wanted(cl)
        if want is None or want == current:
            return
        # The whole block replaced, as the syncer's Update does: keys it does not write go.
        value = {**{k: None for k in current if k not in want}, **want}
        cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"configuration": {"migrations": value}}}, KV_NS)

    return reconcile
