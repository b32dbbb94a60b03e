"""Section "Detailed Instructions": the article's StorageClass, VolumeSnapshotClass and
csi-driver-config entry, the operator's PSA authorisation, and multipathd on every node (its
last step, "Enable multipathd"). Not applicable without Trident."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import netapp_trident as nt
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


def _installed(hc: RunContext, *extra: str) -> None:
    snap = hc.snapshot
    evidence = nt.installed_evidence(
        snap.list(R.CSI_DRIVERS),
        snap.list(R.STORAGE_CLASSES),
        snap.list(R.VOLUME_SNAPSHOT_CLASSES),
        snap.get(R.HARVESTER_SETTINGS, "csi-driver-config"),
    )
    if not evidence and not any(extra):
        pytest.skip(f"not applicable: Trident is not installed (no CSIDriver {nt.DRIVER}, class or config entry)")


@invariant("NTA-01")
def test_trident_classes_and_driver_config(hc: RunContext) -> None:
    _installed(hc)
    snap = hc.snapshot
    findings = nt.check_classes(
        snap.list(R.STORAGE_CLASSES),
        snap.list(R.VOLUME_SNAPSHOT_CLASSES),
        snap.get(R.HARVESTER_SETTINGS, "csi-driver-config"),
    )
    require(findings, "Trident's classes are incomplete")


@invariant("NTA-02")
def test_trident_operator_psa_authorisation(hc: RunContext) -> None:
    snap = hc.snapshot
    role = snap.get(R.CLUSTER_ROLES, nt.PSA_ROLE)
    accounts = [a for a in snap.list(R.SERVICE_ACCOUNTS) if a["metadata"]["name"] == nt.OPERATOR_SA]
    _installed(hc, "role" if role else "", "account" if accounts else "")
    require(
        nt.check_psa_role(role, snap.list(R.CLUSTER_ROLE_BINDINGS), accounts), "Trident's operator cannot update PSA"
    )


@invariant("NTA-03")
def test_multipathd_runs_and_spares_longhorn_disks_on_every_node(
    hc: RunContext, request: pytest.FixtureRequest
) -> None:
    _installed(hc)
    hosts = request.getfixturevalue("multipath_hosts")  # probed only where Trident is installed
    hosts.judge(
        [nt.check_multipath_host(h) for h in hosts.facts.values()],
        "multipathd is not set up on every node as the article says",
    )
