"""Sections "Select Longhorn Volume Snapshot Class" and "Preparing the Virtual Machine and Image":
with Velero installed, Longhorn's `longhorn` class is the one Velero snapshots Longhorn volumes
with, and VM volumes on the NFS CSI class are Filesystem volumes, which NFS CSI can snapshot."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import velero_backups as vel
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise, require


def _velero(hc: RunContext) -> str:
    where = vel.installed_where(hc.snapshot.list(R.DEPLOYMENTS))
    if not where:
        pytest.skip("not applicable: Velero is not installed (no velero server Deployment)")
    return where


@invariant("VEL-01")
def test_longhorn_snapshot_class_selected_for_velero(hc: RunContext) -> None:
    where = _velero(hc)
    require(
        vel.check_snapshot_class(hc.snapshot.get(R.VOLUME_SNAPSHOT_CLASSES, vel.VSC)),
        f"Velero ({where}) has no labelled Longhorn snapshot class",
    )


@invariant("VEL-03")
def test_nfs_vm_volumes_are_filesystem(hc: RunContext, request: pytest.FixtureRequest) -> None:
    where = _velero(hc)
    snap = hc.snapshot
    advise(
        request,
        vel.check_nfs_volume_modes(snap.list(R.PVCS), snap.list(R.STORAGE_CLASSES), snap.list(R.VMS)),
        f"VM volumes on NFS CSI that Velero ({where}) cannot back up",
    )
