"""Active and disruptive checks leave nothing behind and restore every cluster-wide value they
change (issues 11 and 12): the state each check touches is read before and after a run, apart from
the check's own undo, and compared; for the checks that change cluster-wide values (MIG-06: the
KubeVirt CR's migration limits, LPC-04: Longhorn's priority-class setting, EVI-03: a Longhorn disk's
scheduling and eviction flags) also after the run is killed mid-change and `cleanup` has run."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import areas

from . import restore_state as S
from .conftest import run_suite
from .test_fault_matrix import ALL, FAST, MATRIX_PROFILE, _ids, _roles

# What each check touches: parts of restore_state.state, and the types of what it creates.
_RUN_NS = (R.NAMESPACES,)
_VMS = (*_RUN_NS, R.VMS, R.VMIS)
TOUCHES: dict[str, tuple[str | R.Resource, ...]] = {
    "MIG-04": (*_VMS, R.VMIMS),
    "MIG-05": (*_VMS, R.VMIMS),
    "MIG-06": ("kubevirt limits", *_VMS, R.VMIMS),
    "MIG-07": (*_VMS, R.VMIMS, R.MIGRATION_POLICIES),
    "SCH-05": _VMS,
    "IPP-07": ("load balancer ips", *_RUN_NS, R.LOADBALANCERS),
    "CCR-03": ("credentials", *_RUN_NS, R.RANCHER_TOKENS),
    "CSI-04": (
        *_VMS,
        R.PVCS,
        R.PERSISTENT_VOLUMES,
        R.VOLUME_SNAPSHOTS,
        R.VM_BACKUPS,
        R.DATA_VOLUMES,
    ),
    "LPC-04": (
        "priority class",
        *_VMS,
        R.PVCS,
        R.PERSISTENT_VOLUMES,
        R.LONGHORN_VOLUMES,
    ),
    "EVI-03": ("disk flags",),
}
IDS = tuple(TOUCHES)


def _part(state: dict, what: str | R.Resource) -> object:
    return state[what] if isinstance(what, str) else state["created"][what.key]


def _touched(state: dict, inv: str) -> dict[str, object]:
    return {w if isinstance(w, str) else w.key: _part(state, w) for w in TOUCHES[inv]}


@pytest.fixture(scope="module")
def cluster(emulated):
    c = emulated(MATRIX_PROFILE)
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    yield c, cl
    cl.close()


@pytest.fixture(scope="module")
def normal_run(cluster, tmp_path_factory) -> dict:
    """One run of every check here, on the healthy cluster: the state before, and after (waited
    until it is the same, within the named timeout), and the run's result."""
    c, cl = cluster
    before = S.state(cl)
    contents = S.snapshot_contents(cl)
    r = run_suite(tmp_path_factory.mktemp("restore"), c.kubeconfig, *ALL, *FAST, *_roles(c.kubeconfig), *_ids(IDS))
    after = S.settled(cl, before)
    return {
        "run": r,
        "before": before,
        "after": after,
        "left": S.leftovers(cl),
        "contents": (contents, S.snapshot_contents(cl)),
    }


@pytest.mark.parametrize("inv", IDS)
def test_a_run_restores_what_the_check_touched(normal_run: dict, inv: str) -> None:
    r = normal_run["run"]
    # Passed: the check did make its change (a skip or an early failure would prove nothing).
    assert r.status(inv) == "passed", r.stdout[-3000:] + r.stderr[-2000:]
    assert r.summary["cleanup"] == []
    before, after = _touched(normal_run["before"], inv), _touched(normal_run["after"], inv)
    assert S.differences(before, after) == {}
    assert normal_run["left"] == []


def test_snapshot_contents_go_with_the_run(normal_run: dict) -> None:
    """CSI-04's snapshots are deleted with the run's namespace; their contents (deletionPolicy
    Delete, as the vendor's class sets it) must follow, as the snapshot controller does."""
    before, after = normal_run["contents"]
    assert sorted(set(after) - set(before)) == []


# -- killed mid-change, then `cleanup` ------------------------------------------------------------


def _migrations_lowered(cl: Cluster, before: dict) -> bool:
    return S.kubevirt_limits(cl)["migrations"] != before["kubevirt limits"]["migrations"]


def _priority_class_changed(cl: Cluster, before: dict) -> bool:
    return S.priority_class(cl)["value"] != before["priority class"]["value"]


def _eviction_requested(cl: Cluster, before: dict) -> bool:
    """Both of the article's steps done: scheduling off, then the request."""
    return any(flags[1] for node in S.disk_flags(cl).values() for flags in node["disks"].values())


# (the changed part, what shows the change, the object `cleanup` restores, a fault holding the
# change in place until the kill). EVI-03's eviction completes within a second on a healthy
# cluster, so longhorn-manager is held stuck (EVI-03's fault) as KVC-07's test holds virt-operator.
# A read-only check that runs before the disruptive ones (the conformance packages' order).
FINISHES_FIRST = "KVC-01"
KILLED: dict[str, tuple[str, Callable[[Cluster, dict], bool], str, str | None]] = {
    "MIG-06": ("kubevirt limits", _migrations_lowered, "KubeVirt harvester-system/kubevirt", None),
    "LPC-04": ("priority class", _priority_class_changed, "Setting longhorn-system/priority-class", None),
    "EVI-03": ("disk flags", _eviction_requested, "Node longhorn-system/", "EVI-03"),
}


@contextlib.contextmanager
def _held(c, fault: str | None) -> Iterator[None]:  # noqa: ANN001 - the emulated-cluster handle
    """The fault that holds the change in place until the stop, if any, reverted whatever happens."""
    if fault:
        areas.inject(fault, c.kubeconfig)
    try:
        yield
    finally:
        if fault:
            areas.revert(fault, c.kubeconfig)


def _back_as_before(cl: Cluster, before: dict) -> None:
    after = S.settled(cl, before)
    assert S.differences(before, after) == {}
    assert S.leftovers(cl) == []


@pytest.mark.parametrize("inv", list(KILLED))
def test_cleanup_restores_what_a_killed_run_changed(cluster, tmp_path: Path, inv: str) -> None:
    """SIGKILL once the change shows: it stays changed (with its saved original naming the run);
    `cleanup --run-id` puts the part back as it was before, and leaves nothing labelled. The killed
    run's reports still hold the outcome of the check that finished before (KVC-01, read-only)."""
    c, cl = cluster
    part, changed, restored, fault = KILLED[inv]
    before = S.state(cl)
    run_id = f"killed-{inv.lower()}"
    with _held(c, fault):
        S.kill_when_changed(
            c.kubeconfig,
            ["--profile", "full", "--allow-disruptive", "--id", FINISHES_FIRST, "--id", inv],
            run_id,
            tmp_path / f"{run_id}.log",
            lambda: changed(cl, before),
            "setting-applied",
        )
        kept = json.loads((tmp_path / run_id / "summary.json").read_text())
        assert (kept["state"], kept["exit_code"]) == ("running", None)
        assert [(r["id"], r["status"]) for r in kept["invariants"]] == [(FINISHES_FIRST, "passed")]
        left = S.STATE[part](cl)
        assert changed(cl, before) and left != before[part]
        assert S.saved_runs(left) == {run_id}
        out = S.cleanup(c.kubeconfig, run_id)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"restored {restored}" in out.stdout
        assert S.STATE[part](cl) == before[part]
    _back_as_before(cl, before)


# -- stopped mid-change: the run undoes it itself ------------------------------------------------------
# (how the stop comes, extra run arguments). SIGINT to the process group is a terminal's Ctrl-C,
# SIGTERM to the run's process a CI runner cancelling the job; the time limit stops a run whose check
# would wait for far longer (EVI-03's stuck eviction, its named timeout unscaled), with xdist workers.
STOPPED: dict[str, tuple[signal.Signals | None, bool, list[str]]] = {
    "MIG-06": (signal.SIGINT, True, []),
    "LPC-04": (signal.SIGTERM, False, []),
    "EVI-03": (None, False, ["--timeout", "60", "-n", "2"]),
}


@pytest.mark.parametrize("inv", list(STOPPED))
def test_a_stopped_run_restores_and_reports(cluster, tmp_path: Path, inv: str) -> None:
    """Stopped once its change shows, the run restores the part and removes what it created
    itself (no `cleanup`), exits 3 with one line saying why, no traceback, and writes its reports
    marked interrupted: the check that finished (KVC-01) keeps its outcome, the stopped one is
    listed as having none."""
    c, cl = cluster
    part, changed, _, fault = KILLED[inv]
    sig, group, extra = STOPPED[inv]
    before = S.state(cl)
    run_id = f"stopped-{inv.lower()}"
    log = tmp_path / f"{run_id}.log"
    with _held(c, fault):
        args = ["--profile", "full", "--allow-disruptive", "--id", FINISHES_FIRST, "--id", inv, *extra]
        code = S.stop_when_changed(
            c.kubeconfig, args, run_id, log, lambda: changed(cl, before), "setting-applied", sig, group=group
        )
        out = log.read_text()
        assert code == 3, out[-3000:]
        why = sig.name if sig else "time limit of 60 s reached"
        assert f"[hc] stopping ({why})" in out and "Traceback" not in out, out[-3000:]
        # A worker stopped mid-test is reported by xdist as a crash: that goes to tracebacks.log.
        assert "crashed while running" not in out and "= FAILURES =" not in out, out[-3000:]
        doc = json.loads((tmp_path / run_id / "summary.json").read_text())
        assert (doc["state"], doc["stopped_by"], doc["unfinished"]) == ("interrupted", why, [inv])
        assert [(r["id"], r["status"]) for r in doc["invariants"]] == [(FINISHES_FIRST, "passed")]
        assert doc["cleanup"] == [] and doc["exit_code"] == 3
        assert S.STATE[part](cl) == before[part]
    _back_as_before(cl, before)
