"""The fault matrix: every invariant that has both a check and a fault is proven both ways.

On one shared healthy emulated cluster: the suite run for the ID passes; with its fault injected
it fails naming the objects the fault declares, while every other ID checked in the same run
keeps its outcome (those that name the ID as a prerequisite become broken, pointing at it);
after the reverts, one run shows every ID passing again. The matrix grows by itself as checks
land, at one suite run per ID (two for active and disruptive IDs, which have no baseline).

Each healthy release profile also runs every check once: it conforms (the matrix profile in its
run after the reverts).
"""

from __future__ import annotations

import pytest

from harvester_conformance.catalogue import entries
from harvester_conformance.catalogue.traceability import invariant_tests
from harvester_conformance.changes import RUN_LABEL, SAVED_LABEL
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import areas

from .conftest import RunResult, run_suite

MATRIX_PROFILE = "v1.3.1"
RELEASE_PROFILES = ("v1.2.1", "v1.3.1", "v1.4.3", "v1.5.0", "v1.6.1", "v1.7.3", "v1.8.2")
FAST = ("--timeout-scale", "0.2")
# Strict: an advisory check's warning counts as a failure, so its fault is proven like the others.
ALL = ("--profile", "full", "--allow-disruptive", "--strict")
# What the active and disruptive checks create or mark: none of it may outlive a run.
LEFT_BEHIND = (R.NAMESPACES, R.VMS, R.VMIS, R.VMIMS, R.MIGRATION_POLICIES)


def proven() -> list[str]:
    """IDs with a test and a fault: what `list --format json` reports as having a proof."""
    return sorted(set(invariant_tests()) & set(areas.FAULTS))


def _read_only(ids: list[str]) -> list[str]:
    return [i for i in ids if entries()[i].impact == "read_only"]


# The simulated NetApp Trident driver's StorageClass: the vendor class CSI-04 certifies.
VENDOR_CLASS = "ontap-san-economy"


def _roles(kubeconfig: object) -> tuple[str, ...]:
    """The emulated cluster plays the Rancher cluster and the guest cluster as well (their objects
    live in its own apiserver), so the Rancher and guest-cluster IDs are proven like the others;
    its Trident class is the vendor class under certification."""
    return (
        "--rancher-kubeconfig",
        str(kubeconfig),
        "--guest-kubeconfig",
        str(kubeconfig),
        "--vendor-storage-class",
        VENDOR_CLASS,
    )


def _ids(ids: list[str]) -> list[str]:
    return [a for i in ids for a in ("--id", i)]


def _statuses(r: RunResult, ids: list[str]) -> dict[str, str | None]:
    return {i: r.status(i) for i in ids}


@pytest.fixture(scope="module")
def baseline(emulated, tmp_path_factory) -> dict[str, str | None]:
    """The read-only checks' outcomes on the healthy cluster: every one passes."""
    ids = _read_only(proven())
    kubeconfig = emulated(MATRIX_PROFILE).kubeconfig
    r = run_suite(tmp_path_factory.mktemp("baseline"), kubeconfig, *ALL, *FAST, *_roles(kubeconfig), *_ids(ids))
    outcome = _statuses(r, ids)
    assert r.code == 0 and set(outcome.values()) == {"passed"}, r.stdout[-3000:] + r.stderr[-2000:]
    return outcome


@pytest.mark.parametrize("inv", proven())
def test_fault_is_found_naming_its_objects(emulated, tmp_path, baseline, inv: str) -> None:
    c = emulated(MATRIX_PROFILE)
    fault = areas.FAULTS[inv]
    if inv not in baseline:  # an active or disruptive check: its own healthy run
        healthy = run_suite(tmp_path, c.kubeconfig, *ALL, *FAST, *_roles(c.kubeconfig), "--id", inv)
        assert healthy.code == 0 and healthy.status(inv) == "passed", healthy.stdout[-3000:]
    ids = sorted({*baseline, inv})
    areas.inject(inv, c.kubeconfig)
    try:
        r = run_suite(tmp_path, c.kubeconfig, *ALL, *FAST, *_roles(c.kubeconfig), *_ids(ids))
    finally:
        areas.revert(inv, c.kubeconfig)
    assert r.code == 1, r.stdout[-3000:] + r.stderr[-2000:]
    record = r.record(inv)
    assert record["status"] == "failed", record
    assert set(fault.objects) <= set(record["objects"]), (fault.objects, record)
    assert all(o.split(" ", 1)[1] in record["message"] for o in fault.objects), record["message"]
    assert record["remediation"]
    expected = {i: ("broken" if inv in entries()[i].prerequisites else baseline[i]) for i in ids if i != inv}
    others = _statuses(r, [i for i in ids if i != inv])
    if fault.reports_release or fault.reports_component:  # checks gated on later versions: not applicable
        for i, status in others.items():
            if status == "skipped" and r.record(i)["message"].startswith("not applicable"):
                expected[i] = "skipped"
    assert others == expected, "IDs off their baseline: a fault reaching beyond its ID, or an earlier revert incomplete"
    for i, status in expected.items():
        if status == "broken":
            assert inv in r.record(i)["message"], r.record(i)


def _conforms(r: RunResult, ids: list[str]) -> dict[str, str | None]:
    """The run conforms: exit 0, every ID passed or skipped as not applicable, nothing left to
    clean up. The outcomes, for further assertions."""
    assert r.code == 0, r.stdout[-3000:] + r.stderr[-2000:]
    outcome = _statuses(r, ids)
    assert set(outcome.values()) <= {"passed", "skipped"}, outcome
    for i, status in outcome.items():
        if status == "skipped":
            assert r.record(i)["message"].startswith("not applicable"), r.record(i)
    assert r.summary["cleanup"] == []
    return outcome


def _left_behind(cl: Cluster) -> list[str]:
    """What a run created or marked as changed and did not take back (being deleted is taken back)."""
    return [
        f"{res.kind} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        for res in LEFT_BEHIND
        for label in (RUN_LABEL, SAVED_LABEL)
        for o in cl.list(res, label_selector=label)
        if not o["metadata"].get("deletionTimestamp")
    ]


def _migrations(cl: Cluster) -> object:
    kv = cl.get(R.KUBEVIRTS, "kubevirt", "harvester-system") or {}
    return ((kv.get("spec") or {}).get("configuration") or {}).get("migrations")


def test_every_revert_restores_the_cluster(emulated, tmp_path) -> None:
    """After all the faults above were injected and reverted, one run of every check conforms and
    every proven ID passes. (Each faulty run above also holds every read-only ID to its baseline,
    so a revert that left something behind shows there first, as an ID that lost its baseline.)
    The run's own changes are all taken back: nothing it labelled is left and the cluster-wide
    migration settings its disruptive checks change are as before. This run is also the matrix
    profile's healthy release-profile run."""
    ids = sorted(invariant_tests())
    kubeconfig = emulated(MATRIX_PROFILE).kubeconfig
    cl = Cluster.from_kubeconfig(str(kubeconfig))
    before = _migrations(cl)
    r = run_suite(tmp_path, kubeconfig, *ALL, *FAST, *_roles(kubeconfig), *_ids(ids))
    outcome = _conforms(r, ids)
    assert {i: outcome[i] for i in proven()} == {i: "passed" for i in proven()}
    assert _left_behind(cl) == []
    assert _migrations(cl) == before
    cl.close()


@pytest.mark.parametrize("profile", [p for p in RELEASE_PROFILES if p != MATRIX_PROFILE])
def test_healthy_release_profile_conforms(emulated, tmp_path, profile: str) -> None:
    """Every check on a fresh cluster of each other release: it conforms. The timeouts are scaled
    as in the matrix: on a healthy cluster they bound only how long a disruptive check watches for
    a change that must not come (LPC-04's window), and the matrix proves each check at that scale."""
    ids = sorted(invariant_tests())
    kubeconfig = emulated(profile).kubeconfig
    _conforms(run_suite(tmp_path, kubeconfig, *ALL, *FAST, *_roles(kubeconfig), *_ids(ids)), ids)
