"""`harvester-conformance snapshot` and `diff` (issue 17, item 1): the state an upgrade must keep,
and every regression after it, with exit codes that tell a regression (1) from a file that cannot
be used (2). The emulated cluster's faults are found by the regression invariants in the fault
matrix; here the commands themselves."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from harvester_conformance.emulator import areas

from .conftest import ROOT


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    outside = ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")  # no cluster but the one given
    environ = {k: v for k, v in os.environ.items() if k not in outside} | (env or {})
    cmd = [sys.executable, "-m", "harvester_conformance.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, env=environ)


def test_snapshot_and_diff_find_each_injected_regression_and_only_those(emulated, tmp_path: Path) -> None:
    """On the emulated cluster: a state recorded before, three upgrade regressions injected (a VM
    left stopped, a load balancer with a new IP, a NIC renamed), the diff names each of them and
    nothing else (exit 1); after the reverts, no change at all (exit 0)."""
    kubeconfig = str(emulated("v1.3.1").kubeconfig)
    before, after, healed = (tmp_path / f"{n}.json" for n in ("before", "after", "healed"))
    took = _cli("snapshot", str(before), "--kubeconfig", kubeconfig)
    assert took.returncode == 0, took.stderr
    assert "hosts read through the simulated probe: 3 of 3 node(s)" in took.stdout
    assert stat.S_IMODE(before.stat().st_mode) == 0o600  # the cluster's inventory: owner-only
    injected: list[str] = []
    try:
        for inv in ("UPG-08", "IPP-06", "NIC-02"):
            areas.inject(inv, kubeconfig)
            injected.append(inv)
        assert _cli("snapshot", str(after), "--kubeconfig", kubeconfig).returncode == 0
    finally:
        for inv in reversed(injected):
            areas.revert(inv, kubeconfig)
    found = _cli("diff", str(before), str(after), "--format", "json")
    assert found.returncode == 1, found.stderr
    doc = json.loads(found.stdout)
    named = {(c["invariant"], c["object"]) for c in doc["changes"] if not c["expected"]}
    wanted = {(inv, o) for inv in ("UPG-08", "IPP-06", "NIC-02") for o in areas.FAULTS[inv].objects}
    assert wanted <= named and {inv for inv, _ in named} == {"UPG-08", "IPP-06", "NIC-02"}, named
    text = _cli("diff", str(before), str(after))
    assert text.returncode == 1 and "REGRESSION UPG-08  VirtualMachine" in text.stdout
    assert _cli("snapshot", str(healed), "--kubeconfig", kubeconfig).returncode == 0
    same = _cli("diff", str(before), str(healed))
    assert same.returncode == 0 and "0 regression(s), 0 expected change(s)" in same.stdout, same.stdout


def test_diff_of_files_that_are_no_states_is_a_usage_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes.json"
    notes.write_text('{"format": "something else"}')
    for args, reason in (
        (("diff", str(tmp_path / "missing.json"), str(notes)), "cannot read the baseline"),
        (("diff", str(notes), str(notes)), "not an upgrade state document"),
        (("diff", "/proc/version", str(notes)), "is not JSON"),
    ):
        r = _cli(*args)
        assert r.returncode == 2 and reason in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_snapshot_without_a_cluster_is_a_usage_error(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}  # no ~/.kube/config
    r = _cli("snapshot", str(tmp_path / "s.json"), env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "s.json").exists()
