"""Release-gated CRD fields (issue 9, "CRDs and seeds against upstream's own"): a profile's CRDs lack
the fields its components do not have yet, as the real CRDs of that release do, and the simulator
writes none of them there. No cluster: the table (`emulator/crd_fields.py`) applied to the CRD
files, and the model functions that write status checked against the profile's schema.

Upstream: kubevirt/kubevirt staging/src/kubevirt.io/api/core/v1/types.go and
api/migrations/v1alpha1/types.go at v0.54.0, v1.1.1, v1.3.1, v1.4.0, v1.5.2, v1.6.6, v1.7.4 (the
profiles' KubeVirt); longhorn/longhorn-manager k8s/crds.yaml at v1.4.3 ... v1.11.2. The first
release of each field, with the tag it was read at, is in the table's `source`.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from harvester_conformance.emulator import crd_fields, seed
from harvester_conformance.emulator.areas import kubevirt_model as km
from harvester_conformance.emulator.areas import longhorn_model as lm
from harvester_conformance.emulator.areas.kubevirt_seed import vm_objects
from harvester_conformance.emulator.profiles import PROFILES

RELEASES = [p for p in PROFILES if p != "scale"]
VMI = "virtualmachineinstances.kubevirt.io"
VMIM = "virtualmachineinstancemigrations.kubevirt.io"
KUBEVIRT_CR = "kubevirts.kubevirt.io"


@cache
def _crds(profile: str | None) -> dict[str, dict]:
    spec = PROFILES[profile] if profile else None
    return {d["metadata"]["name"]: d for d in seed.crd_documents(spec)}


def _schema(crd: dict, version: str | None = None) -> dict:
    versions = crd["spec"]["versions"]
    chosen = next(v for v in versions if v["name"] == version) if version else next(v for v in versions if v["storage"])
    return chosen["schema"]["openAPIV3Schema"]


def _has(schema: dict, path: str) -> bool:
    try:
        crd_fields.without_fields(_crd_of(schema), [path])
    except crd_fields.UnknownPath:
        return False
    return True


def _crd_of(schema: dict) -> dict:
    return {
        "metadata": {"name": "probe"},
        "spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": schema}}]},
    }


def unknown_fields(schema: dict, obj: Any, path: str = "") -> list[str]:
    """Fields of `obj` that the structural `schema` would prune (strict validation: refuse)."""
    if isinstance(obj, list):
        items = schema.get("items") or {}
        return [u for i, x in enumerate(obj) for u in unknown_fields(items, x, f"{path}[{i}]")]
    if not isinstance(obj, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    props, extra = schema.get("properties"), schema.get("additionalProperties")
    out = []
    for key, value in obj.items():
        here = f"{path}.{key}" if path else key
        if props and key in props:
            out += unknown_fields(props[key], value, here)
        elif isinstance(extra, dict):
            out += unknown_fields(extra, value, here)
        elif props is not None or extra is not None:
            out.append(here)
    return out


# -- the table itself ------------------------------------------------------------------------------
def test_every_row_names_a_property_of_the_union_crds() -> None:
    """Each row resolves in the CRD files (the union schema), names a source with its tag, and
    gates by a component a profile has."""
    union = _crds(None)
    for row in crd_fields.GATED_FIELDS:
        assert row.crd in union, row
        crd_fields.without_fields(union[row.crd], [row.path])  # raises UnknownPath when absent
        assert "@v" in row.source and row.component in ("kubevirt", "longhorn", "harvester"), row


def test_without_fields_on_a_small_crd() -> None:
    """Arrays (`[]`), maps (`*`), `required` and printer columns; versions sharing one schema object
    (as YAML merge keys make them) are both cut and the input is left as it was; a path under one
    that goes too is skipped; an unknown path raises."""
    schema = {
        "type": "object",
        "properties": {
            "status": {
                "type": "object",
                "required": ["gone"],
                "properties": {
                    "gone": {"type": "string"},
                    "kept": {"type": "string"},
                    "list": {"type": "array", "items": {"type": "object", "properties": {"a": {}, "b": {}}}},
                    "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"c": {}}}},
                },
            }
        },
    }
    columns = [{"name": "Gone", "jsonPath": ".status.gone"}, {"name": "Kept", "jsonPath": ".status.kept"}]
    v1 = {"name": "v1", "schema": {"openAPIV3Schema": schema}, "additionalPrinterColumns": columns}
    crd = {"metadata": {"name": "things.example.io"}, "spec": {"versions": [v1, {**v1, "name": "v1alpha1"}]}}
    before = copy.deepcopy(crd)
    out = crd_fields.without_fields(crd, ["status.gone", "status.list[].a", "status.map.*.c"])
    assert crd == before
    for version in out["spec"]["versions"]:
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert set(status["properties"]) == {"kept", "list", "map"} and status["required"] == []
        assert set(status["properties"]["list"]["items"]["properties"]) == {"b"}
        assert status["properties"]["map"]["additionalProperties"]["properties"] == {}
        assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Kept"]
    both = crd_fields.without_fields(crd, ["status", "status.gone"])
    assert "status" not in both["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    with pytest.raises(crd_fields.UnknownPath):
        crd_fields.without_fields(crd, ["status.nothing"])


def test_the_union_is_untouched_without_a_profile() -> None:
    vmi = _schema(_crds(None)[VMI])
    assert _has(vmi, "status.deviceStatus") and _has(vmi, "status.interfaces[].linkState")


# -- per release -----------------------------------------------------------------------------------
# KubeVirt per profile: v1.2.1 0.54.0, v1.3.1 1.1.1, v1.4.3 1.3.1, v1.5.0 1.4.0, v1.6.1 1.5.2,
# v1.7.3 1.6.6, v1.8.2 1.7.4 (profiles.py). First release of each field: types.go (see the table).
KUBEVIRT_FIELDS = [
    (VMI, "status.VSOCKCID", "v1.3.1"),
    (VMI, "status.interfaces[].queueCount", "v1.3.1"),
    (VMI, "status.interfaces[].podInterfaceName", "v1.5.0"),
    (VMI, "status.interfaces[].linkState", "v1.6.1"),
    (VMI, "status.deviceStatus", "v1.7.3"),
    (VMI, "status.migrationState.sourcePersistentStatePVCName", "v1.5.0"),
    (VMI, "status.migrationState.sourcePod", "v1.4.3"),
    (VMIM, "status.migrationState", "v1.3.1"),
    (VMIM, "status.migrationState.targetPersistentStatePVCName", "v1.5.0"),
    (VMIM, "status.synchronizationAddresses", "v1.7.3"),
    (VMIM, "spec.priority", "v1.8.2"),
    (KUBEVIRT_CR, "spec.configuration.migrations.allowWorkloadDisruption", "v1.6.1"),
    (KUBEVIRT_CR, "spec.configuration.migrations.matchSELinuxLevelOnMigration", "v1.3.1"),
    ("migrationpolicies.migrations.kubevirt.io", "spec.allowWorkloadDisruption", "v1.6.1"),
    # Longhorn per profile: 1.4.3, 1.6.2, 1.7.3, 1.8.1, 1.9.2, 1.10.2, 1.11.2
    ("settings.longhorn.io", "status", "v1.4.3"),
    ("volumes.longhorn.io", "spec.backupTargetName", "v1.5.0"),
    ("nodes.longhorn.io", "spec.disks.*.diskType", "v1.3.1"),
    ("nodes.longhorn.io", "status.diskStatus.*.healthData", "v1.8.2"),
    ("backingimages.longhorn.io", "status.virtualSize", "v1.3.1"),
    ("backingimagemanagers.longhorn.io", "status.backingImageFileMap.*.realSize", "v1.5.0"),
]


@pytest.mark.parametrize("profile", RELEASES)
def test_profile_crds_have_the_fields_of_their_release(profile: str) -> None:
    """A field is in the profile's CRD exactly from the first profile whose component has it, in
    every served version (v1alpha3 shares v1's schema in the CRD file)."""
    crds = _crds(profile)
    order = RELEASES.index(profile)
    for crd, path, first in KUBEVIRT_FIELDS:
        for version in crds[crd]["spec"]["versions"]:
            if crd.endswith("longhorn.io") and version["name"] != "v1beta2":
                continue
            want = order >= RELEASES.index(first)
            assert _has(_schema(crds[crd], version["name"]), path) is want, (profile, crd, version["name"], path)


def test_setting_printer_column_goes_with_its_status() -> None:
    """Longhorn < 1.7 has no Applied column (LM k8s/crds.yaml @v1.6.2); 1.7 adds it with status."""
    old = next(v for v in _crds("v1.3.1")["settings.longhorn.io"]["spec"]["versions"] if v["name"] == "v1beta2")
    new = next(v for v in _crds("v1.4.3")["settings.longhorn.io"]["spec"]["versions"] if v["name"] == "v1beta2")
    assert "Applied" not in [c["name"] for c in old.get("additionalPrinterColumns", [])]
    assert "Applied" in [c["name"] for c in new["additionalPrinterColumns"]]


# -- what the simulator writes fits the profile's schema -----------------------------------------
@pytest.mark.parametrize("profile", RELEASES)
def test_kubevirt_status_writers_fit_the_release_schema(profile: str) -> None:
    """virt-handler's interfaces and virt-controller's VMIM status (and the VMI's migrationState),
    as the simulator writes them for the release, carry no field its CRD lacks."""
    spec = PROFILES[profile]
    kubevirt = km.version_tuple(spec.kubevirt)
    crds = _crds(profile)
    template = vm_objects(1)[1]["spec"]["template"]["spec"]
    interfaces = km.interface_statuses(template, "10.52.0.9", 7, kubevirt)
    assert unknown_fields(_schema(crds[VMI]), {"status": {"interfaces": interfaces}}) == []
    state = {
        name: "x" for name in _schema(crds[VMI])["properties"]["status"]["properties"]["migrationState"]["properties"]
    }
    state |= {
        "sourceState": {},
        "targetState": {},
        "migrationNetworkType": "Pod",
        "sourcePod": "p",
        "failureReason": "",
        "targetNodeDomainReadyTimestamp": "t",
    }
    written = km.migration_state(state, kubevirt)
    status = {"phase": "Running", "conditions": [], "phaseTransitionTimestamps": [], "migrationState": written}
    vmim = km.vmim_status({**status, "synchronizationAddresses": []}, kubevirt)
    assert unknown_fields(_schema(crds[VMIM]), {"status": vmim}) == []


def test_simulator_writes_no_field_it_does_not_gate() -> None:
    """The gated KubeVirt fields the simulator never writes (VSOCKCID, the persistent-state PVC
    names, linkState, deviceStatus, the KubeVirt CR's allowWorkloadDisruption outside the v1.7.0+
    kubevirt-migration syncer): no status writer names them, so no older profile gets them."""
    areas = Path(km.__file__).parent
    text = "".join(
        (areas / f).read_text() for f in ("kubevirt_controllers.py", "kubevirt_model.py", "kubevirt_seed.py")
    )
    for name in ("VSOCKCID", "PersistentStatePVCName", "linkState", "deviceStatus", "allowWorkloadDisruption"):
        assert name not in text, name


@pytest.mark.parametrize("profile", RELEASES)
def test_longhorn_writers_fit_the_release_schema(profile: str) -> None:
    """longhorn-manager's Node spec and disk status, BackingImage and BackingImageManager status,
    as the simulator writes them for the release, carry no field its CRD lacks."""
    longhorn = PROFILES[profile].longhorn
    crds = _crds(profile)
    node = {"spec": lm.node_spec("harvester-node-0", 0, 50, longhorn)}
    disk = lm.disk_status_fields(longhorn, "default-disk-1", "/var/lib/harvester/defaultdisk", "im")
    node["status"] = {"diskStatus": {"default-disk-1": disk}}
    assert unknown_fields(_schema(crds["nodes.longhorn.io"], "v1beta2"), node) == []
    body, status = lm.backing_image("vmi-1", longhorn, ["u1"])
    assert unknown_fields(_schema(crds["backingimages.longhorn.io"], "v1beta2"), {**body, "status": status}) == []
    images = {"vmi-1": {"uuid": status["uuid"], "size": status["size"], "checksum": status["checksum"]}}
    bim, bim_status = lm.backing_image_manager(longhorn, "harvester-node-0", "u1", "/d", images)
    assert (
        unknown_fields(_schema(crds["backingimagemanagers.longhorn.io"], "v1beta2"), {**bim, "status": bim_status})
        == []
    )
