"""NetApp Trident (article install_netapp_trident_csi; facts.md §11): the classes the article defines
(NTA-01) and the PSA authorisation of the operator (NTA-02). Vendor checks: not applicable where
Trident is not installed.

Sources: the article's `storage.yaml` (StorageClass `ontap-san-economy` of provisioner
`csi.trident.netapp.io`, VolumeSnapshotClass `csi-snapclass` of that driver) and
`authorize_trident.yaml` (ClusterRole `trident-operator-psa`: verb `updatepsa` on
`management.cattle.io` projects, bound to ServiceAccount `trident-operator`, NetApp/trident issue
839); Harvester's `csi-driver-config` (harvester/harvester `pkg/settings/settings.go`). RBAC matching
follows kubernetes `pkg/apis/rbac/v1/evaluation_helpers.go` (`*` matches any group, resource, verb).
"""

from __future__ import annotations

from harvester_conformance.checks.findings import Finding
from harvester_conformance.checks.rook_ceph import CLASS_KEYS, SETTING_REF, parse_driver_config

DRIVER = "csi.trident.netapp.io"
ARTICLE_CLASS = "ontap-san-economy"
ARTICLE_SNAPSHOT_CLASS = "csi-snapclass"
PSA_ROLE = "trident-operator-psa"
OPERATOR_SA = "trident-operator"


def _name(obj: dict) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def installed_evidence(
    drivers: list[dict], storage_classes: list[dict], snapshot_classes: list[dict], setting: dict | None
) -> list[str]:
    """What shows Trident is installed (empty: it is not, the vendor checks do not apply)."""
    config, _ = parse_driver_config(setting)
    evidence = [f"CSIDriver {DRIVER}" for d in drivers if _name(d) == DRIVER]
    evidence += [f"StorageClass {_name(sc)}" for sc in storage_classes if sc.get("provisioner") == DRIVER]
    evidence += [f"VolumeSnapshotClass {_name(c)}" for c in snapshot_classes if c.get("driver") == DRIVER]
    if config and DRIVER in config:
        evidence.append(f"{SETTING_REF} entry {DRIVER}")
    return evidence


def check_classes(storage_classes: list[dict], snapshot_classes: list[dict], setting: dict | None) -> list[Finding]:
    """NTA-01: a Trident StorageClass and VolumeSnapshotClass exist, and csi-driver-config names
    Trident with snapshot classes of that driver. A missing class is named after the article's."""
    found = []
    if not any(sc.get("provisioner") == DRIVER for sc in storage_classes):
        found.append(
            Finding(
                f"StorageClass {ARTICLE_CLASS}",
                f"no StorageClass with provisioner {DRIVER} (the article defines {ARTICLE_CLASS}); "
                "Trident volumes cannot be provisioned",
            )
        )
    vsc = {_name(c): c for c in snapshot_classes}
    if not any(c.get("driver") == DRIVER for c in snapshot_classes):
        found.append(
            Finding(
                f"VolumeSnapshotClass {ARTICLE_SNAPSHOT_CLASS}",
                f"no VolumeSnapshotClass with driver {DRIVER} (the article defines {ARTICLE_SNAPSHOT_CLASS})",
            )
        )
    config, problem = parse_driver_config(setting)
    if config is None:
        return [*found, Finding(SETTING_REF, f"value {problem}; expected an entry for {DRIVER}")]
    entry = config.get(DRIVER)
    if entry is None:
        return [*found, Finding(SETTING_REF, f"no entry for {DRIVER}; expected its VolumeSnapshotClass names")]
    for key in CLASS_KEYS:
        name = entry.get(key)
        if not name or (vsc.get(str(name)) or {}).get("driver") != DRIVER:
            found.append(
                Finding(SETTING_REF, f"{DRIVER}: {key} is {name!r}; expected a VolumeSnapshotClass of driver {DRIVER}")
            )
    return found


def _allows(rule: dict, group: str, resource: str, verb: str) -> bool:
    def has(values: object, want: str) -> bool:
        return isinstance(values, list) and (want in values or "*" in values)

    return has(rule.get("apiGroups"), group) and has(rule.get("resources"), resource) and has(rule.get("verbs"), verb)


def check_psa_role(role: dict | None, bindings: list[dict], accounts: list[dict]) -> list[Finding]:
    """NTA-02: the ClusterRole grants updatepsa on management.cattle.io projects and a binding gives
    it to an existing trident-operator ServiceAccount."""
    ref = f"ClusterRole {PSA_ROLE}"
    if role is None:
        return [
            Finding(ref, "does not exist; expected the article's role (updatepsa on management.cattle.io projects)")
        ]
    found = []
    rules = [r for r in role.get("rules") or [] if isinstance(r, dict)]
    if not any(_allows(r, "management.cattle.io", "projects", "updatepsa") for r in rules):
        verbs = sorted({str(v) for r in rules for v in r.get("verbs") or []})
        found.append(
            Finding(ref, f"grants {', '.join(verbs) or 'nothing'}; expected updatepsa on management.cattle.io projects")
        )
    existing = {((a.get("metadata") or {}).get("namespace"), _name(a)) for a in accounts}
    subjects = [
        (s.get("namespace"), s.get("name"))
        for b in bindings
        if ((b.get("roleRef") or {}).get("kind"), (b.get("roleRef") or {}).get("name")) == ("ClusterRole", PSA_ROLE)
        for s in b.get("subjects") or []
        if isinstance(s, dict) and s.get("kind") == "ServiceAccount" and s.get("name") == OPERATOR_SA
    ]
    if not any(s in existing for s in subjects):
        named = ", ".join(f"{ns}/{n}" for ns, n in subjects) or "none"
        found.append(
            Finding(
                f"ClusterRoleBinding {PSA_ROLE}",
                f"no binding of {ref} to an existing ServiceAccount {OPERATOR_SA} (bound: {named})",
            )
        )
    return found
