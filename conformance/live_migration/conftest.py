"""Shared data of the live-migration checks: the KubeVirt version and the effective migration
configuration, from the run's snapshot."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import live_migration as lm
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.verdict import Broken


@pytest.fixture(scope="session")
def kubevirt(hc: RunContext) -> lm.Version | None:
    """The running KubeVirt (detected), else the one the release rules name."""
    return lm.version(hc.versions.get("kubevirt")) or lm.version(hc.release.release.kubevirt)


@pytest.fixture(scope="session")
def kubevirt_cr(hc: RunContext) -> dict | None:
    return hc.snapshot.get(R.KUBEVIRTS, "kubevirt", lm.NAMESPACE)


def configuration(kv: dict | None, kubevirt: lm.Version | None) -> lm.Configuration:
    """The effective configuration; broken (pointing at MIG-01) when the CR cannot tell it."""
    if kv is None:
        raise Broken(f"{lm.CR} is missing: the migration configuration in force is unknown", "MIG-01")
    try:
        return lm.effective(kv.get("spec") or {}, kubevirt)
    except ValueError as exc:
        raise Broken(
            f"migration configuration unknown: the CR's migrations block is malformed ({exc})", "MIG-01"
        ) from None


@pytest.fixture(scope="session")
def snapshot_config(kubevirt_cr: dict | None, kubevirt: lm.Version | None) -> lm.Configuration:
    return configuration(kubevirt_cr, kubevirt)


def namespace_labels(namespaces: list[dict]) -> dict[str, dict]:
    return {n["metadata"]["name"]: (n["metadata"].get("labels") or {}) for n in namespaces}
