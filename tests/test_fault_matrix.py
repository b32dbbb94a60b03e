"""The fault matrix: every invariant that has both a check and a fault is proven both ways.

On one shared healthy emulated cluster: the suite run for the ID passes; with its fault injected
it fails naming the objects the fault declares, while every other ID checked in the same run
keeps its outcome (those that name the ID as a prerequisite become broken, pointing at it; those
the fault declares the same state breaks, `Fault.also_fails`, fail with it); after the reverts,
one run shows every ID passing again. The matrix grows by itself as checks land, at one suite run
per ID (two for active, disruptive and regression IDs, which have no baseline). Every run compares
with the cluster's state recorded as the matrix begins (`--baseline`): the regression IDs find
their faults against it, and the last run, after every revert, finds no regression at all.

The releases after the matrix's (v1.6.1, v1.7.3, v1.8.2) prove every fault that applies to them
too, several at once where they cannot disturb one another (`fault_batches`): each injected ID
fails naming its objects; after the reverts every check conforms. Each other healthy release
profile runs every check once: it conforms (the matrix profile in its run after the reverts).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester_conformance.catalogue import entries
from harvester_conformance.catalogue.traceability import invariant_tests
from harvester_conformance.changes import RUN_LABEL, SAVED_LABEL
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import areas
from harvester_conformance.emulator.faults import Fault

from .conftest import RunResult, record_state, run_suite
from .leaks import leaks, planted_secrets

MATRIX_PROFILE = "v1.3.1"
RELEASE_PROFILES = ("v1.2.1", "v1.3.1", "v1.4.3", "v1.5.0", "v1.6.1", "v1.7.3", "v1.8.2")
# The releases users run now (issue 10): every fault that applies to them is proven there as well.
CURRENT_PROFILES = ("v1.6.1", "v1.7.3", "v1.8.2")
FAST = ("--timeout-scale", "0.2")
# Strict: an advisory check's warning counts as a failure, so its fault is proven like the others.
ALL = ("--profile", "full", "--allow-disruptive", "--strict")
# What the active and disruptive checks create or mark: none of it may outlive a run.
LEFT_BEHIND = (R.NAMESPACES, R.VMS, R.VMIS, R.VMIMS, R.MIGRATION_POLICIES)


def proven() -> list[str]:
    """IDs with a test and a fault: what `list --format json` reports as having a proof."""
    return sorted(set(invariant_tests()) & set(areas.FAULTS))


def proven_on(profile: str) -> list[str]:
    """The proven IDs whose fault applies to `profile`'s release (profiles are named after it)."""
    return [i for i in proven() if areas.FAULTS[i].applies_to(profile)]


def fault_batches(profile: str) -> list[list[str]]:
    """`proven_on(profile)` packed into batches injected together: no two faults of a batch come
    from one article's invariants (they break neighbouring objects: IPP-03's load balancer
    cannot be deleted while IPP-02 breaks its pool) or declare objects of one name, none is the
    other's prerequisite, and a fault that changes what the whole cluster reports (its release, a
    component's version) or admits (`Fault.admission_wide`) is alone in its batch. Greedy, in ID
    order: the same batches every run."""
    batches: list[list[str]] = []
    for inv in proven_on(profile):
        for batch in batches:
            if _compatible(inv, batch):
                batch.append(inv)
                break
        else:
            batches.append([inv])
    return batches


def test_what_a_fault_also_breaks_is_catalogued() -> None:
    for inv, fault in areas.FAULTS.items():
        assert set(fault.also_fails) <= set(entries()) - {inv}, inv


def _names(fault: Fault) -> set[str]:
    """The names of the objects a fault declares or touches, whatever their kind: a Longhorn Node
    shares its name with the Node, a VolumeAttachment with its Volume, and faults on either meet."""
    return {o.rsplit("/", 1)[-1].split(" ")[-1] for o in (*fault.objects, *fault.touches)}


def _whole_cluster(fault: Fault) -> bool:
    """The fault changes what the whole cluster reports (its release, a component's version) or
    admits (every namespace write)."""
    return bool(fault.reports_release or fault.reports_component or fault.admission_wide)


def _compatible(inv: str, batch: list[str]) -> bool:
    fault = areas.FAULTS[inv]
    for other in batch:
        peer = areas.FAULTS[other]
        if _whole_cluster(fault) or _whole_cluster(peer) or _names(fault) & _names(peer):
            return False
        if inv.split("-")[0] == other.split("-")[0] or other in fault.also_fails or inv in peer.also_fails:
            return False
        if inv in entries()[other].prerequisites or other in entries()[inv].prerequisites:
            return False
    return True


def _read_only(ids: list[str]) -> list[str]:
    """The read-only IDs that hold on a healthy cluster whatever else a fault changes: not the
    regression IDs, which compare the whole cluster with its recorded state (any other fault's
    change is a regression to them); they are proven like the active IDs, with a healthy run each."""
    return [i for i in ids if entries()[i].impact == "read_only" and "regression" not in entries()[i].kind]


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
def state(emulated, tmp_path_factory) -> tuple[str, str]:
    """The healthy cluster's state as the matrix begins (`--baseline` for every run): the
    regression IDs find each fault's change against it, and after every revert, none."""
    return record_state(tmp_path_factory.mktemp("state"), emulated(MATRIX_PROFILE).kubeconfig)


@pytest.fixture(scope="module")
def baseline(emulated, tmp_path_factory, state) -> dict[str, str | None]:
    """The read-only checks' outcomes on the healthy cluster: every one passes."""
    ids = _read_only(proven_on(MATRIX_PROFILE))
    kubeconfig = emulated(MATRIX_PROFILE).kubeconfig
    r = run_suite(tmp_path_factory.mktemp("baseline"), kubeconfig, *ALL, *FAST, *state, *_roles(kubeconfig), *_ids(ids))
    outcome = _statuses(r, ids)
    assert r.code == 0 and set(outcome.values()) == {"passed"}, r.stdout[-3000:] + r.stderr[-2000:]
    return outcome


@pytest.mark.parametrize("inv", proven_on(MATRIX_PROFILE))
def test_fault_is_found_naming_its_objects(emulated, tmp_path, state, baseline, inv: str) -> None:
    c = emulated(MATRIX_PROFILE)
    fault = areas.FAULTS[inv]
    if inv not in baseline:  # an active, disruptive or regression check: its own healthy run
        healthy = run_suite(tmp_path, c.kubeconfig, *ALL, *FAST, *state, *_roles(c.kubeconfig), "--id", inv)
        assert healthy.code == 0 and healthy.status(inv) == "passed", healthy.stdout[-3000:]
    ids = sorted({*baseline, inv})
    areas.inject(inv, c.kubeconfig)
    try:
        r = run_suite(tmp_path, c.kubeconfig, *ALL, *FAST, *state, *_roles(c.kubeconfig), *_ids(ids))
    finally:
        areas.revert(inv, c.kubeconfig)
    assert r.code == 1, r.stdout[-3000:] + r.stderr[-2000:]
    _found(r, inv)
    expected = {i: ("broken" if inv in entries()[i].prerequisites else baseline[i]) for i in ids if i != inv}
    for i in fault.also_fails:  # the same state breaks them too, as on a real cluster
        expected[i] = "failed"
    others = _statuses(r, [i for i in ids if i != inv])
    if fault.reports_release or fault.reports_component:  # checks gated on later versions: not applicable
        for i, status in others.items():
            if status == "skipped" and r.record(i)["message"].startswith("not applicable"):
                expected[i] = "skipped"
    assert others == expected, "IDs off their baseline: a fault reaching beyond its ID, or an earlier revert incomplete"
    for i, status in expected.items():
        if status == "broken":
            assert inv in r.record(i)["message"], r.record(i)


def _found(r: RunResult, inv: str) -> None:
    """`inv` failed, naming every object its fault declares, with a remediation."""
    assert (problem := _not_found(r, inv)) is None, problem


def _not_found(r: RunResult, inv: str) -> str | None:
    """Why `inv`'s fault was not found as it must be (None when it was)."""
    fault = areas.FAULTS[inv]
    record = r.record(inv)
    if record["status"] != "failed":
        return f"{inv} {record['status']}, not failed: {record['message'][:500]}"
    named = set(record["objects"])
    if missing := [o for o in fault.objects if o not in named or o.split(" ", 1)[1] not in record["message"]]:
        return f"{inv} does not name {missing}: {record['message'][:500]}"
    return None if record["remediation"] else f"{inv} has no remediation"


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


def test_every_revert_restores_the_cluster(emulated, tmp_path, state) -> None:
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
    r = run_suite(tmp_path, kubeconfig, *ALL, *FAST, *state, *_roles(kubeconfig), *_ids(ids))
    outcome = _conforms(r, ids)
    matrix = proven_on(MATRIX_PROFILE)
    assert {i: outcome[i] for i in matrix} == {i: "passed" for i in matrix}
    assert _left_behind(cl) == []
    assert _migrations(cl) == before
    cl.close()


@pytest.mark.parametrize("profile", CURRENT_PROFILES)
def test_release_profile_finds_its_faults(emulated, tmp_path, profile: str) -> None:
    """Every fault that applies to the release, in batches on one fresh cluster: each batch's IDs
    fail naming their objects (an ID its batch hid, on its own); after all the reverts every
    check conforms, every ID proven here passes and nothing the runs changed is left (this is
    also the profile's healthy run). No output of any of these runs, failing ones included,
    holds a planted secret."""
    kubeconfig = emulated(profile).kubeconfig
    roles = (*record_state(tmp_path, kubeconfig), *_roles(kubeconfig))  # and the healthy state
    cl = Cluster.from_kubeconfig(str(kubeconfig))
    problems: list[str] = []
    runs: list[RunResult] = []
    try:
        with planted_secrets(cl) as needles:
            for n, batch in enumerate(fault_batches(profile)):
                runs.append(_batch_run(tmp_path / f"batch-{n}", kubeconfig, roles, batch))
                # A fault its batch hid (another fault of the batch changed what it breaks) is
                # proven on its own: the claim is that each fault is found on this release.
                for inv in [i for i in batch if _not_found(runs[-1], i)]:
                    runs.append(_batch_run(tmp_path / f"alone-{inv}", kubeconfig, roles, [inv]))
                    if problem := _not_found(runs[-1], inv):
                        problems.append(problem)
                    else:
                        print(f"{profile}: {inv} found on its own; batch {n} {batch} hid it")
            assert problems == [], "\n".join(problems)
            ids = sorted(invariant_tests())
            runs.append(run_suite(tmp_path / "after", kubeconfig, *ALL, *FAST, *roles, *_ids(ids)))
            outcome = _conforms(runs[-1], ids)
            assert {i: outcome[i] for i in proven_on(profile)} == {i: "passed" for i in proven_on(profile)}
            assert leaks(runs, needles) == []
        assert _left_behind(cl) == []
    finally:
        cl.close()


def _batch_run(tmp_path: Path, kubeconfig: Path, roles: tuple[str, ...], batch: list[str]) -> RunResult:
    """One run of `batch`'s IDs with all their faults injected; every injected fault is reverted,
    in reverse order, whatever happens."""
    injected: list[str] = []
    try:
        for inv in batch:
            areas.inject(inv, kubeconfig)
            injected.append(inv)
        r = run_suite(tmp_path, kubeconfig, *ALL, *FAST, *roles, *_ids(batch))
    finally:
        for inv in reversed(injected):
            areas.revert(inv, kubeconfig)
    assert r.summary is not None, f"batch {batch}: no summary (exit {r.code}): {r.stderr[-2000:]}"
    return r


@pytest.mark.parametrize("profile", [p for p in RELEASE_PROFILES if p not in (MATRIX_PROFILE, *CURRENT_PROFILES)])
def test_healthy_release_profile_conforms(emulated, tmp_path, profile: str) -> None:
    """Every check on a fresh cluster of each other release: it conforms. The timeouts are scaled
    as in the matrix: on a healthy cluster they bound only how long a disruptive check watches for
    a change that must not come (LPC-04's window), and the matrix proves each check at that scale."""
    ids = sorted(invariant_tests())
    kubeconfig = emulated(profile).kubeconfig
    state = record_state(tmp_path, kubeconfig)
    outcome = _conforms(run_suite(tmp_path, kubeconfig, *ALL, *FAST, *state, *_roles(kubeconfig), *_ids(ids)), ids)
    regression = [i for i in ids if "regression" in entries()[i].kind]
    assert {i: outcome[i] for i in regression} == dict.fromkeys(regression, "passed")
