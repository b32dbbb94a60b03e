"""Harvester's `kubevirt-migration` setting syncer (v1.7.0+, facts-releases R1.2): the setting owns
the KubeVirt CR's spec.configuration.migrations, so a direct edit of the CR is overwritten with
the decoded setting (`network` kept: `vm-migration-network` owns it, v1.6.0+; nodeDrainTaintKey
dropped). HV `pkg/controller/master/setting/kubevirt_migration.go` @v1.7.0 … v1.8.2. Its webhook
rules are in `simulator/setting_validator.py`.

Upstream syncs on a change of the setting; the simulator re-syncs every tick, so an edit of the
CR lasts at most one resync period (when upstream overwrites it is unverified, R1.2).
"""

from __future__ import annotations

from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import kubevirt_model as m

KV_NS = "harvester-system"
SETTING = "kubevirt-migration"
SINCE = (1, 7, 0)


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


def pending(cl: Cluster) -> bool:
    current, want = wanted(cl)
    return want is not None and want != current


def factory(cl: Cluster, state_dir: object) -> Any:
    def reconcile() -> None:
        current, want = wanted(cl)
        if want is None or want == current:
            return
        # The whole block replaced, as the syncer's Update does: keys it does not write go.
        value = {**{k: None for k in current if k not in want}, **want}
        cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"configuration": {"migrations": value}}}, KV_NS)

    return reconcile
