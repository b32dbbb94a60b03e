"""Objects as upstream writes them are accepted by the emulated cluster (issue 9).

Each file under `upstream_objects/` holds YAML documents of the form

    source: where upstream writes an object of this shape (project, file, tag)
    profiles: [v1.3.1, ...]       # optional: the profiles whose releases have this shape
    refused: why                  # optional: a real cluster's webhook refuses it too
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
from harvester_conformance.emulator.profiles import PROFILES

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
    has this shape accepts it (or refuses it where a real cluster's webhook would, for that reason)."""
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
        if doc.get("refused"):
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
