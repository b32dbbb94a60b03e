"""The fault matrix: every invariant that has both a check and a fault is proven both ways.

On one shared healthy emulated cluster: the suite run for the ID passes; with its fault injected
it fails naming the objects the fault declares, while every other ID checked in the same run
keeps its outcome (those that name the ID as a prerequisite become broken, pointing at it);
after the reverts, one run shows every ID passing again. The matrix grows by itself as checks
land, at one suite run per ID (two for active and disruptive IDs, which have no baseline).

Each healthy release profile also runs every check once: it conforms.
"""

from __future__ import annotations

import pytest

from harvester_conformance.catalogue import entries
from harvester_conformance.catalogue.traceability import invariant_tests
from harvester_conformance.emulator import areas

from .conftest import RunResult, run_suite

MATRIX_PROFILE = "v1.3.1"
RELEASE_PROFILES = ("v1.2.1", "v1.3.1", "v1.4.3", "v1.5.0", "v1.6.1", "v1.7.3", "v1.8.2")
FAST = ("--timeout-scale", "0.2")
# Strict: an advisory check's warning counts as a failure, so its fault is proven like the others.
ALL = ("--profile", "full", "--allow-disruptive", "--strict")


def proven() -> list[str]:
    """IDs with a test and a fault: what `list --format json` reports as having a proof."""
    return sorted(set(invariant_tests()) & set(areas.FAULTS))


def _read_only(ids: list[str]) -> list[str]:
    return [i for i in ids if entries()[i].impact == "read_only"]


def _roles(kubeconfig: object) -> tuple[str, ...]:
    """The emulated cluster plays the Rancher cluster and the guest cluster as well (their objects
    live in its own apiserver), so the Rancher and guest-cluster IDs are proven like the others."""
    return ("--rancher-kubeconfig", str(kubeconfig), "--guest-kubeconfig", str(kubeconfig))


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
    if fault.reports_release:  # "an older release": checks gated on later ones say not applicable
        for i, status in others.items():
            if status == "skipped" and r.record(i)["message"].startswith("not applicable"):
                expected[i] = "skipped"
    assert others == expected, "IDs off their baseline: a fault reaching beyond its ID, or an earlier revert incomplete"
    for i, status in expected.items():
        if status == "broken":
            assert inv in r.record(i)["message"], r.record(i)


def test_every_revert_restores_the_cluster(emulated, tmp_path) -> None:
    """After all the faults above were injected and reverted, every proven ID passes again, in one
    run. (Each faulty run above also holds every read-only ID to its baseline, so a revert that
    left something behind shows there first, as an ID that lost its baseline.)"""
    ids = proven()
    kubeconfig = emulated(MATRIX_PROFILE).kubeconfig
    r = run_suite(tmp_path, kubeconfig, *ALL, *FAST, *_roles(kubeconfig), *_ids(ids))
    assert r.code == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert _statuses(r, ids) == {i: "passed" for i in ids}


@pytest.mark.parametrize("profile", RELEASE_PROFILES)
def test_healthy_release_profile_conforms(emulated, tmp_path, profile: str) -> None:
    ids = sorted(invariant_tests())
    kubeconfig = emulated(profile).kubeconfig
    r = run_suite(tmp_path, kubeconfig, *ALL, *_roles(kubeconfig), *_ids(ids))
    assert r.code == 0, r.stdout[-3000:] + r.stderr[-2000:]
    outcome = _statuses(r, ids)
    assert set(outcome.values()) <= {"passed", "skipped"}, outcome
    for i, status in outcome.items():
        if status == "skipped":
            assert r.record(i)["message"].startswith("not applicable"), r.record(i)
    assert r.summary["cleanup"] == []
