"""Section "IO Performance": replica count, data locality, storage network and a dedicated disk
(advisory: a deviation warns with the recommendation and the value found)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import longhorn_performance as lp
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise, require


def _setting(hc: RunContext, name: str) -> dict | None:
    return hc.snapshot.get(R.LONGHORN_SETTINGS, name, lp.NS)


def _v2_enabled(hc: RunContext) -> bool:
    return lp.setting_value(_setting(hc, lp.V2_SETTING)).strip().lower() == "true"


@invariant("LHP-01")
def test_default_replica_count(hc: RunContext, request: pytest.FixtureRequest) -> None:
    nodes = hc.snapshot.list(R.LONGHORN_NODES, lp.NS)
    failures, advice = lp.check_replica_count(_setting(hc, lp.REPLICA_SETTING), nodes, _v2_enabled(hc))
    require(failures, "default-replica-count cannot be satisfied by the schedulable Longhorn nodes")
    advise(request, advice, "default-replica-count differs from the article's recommendation")


@invariant("LHP-02")
def test_data_locality_of_longhorn_classes(hc: RunContext, request: pytest.FixtureRequest) -> None:
    locality = lp.setting_value(_setting(hc, lp.LOCALITY_SETTING))
    try:
        replicas: int | None = lp.engine_values(lp.setting_value(_setting(hc, lp.REPLICA_SETTING)), False)["v1"]
    except ValueError:
        replicas = None
    findings = [lp.check_locality_setting(_setting(hc, lp.LOCALITY_SETTING))]
    findings += [lp.check_data_locality(sc, locality, replicas) for sc in hc.snapshot.list(R.STORAGE_CLASSES)]
    advise(request, findings, "Longhorn StorageClasses with strict-local data locality and several replicas")


@invariant("LHP-03")
def test_dedicated_storage_network(hc: RunContext, request: pytest.FixtureRequest) -> None:
    setting = hc.snapshot.get(R.HARVESTER_SETTINGS, lp.STORAGE_NETWORK)
    advise(request, [lp.check_storage_network(setting)], "no dedicated storage network")


@invariant("LHP-04")
def test_dedicated_longhorn_disk(hc: RunContext, request: pytest.FixtureRequest) -> None:
    path = lp.setting_value(_setting(hc, lp.DATA_PATH_SETTING)) or lp.DEFAULT_DATA_PATH
    findings = [lp.check_data_disk(n, path) for n in hc.snapshot.list(R.LONGHORN_NODES, lp.NS)]
    advise(request, findings, "Longhorn nodes storing data only on the root disk")
