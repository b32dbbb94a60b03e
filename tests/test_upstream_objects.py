"""Objects as upstream writes them are accepted by the emulated cluster (issue 9).

Each file under `upstream_objects/` holds YAML documents of the form

    source: where upstream writes an object of this shape (project, file, tag)
    profiles: [v1.3.1, ...]       # optional: the profiles whose releases have this shape
    refused: why                  # optional: a real cluster's webhook refuses it too
    since: {kubevirt: "1.5.0"}    # optional: the first release of that component whose CRD has
                                  # every field of the object; a profile whose component is older
                                  # refuses it as an unknown field (emulator/crd_fields.py)
    object: {apiVersion, kind, metadata, ...}

Every object is created with a server-side dry run and strict field validation, so a field the
emulated CRDs drop (or a version they do not serve) fails here as it would under `kubectl apply`
against a real cluster, and admission webhooks run as they would for the real write. Nothing is
stored.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.profiles import PROFILES, ProfileSpec

HERE = Path(__file__).with_name("upstream_objects")
RELEASES = [p for p in PROFILES if p != "scale"]


def _cases() -> list:
    cases = []
    for path in sorted(HERE.glob("*.yaml")):
        for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if not doc:
                continue
            obj = doc["object"]
            label = f"{path.stem}:{index}:{obj['kind']}/{obj['metadata'].get('name', '')}"
            for profile in doc.get("profiles") or RELEASES:
                cases.append(pytest.param(profile, doc, id=f"{profile}:{label}"))
    return cases


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("-")[0].lstrip("v").split("."))


def too_old(spec: ProfileSpec, since: dict[str, str] | None) -> list[str]:
    """The components of `since` that the profile has at an older version than named."""
    return [c for c, v in (since or {}).items() if _release(getattr(spec, c)) < _release(v)]


def test_since_names_profile_components() -> None:
    """`since` keys are ProfileSpec component fields and its versions parse."""
    spec = PROFILES["v1.5.0"]
    assert too_old(spec, {"kubevirt": "1.5.0", "longhorn": "1.8.1"}) == ["kubevirt"]
    assert too_old(spec, {"kubevirt": "v1.4.0"}) == []
    for path in sorted(HERE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            for component, version in ((doc or {}).get("since") or {}).items():
                assert component in ("kubevirt", "longhorn", "harvester"), (path.name, component)
                _release(version)


_DISCOVERED: dict[tuple[str, str, str], tuple[str, bool] | None] = {}


def _resource_path(cl: Cluster, api_version: str, kind: str) -> tuple[str, bool] | None:
    """The collection path of `kind` in `api_version` from discovery, and whether it is namespaced;
    None when the cluster does not serve that version of the kind. Remembered per cluster."""
    key = (cl.host, api_version, kind)
    if key not in _DISCOVERED:
        _DISCOVERED[key] = _discover(cl, api_version, kind)
    return _DISCOVERED[key]


def _discover(cl: Cluster, api_version: str, kind: str) -> tuple[str, bool] | None:
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    try:
        listing = cl.request("GET", base)
    except ApiError as exc:
        if exc.not_found:
            return None
        raise
    for res in listing.get("resources", []):
        if res.get("kind") == kind and "/" not in res["name"]:
            return f"{base}/{res['name']}", bool(res.get("namespaced"))
    return None


@pytest.mark.parametrize(("profile", "doc"), _cases())
def test_upstream_object_is_accepted(emulated, profile: str, doc: dict) -> None:
    """The object's source says where upstream writes it; the emulated cluster of a release that
    has this shape accepts it (or refuses it where a real cluster's webhook would, for that reason);
    a release older than the object's `since` refuses its newer fields as unknown."""
    assert doc.get("source"), "every upstream object names its source"
    obj = doc["object"]
    cl = Cluster.from_kubeconfig(str(emulated(profile).kubeconfig))
    try:
        found = _resource_path(cl, obj["apiVersion"], obj["kind"])
        assert found, f"{obj['apiVersion']} {obj['kind']} is not served ({doc['source']})"
        collection, namespaced = found
        if namespaced:
            ns = obj["metadata"].get("namespace", "default")
            prefix, plural = collection.rsplit("/", 1)
            collection = f"{prefix}/namespaces/{ns}/{plural}"
        query = {"dryRun": "All", "fieldValidation": "Strict"}
        older = too_old(PROFILES[profile], doc.get("since"))
        if older:
            # The release's CRD lacks a field of the object: strict validation names it as unknown.
            with pytest.raises(ApiError) as unknown:
                cl.request("POST", collection, body=obj, query=query)
            assert unknown.value.status in (400, 422), str(unknown.value)
            assert "unknown field" in unknown.value.message, str(unknown.value)
        elif doc.get("refused"):
            with pytest.raises(ApiError) as refused:
                cl.request("POST", collection, body=obj, query=query)
            assert refused.value.status in (400, 403, 422), str(refused.value)
        else:
            try:
                cl.request("POST", collection, body=obj, query=query)
            except ApiError as exc:
                pytest.fail(f"refused: {exc} (upstream: {doc['source']})")
    finally:
        cl.close()
