"""The cluster's apiserver going away in the middle of a run (issue 16, API faults): killed while a
run's active checks are writing, and restarted, the run still ends within its named timeouts, says
so without a traceback, reports what it could not evaluate as broken (never failed), and leaves
nothing that `cleanup` cannot take back. The simulator's informers resume their watches as
client-go's do (`tools/cache/reflector.go` Reflector.Run: ListAndWatch again under
wait.BackoffUntil after any error), so the cluster's controllers outlive the outage. On the
v1.2.1 cluster, whose tests run one after the other on one worker (its unit), so no other test
sees the outage."""

from __future__ import annotations

import json
import os
import signal

from harvester_conformance.changes import RUN_LABEL
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import controlplane, lifecycle, versions
from harvester_conformance.waits import wait_for

from . import restore_state as S

PROFILE = "v1.2.1"
# Active checks that write: the outage meets the first (load balancers) mid-write; the second
# (VMs started and placed) runs after the restart, on a cluster whose controllers must have resumed.
ACTIVE = ("IPP-07", "SCH-05")


def _restart_apiserver(st: lifecycle.State) -> None:
    """SIGKILL, as a crashed apiserver, then the same one started again (etcd keeps the state)."""
    os.kill(st.pids["kube-apiserver"], signal.SIGKILL)
    argv = controlplane.component_argv(versions.bin_dir(), st.dir, st.ports)["kube-apiserver"]
    lifecycle.restart_component(st, "kube-apiserver", argv)


def test_v121_apiserver_killed_mid_run_is_retried_or_broken(emulated, tmp_path) -> None:
    c = emulated(PROFILE)
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    run_id = "apiserver-restart"
    log = tmp_path / "run.log"
    code = S.stop_when_changed(
        c.kubeconfig,
        ["--profile", "full", "--allow-disruptive", *(a for inv in ACTIVE for a in ("--id", inv))],
        run_id,
        log,
        lambda: bool(cl.list(R.NAMESPACES, label_selector=f"{RUN_LABEL}={run_id}")),
        "namespace-created",
        None,
        group=False,
        exit_within=600,
        disturb=lambda: _restart_apiserver(c.state),
    )
    out = log.read_text()
    assert code in (0, 3) and "Traceback" not in out, out[-3000:]
    summary = json.loads((tmp_path / run_id / "summary.json").read_text())
    statuses = {r["id"]: r["status"] for r in summary["invariants"]}
    assert set(statuses.values()) <= {"passed", "broken"}, statuses
    assert set(statuses) == set(ACTIVE), statuses
    # An undo that met the outage is reported apart; `cleanup` takes back whatever it left.
    done = S.cleanup(c.kubeconfig, run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for("namespace-deleted", lambda: not S.leftovers(cl), describe=lambda: S.leftovers(cl))
    cl.close()
