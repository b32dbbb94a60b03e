"""Section "Use Rook Ceph in Harvester" (and any vendor driver): the class named by
--vendor-storage-class provisions a blank data volume, a VM attaches it, and the volume is snapshotted
and backed up through the VolumeSnapshotClasses csi-driver-config names for the class's provisioner.
Active: everything is created in the run's namespace and removed afterwards. The VM-level operation is
a VirtualMachineBackup of `type: backup` up to Harvester v1.4.x (with a backup target set), else of
`type: snapshot` (from v1.5.0 Harvester refuses backups of third-party volumes; checks/rook_ceph.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harvester_conformance import vms
from harvester_conformance.changes import Changes
from harvester_conformance.checks import rook_ceph as rc
from harvester_conformance.checks.findings import Finding
from harvester_conformance.checks.vm_scheduling import version_tuple
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require
from harvester_conformance.waits import TIMEOUTS, WaitTimeout, wait_for

# How long each stage may take: as long as a volume attachment (scaled by --timeout-scale).
STAGE = TIMEOUTS["volume-attached"]


@pytest.fixture
def vendor_class(pytestconfig: pytest.Config) -> str:
    name = pytestconfig.getoption("vendor_storage_class", default=None)
    if not name:
        pytest.skip("needs --vendor-storage-class")
    return str(name)


def _stage(name: str, probe: Callable[[], object]) -> None:
    """Wait for a stage; a timeout leaves the verdict to the stage's check."""
    try:
        wait_for(name, probe, timeout=STAGE)
    except WaitTimeout:
        pass


def _claim(cl: Cluster, changes: Changes, sc: str) -> tuple[str, str]:
    pvc = changes.create(
        R.PVCS,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"generateName": "hc-csi04-"},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "volumeMode": "Block",
                "storageClassName": sc,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    ns, name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
    _stage("pvc-bound", lambda: ((cl.get(R.PVCS, name, ns) or {}).get("status") or {}).get("phase") == "Bound")
    require(
        rc.check_claim(cl.get(R.PVCS, name, ns), ns, name, sc, cl.list(R.EVENTS, ns)),
        "the vendor class did not provision a blank data volume",
    )
    return ns, name


def _vm(cl: Cluster, changes: Changes, claim: str) -> str:
    body = vms.vm_body("hc-csi04")
    template = body["spec"]["template"]["spec"]
    template["domain"]["devices"]["disks"] = [{"name": "data", "disk": {"bus": "virtio"}}]
    template["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    ns, name = vms.create(changes, body)
    try:
        vms.wait_running(cl, ns, name)
    except WaitTimeout as exc:
        require(
            [Finding(f"VirtualMachine {ns}/{name}", f"did not run with PersistentVolumeClaim {ns}/{claim}: {exc}")],
            "a VM did not attach the vendor volume",
        )
    return name


def _snapshot(cl: Cluster, changes: Changes, ns: str, claim: str, provisioner: str, vsc: str) -> None:
    snap = changes.create(
        R.VOLUME_SNAPSHOTS,
        {
            "apiVersion": R.VOLUME_SNAPSHOTS.api_version,
            "kind": R.VOLUME_SNAPSHOTS.kind,
            "metadata": {"generateName": "hc-csi04-"},
            "spec": {"volumeSnapshotClassName": vsc, "source": {"persistentVolumeClaimName": claim}},
        },
    )
    name = snap["metadata"]["name"]

    def findings() -> list[Finding]:
        return rc.check_snapshot(
            cl.get(R.VOLUME_SNAPSHOTS, name, ns),
            ns,
            name,
            vsc,
            cl.list(R.VOLUME_SNAPSHOT_CLASSES),
            provisioner,
            cl.list(R.EVENTS, ns),
        )

    # Ready, or a class that cannot serve it (absent or of another driver): no use waiting further.
    _stage("volume-snapshot-ready", lambda: not (f := findings()) or len(f) > 1)
    require(findings(), "the vendor volume was not snapshotted through csi-driver-config's class")


def _vm_backup(cl: Cluster, changes: Changes, hc: RunContext, ns: str, vm: str, classes: tuple[str, str]) -> None:
    harvester = version_tuple(hc.versions.get("harvester")) or version_tuple(hc.release.release.harvester)
    kind = rc.backup_type(harvester, cl.get(R.HARVESTER_SETTINGS, rc.BACKUP_TARGET_SETTING))
    expected = classes[1] if kind == "backup" else classes[0]
    backup = changes.create(
        R.VM_BACKUPS,
        {
            "apiVersion": R.VM_BACKUPS.api_version,
            "kind": R.VM_BACKUPS.kind,
            "metadata": {"generateName": "hc-csi04-"},
            "spec": {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": vm}, "type": kind},
        },
    )
    name = backup["metadata"]["name"]

    def state() -> dict | None:
        return cl.get(R.VM_BACKUPS, name, ns)

    def settled() -> bool:
        st = (state() or {}).get("status") or {}
        return st.get("readyToUse") is True or bool(st.get("error"))

    _stage("vm-backup-ready", settled)
    snapshots = {s["metadata"]["name"]: s for s in cl.list(R.VOLUME_SNAPSHOTS, ns)}
    require(
        rc.check_vm_backup(state(), ns, name, expected, snapshots, cl.list(R.EVENTS, ns)),
        f"Harvester's VM {kind} of the vendor volume did not complete through csi-driver-config's class",
    )


@invariant("CSI-04")
def test_vendor_volume_lifecycle(hc: RunContext, changes: Changes, vendor_class: str) -> None:
    cl = hc.cluster
    found = rc.vendor_classes(
        cl.get(R.HARVESTER_SETTINGS, rc.SETTING), cl.get(R.STORAGE_CLASSES, vendor_class), vendor_class
    )
    if isinstance(found, Finding):
        require([found], f"StorageClass {vendor_class} cannot be certified")
        return
    provisioner, vsc, backup_vsc = found
    ns, claim = _claim(cl, changes, vendor_class)
    vm = _vm(cl, changes, claim)
    _snapshot(cl, changes, ns, claim, provisioner, vsc)
    _vm_backup(cl, changes, hc, ns, vm, (vsc, backup_vsc))
