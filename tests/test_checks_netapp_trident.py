"""NTA-01/02 without a cluster (the article's storage.yaml and authorize_trident.yaml; RBAC
wildcards as kubernetes pkg/apis/rbac/v1/evaluation_helpers.go)."""

from __future__ import annotations

import json

from harvester_conformance.checks import netapp_trident as nt

SC = [{"metadata": {"name": "ontap-san-economy"}, "provisioner": nt.DRIVER}]
VSC = [{"metadata": {"name": "csi-snapclass"}, "driver": nt.DRIVER}]
ENTRY = {nt.DRIVER: {"volumeSnapshotClassName": "csi-snapclass", "backupVolumeSnapshotClassName": "csi-snapclass"}}
SETTING = {"metadata": {"name": "csi-driver-config"}, "value": json.dumps(ENTRY)}


def test_installed_evidence() -> None:
    assert nt.installed_evidence([], [], [], {"value": "{}"}) == []
    assert nt.installed_evidence([{"metadata": {"name": nt.DRIVER}}], [], [], None) == [f"CSIDriver {nt.DRIVER}"]


def test_classes_and_config() -> None:
    assert nt.check_classes(SC, VSC, SETTING) == []
    found = nt.check_classes([], VSC, SETTING)
    assert [f.object for f in found] == ["StorageClass ontap-san-economy"]
    found = nt.check_classes(SC, [], SETTING)
    assert [f.object for f in found] == [
        "VolumeSnapshotClass csi-snapclass",
        "Setting csi-driver-config",
        "Setting csi-driver-config",
    ]
    assert "no entry" in nt.check_classes(SC, VSC, {"value": "{}"})[0].message


def _role(verbs: list[str], groups: list[str] | None = None) -> dict:
    rule = {"apiGroups": groups or ["management.cattle.io"], "resources": ["projects"], "verbs": verbs}
    return {"metadata": {"name": nt.PSA_ROLE}, "rules": [rule]}


BINDING = {
    "metadata": {"name": nt.PSA_ROLE},
    "roleRef": {"kind": "ClusterRole", "name": nt.PSA_ROLE},
    "subjects": [{"kind": "ServiceAccount", "name": "trident-operator", "namespace": "trident"}],
}
SA = [{"metadata": {"name": "trident-operator", "namespace": "trident"}}]


def test_psa_role_and_binding() -> None:
    assert nt.check_psa_role(_role(["updatepsa"]), [BINDING], SA) == []
    assert nt.check_psa_role(_role(["*"], ["*"]), [BINDING], SA) == []
    found = nt.check_psa_role(_role(["get", "list"]), [BINDING], SA)
    assert found[0].object == "ClusterRole trident-operator-psa" and "get, list" in found[0].message
    found = nt.check_psa_role(_role(["updatepsa"]), [BINDING], [])
    assert found[0].object == "ClusterRoleBinding trident-operator-psa"
    assert nt.check_psa_role(None, [BINDING], SA)[0].object == "ClusterRole trident-operator-psa"
