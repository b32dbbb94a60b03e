"""Shared data of the cloud-credential checks: the margin a token must outlive, and the collector
of what the active check changes on the Rancher cluster."""

from __future__ import annotations

import datetime as dt

import pytest

from harvester_conformance.changes import Changes
from harvester_conformance.checks import cloud_credentials as cc
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.context import RunContext


@pytest.fixture(scope="session")
def margin(pytestconfig: pytest.Config) -> dt.timedelta:
    """--credential-margin-hours, else a week."""
    raw = pytestconfig.getoption("credential_margin_hours", default=None)
    try:
        return cc.margin_from(None if raw is None else str(raw))
    except ValueError as exc:
        pytest.exit(f"harvester-conformance: {exc}", returncode=2)


@pytest.fixture
def rancher_changes(request: pytest.FixtureRequest, hc: RunContext, rancher_cluster: Cluster):
    """The test's collector on the Rancher cluster, undone at teardown like `changes`; a failed
    undo becomes a cleanup entry of the report, never the verdict."""
    collector = Changes(rancher_cluster, hc.run_id, request.node.nodeid)
    yield collector
    for failure in collector.undo():
        request.node.user_properties.append(("hc_cleanup", {"test": request.node.nodeid, **failure.as_dict()}))
