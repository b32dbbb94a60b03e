"""What the fault matrix does not show of the virtualization checks that change the cluster:
after a run of every active and disruptive one, nothing the run created is left, and every
cluster-wide value it changed is back."""

from __future__ import annotations

from harvester_conformance.changes import RUN_LABEL, SAVED_LABEL
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster

from .conftest import run_suite

CHANGING = ("MIG-04", "MIG-05", "MIG-06", "MIG-07", "SCH-05")
CREATED = (R.NAMESPACES, R.VMS, R.VMIS, R.VMIMS, R.MIGRATION_POLICIES)


def _migrations(cl: Cluster) -> object:
    kv = cl.get(R.KUBEVIRTS, "kubevirt", "harvester-system") or {}
    return ((kv.get("spec") or {}).get("configuration") or {}).get("migrations")


def test_changing_checks_leave_nothing_behind(emulated, tmp_path) -> None:
    c = emulated("v1.3.1")
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    before = _migrations(cl)
    ids = [a for i in CHANGING for a in ("--id", i)]
    r = run_suite(tmp_path, c.kubeconfig, "--profile", "full", "--allow-disruptive", *ids)
    assert r.code == 0, r.stdout[-3000:]
    assert {i: r.status(i) for i in CHANGING} == dict.fromkeys(CHANGING, "passed")
    assert r.summary["cleanup"] == []
    left = [
        f"{res.kind} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        for res in CREATED
        for label in (RUN_LABEL, SAVED_LABEL)
        for o in cl.list(res, label_selector=label)
        if not o["metadata"].get("deletionTimestamp")
    ]
    assert left == []
    assert _migrations(cl) == before
