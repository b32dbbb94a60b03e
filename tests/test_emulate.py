"""Issue 17, item 6: `harvester-conformance emulate --kubeconfig K` installs the emulated Harvester
(CRDs, RBAC, webhooks, simulator, seed) onto a control plane started bare (`cluster up --bare`),
and the suite runs against it as against `cluster up`'s; what it cannot install onto is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import manage

from .conftest import run_cli, run_suite


def _emulate(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("emulate", "--kubeconfig", str(kubeconfig), *args, timeout=600)


def test_emulate_installs_onto_a_bare_control_plane_and_the_suite_runs(tmp_path: Path) -> None:
    name = f"pytest-{os.getpid()}-bare"
    st, _ = manage.up(name=name, bare=True)
    try:
        cl = Cluster.from_kubeconfig(str(st.kubeconfig))
        try:
            assert cl.get(R.CRDS, "settings.harvesterhci.io") is None and cl.list(R.NODES) == []
        finally:
            cl.close()
        # A cluster this project did not start is refused, before anything is written to it.
        foreign = yaml.safe_load(st.kubeconfig.read_text())
        foreign["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
        (tmp_path / "foreign.kubeconfig").write_text(yaml.safe_dump(foreign))
        refused = _emulate(tmp_path / "foreign.kubeconfig")
        assert refused.returncode == 2 and "not a control plane this project started" in refused.stderr, refused
        done = _emulate(st.kubeconfig, "--profile", "v1.5.0")
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert manage.status(name)["profile"] == "v1.5.0"
        again = _emulate(st.kubeconfig, "--profile", "v1.5.0")
        assert again.returncode == 2 and "already runs the emulated Harvester v1.5.0" in again.stderr, again
        run = run_suite(tmp_path, st.kubeconfig, "--profile", "quick")
        statuses = {r["id"]: r["status"] for r in run.summary["invariants"]}
        assert run.code == 0 and statuses and set(statuses.values()) <= {"passed", "skipped"}, statuses
    finally:
        assert manage.down(name) == []
        shutil.rmtree(st.dir, ignore_errors=True)
