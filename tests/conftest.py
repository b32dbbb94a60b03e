"""Fixtures of the project's own tests: emulated clusters (real control plane) per profile,
and a helper that runs the suite the way a user does, through the CLI, in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harvester_conformance.emulator import lifecycle, manage
from harvester_conformance.emulator.areas import all_faults
from harvester_conformance.waits import Abort, WaitTimeout, wait_for

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Emulated:
    name: str
    profile: str
    kubeconfig: Path
    state: lifecycle.State


@dataclass
class RunResult:
    code: int
    stdout: str
    stderr: str
    summary: dict | None
    run_dir: Path

    def status(self, inv: str) -> str | None:
        for r in (self.summary or {}).get("invariants", []):
            if r["id"] == inv:
                return r["status"]
        return None

    def record(self, inv: str) -> dict:
        return next(r for r in (self.summary or {})["invariants"] if r["id"] == inv)


_clusters: dict[str, Emulated] = {}

# The profile most tests use, kept up for the whole session; any other is stopped when a module
# that needs it is done: an idle emulated cluster still costs ~40% of a core (its controllers poll),
# and seven of them idling starve the two cores the tests run on.
HOME_PROFILE = "v1.3.1"
# Module fixtures that hold a client of a given profile (no parameter tells it).
_FIXTURE_PROFILES = {"cl121": "v1.2.1", "cl143": "v1.4.3", "cl150": "v1.5.0"}


def profile_of(item: pytest.Item) -> str:
    """The profile an item runs on, as far as collection tells: a parameter naming a profile, a
    fixture bound to one, else the home profile (a guess costs a cluster start, never a result)."""
    from harvester_conformance.emulator.profiles import PROFILES

    callspec = getattr(item, "callspec", None)
    for value in callspec.params.values() if callspec else ():
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, str) and v in PROFILES:
                return v
    for name in getattr(item, "fixturenames", ()):
        if name in _FIXTURE_PROFILES:
            return _FIXTURE_PROFILES[name]
    return HOME_PROFILE


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Items grouped by profile (stable: each module's order holds within a group), so that a
    profile's cluster is started once and stopped when its group is done."""
    from harvester_conformance.emulator.profiles import PROFILES

    rank = {p: i for i, p in enumerate(PROFILES)}

    def group(item: pytest.Item) -> tuple[bool, int]:
        profile = profile_of(item)
        return profile != HOME_PROFILE, rank.get(profile, len(rank))

    items.sort(key=group)


# The fault matrix's items share one cluster whose faults are injected and reverted in turn, and
# its last item proves every revert: they run on one worker, in order.
_MATRIX_ITEMS = ("test_fault_is_found_naming_its_objects", "test_every_revert_restores_the_cluster")
_MATRIX_MODULE = "test_fault_matrix.py"
# Modules whose items share one module-scoped suite run (a baseline, a run they all judge): on one
# worker, the run is made once.
_ONE_WORKER_MODULES = (
    "test_disruptive_restore.py",
    "test_malformed_objects.py",
    "test_emulated_upgrade.py",
    "test_html_report.py",  # its two runs are made once, for all its tests
)


def work_unit(nodeid: str) -> str:
    """The xdist work unit of a test (`make test` runs three workers): the fault matrix on one
    worker, and each other profile's items on one worker, which starts that profile's cluster
    once. Home-profile items (each worker keeps its own home cluster) are balanced one by one.
    The scheduler sees node IDs only, so the profile is read from the parameters (a token between
    '-' or ':'), or from a `test_vXYZ_` name for the tests that bring up a profile's cluster
    themselves (as a home item, each worker would start that cluster again)."""
    from harvester_conformance.emulator.profiles import PROFILES

    path, _, rest = nodeid.partition("::")
    name, _, params = rest.partition("[")
    if path.endswith(_MATRIX_MODULE) and name in _MATRIX_ITEMS:
        return "fault-matrix"
    if path.endswith(_ONE_WORKER_MODULES):
        return path
    tokens = set(re.split(r"[-:]", params.rstrip("]")))
    tokens |= {f"v{t[1]}.{t[2]}.{t[3]}" for t in name.split("_") if _is_vxyz(t)}
    profile = next((p for p in PROFILES if p in tokens), HOME_PROFILE)
    return nodeid if profile == HOME_PROFILE else f"profile-{profile}"


def _is_vxyz(token: str) -> bool:
    return len(token) == 4 and token[0] == "v" and token[1:].isdigit()


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from harvester_conformance.scheduling import UnitScheduling

    return UnitScheduling(config, log, work_unit)


_previous: list[tuple[object, str] | None] = [None]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Where the module or the profile group changes, stop the clusters neither the home profile
    nor this item needs. At a module boundary the previous module's fixtures and clients are gone;
    within a module the items are sorted by profile, so none comes back to a stopped one."""
    here = (item.module, profile_of(item))
    if here == _previous[0]:
        return
    _previous[0] = here
    keep = {HOME_PROFILE, here[1]}
    for profile in [p for p in _clusters if p not in keep]:
        _stop(_clusters.pop(profile))


def _stop(c: Emulated) -> None:
    assert manage.down(c.name) == []
    shutil.rmtree(c.state.dir, ignore_errors=True)  # PKI and logs of a throw-away cluster


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM unwinds like Ctrl-C, so the session's clusters are stopped by the fixture's teardown."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


@pytest.fixture(scope="session")
def emulated():
    """Factory: an emulated cluster of the given profile, started on first use (and again if the
    end of a module or profile group stopped it)."""

    def get(profile: str) -> Emulated:
        if profile not in _clusters:
            name = f"pytest-{os.getpid()}-{profile}"
            st, _ = manage.up(profile, name=name)
            _clusters[profile] = Emulated(name, profile, st.kubeconfig, st)
        return _clusters[profile]

    yield get
    while _clusters:
        _stop(_clusters.popitem()[1])


def stopped_vm(name: str, ns: str) -> dict:
    """A stopped VM with only limits (1 CPU, 1Gi), as the overcommit article's example writes it:
    Harvester's mutator fills in its requests and guest memory."""
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "running": False,
            "template": {"spec": {"domain": {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}, "devices": {}}}},
        },
    }


def stays(seconds: float, probe: Callable[[], bool]) -> None:
    """`probe` keeps holding for `seconds` while the controllers tick (a stuck one does not heal it)."""
    start = time.monotonic()

    def check() -> bool:
        if not probe():
            raise Abort("the state changed")
        return time.monotonic() - start >= seconds

    wait_for("cluster-seeded", check, timeout=seconds + 10, max_interval=0.5)


def never(probe: Callable[[], object], seconds: float) -> bool:
    """True when `probe` stays falsy for `seconds` (a stuck controller never gets there)."""
    try:
        wait_for("cluster-seeded", probe, timeout=seconds)
    except WaitTimeout:
        return True
    return False


@contextlib.contextmanager
def injected(cl: object, fault_id: str, problems: Callable[[], list]) -> Iterator[list]:
    """A fault proven both ways: no problem before, the problems found while it is injected (the
    body asserts on them), none after its revert."""
    assert problems() == []
    fault = all_faults()[fault_id]
    fault.inject(cl)
    try:
        yield problems()
    finally:
        fault.revert(cl)
    assert problems() == []


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`harvester-conformance ARGS` as a user runs it, with no cluster from this environment."""
    environ = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    cmd = [sys.executable, "-m", "harvester_conformance.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environ)


def run_suite(
    tmp_path: Path, kubeconfig: Path | str | None, *args: str, timeout: float = 600, env: dict[str, str] | None = None
) -> RunResult:
    run_id = f"t{len(list(tmp_path.glob('*')))}"
    cmd = [
        sys.executable,
        "-m",
        "harvester_conformance.cli",
        "run",
        "--reports-dir",
        str(tmp_path),
        "--run-id",
        run_id,
        *args,
    ]
    if kubeconfig is not None:
        cmd += ["--kubeconfig", str(kubeconfig)]
    environ = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | (env or {})
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=environ, cwd=ROOT)
    summary_path = tmp_path / run_id / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    return RunResult(proc.returncode, proc.stdout, proc.stderr, summary, tmp_path / run_id)


def record_state(tmp_path: Path, kubeconfig: Path | str) -> tuple[str, str]:
    """`harvester-conformance snapshot` of the cluster as it is now: the run options that make the
    regression invariants (IPP-06, NIC-02, UPG-08) compare with it."""
    path = tmp_path / "state-before.json"
    proc = run_cli("snapshot", str(path), "--kubeconfig", str(kubeconfig), timeout=120)
    assert proc.returncode == 0 and "3 of 3 node(s)" in proc.stdout, proc.stdout + proc.stderr
    return ("--baseline", str(path))


@pytest.fixture(scope="module")
def cl(emulated):
    """A client of the v1.3.1 emulated cluster, the profile the area tests exercise."""
    from harvester_conformance.cluster.client import Cluster

    cluster = Cluster.from_kubeconfig(str(emulated("v1.3.1").kubeconfig))
    yield cluster
    cluster.close()
