"""The cluster's apiserver misbehaving in the middle of a run (issue 16, API faults). Killed while a
run's active checks are writing, and restarted, the run still ends within its named timeouts, says
so without a traceback, reports what it could not evaluate as broken (never failed), and leaves
nothing that `cleanup` cannot take back. Throttled (429 with Retry-After, as API Priority and
Fairness answers) and slow past the call's timeout, behind `tests/api_proxy.py`, the run asks again
and reaches the verdicts of a healthy cluster. The simulator's informers resume their watches as
client-go's do (`tools/cache/reflector.go` Reflector.Run: ListAndWatch again under
wait.BackoffUntil after any error), so the cluster's controllers outlive the outage. On the
v1.2.1 cluster, whose tests run one after the other on one worker (its unit), so no other test
sees the outage."""

from __future__ import annotations

import json
import os
import signal
import time

from harvester_conformance.changes import RUN_LABEL
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import lifecycle, versions
from harvester_conformance.waits import wait_for

from . import restore_state as S
from .api_proxy import ApiProxy
from .conftest import run_suite

PROFILE = "v1.2.1"
# Active checks that write: the outage meets the first (load balancers) mid-write; the second
# (VMs started and placed) runs after the restart, on a cluster whose controllers must have resumed.
ACTIVE = ("IPP-07", "SCH-05")


def _restart_apiserver(st: lifecycle.State) -> None:
    """SIGKILL, as a crashed apiserver, then the same one started again (etcd keeps the state)."""
    os.kill(st.pids["kube-apiserver"], signal.SIGKILL)
    argv = lifecycle.component_argv(st, versions.bin_dir())["kube-apiserver"]
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


# Every 4th request throttled once (Retry-After 1 s), every 9th answered after 8 s, past the 3 s a
# call may take here: about 20 and 5 of the default profile's ~70 reads.
THROTTLE_EVERY, RETRY_AFTER, SLOW_EVERY, SLOW_SECONDS, CALL_TIMEOUT = 4, 1, 9, 8.0, 3.0


def test_v121_throttled_and_slow_answers_are_retried_within_the_bound(emulated, tmp_path) -> None:
    c = emulated(PROFILE)
    (tmp_path / "proxy").mkdir()
    proxy = ApiProxy(
        c.kubeconfig,
        tmp_path / "proxy",
        throttle_every=THROTTLE_EVERY,
        retry_after=RETRY_AFTER,
        slow_every=SLOW_EVERY,
        slow_seconds=SLOW_SECONDS,
    )
    hosts = ["--node-probe", "simulated", "--hosts-dir", str(c.kubeconfig.parent / "hosts")]
    started = time.monotonic()
    try:
        env = {"HC_REQUEST_TIMEOUT": str(CALL_TIMEOUT)}
        res = run_suite(tmp_path, proxy.kubeconfig(), "--profile", "default", *hosts, env=env, timeout=600)
    finally:
        proxy.close()
    elapsed = time.monotonic() - started
    out = res.stdout + res.stderr
    assert res.code == 0 and "Traceback" not in out and "INTERNALERROR" not in out, out[-3000:]
    assert {r["status"] for r in res.summary["invariants"]} <= {"passed", "skipped"}, res.summary["invariants"]
    # Every injected fault met its request once, and that request was asked again ...
    assert proxy.throttled and proxy.slowed
    assert set(proxy.throttled) | set(proxy.slowed) <= proxy.asked_again
    # ... after the Retry-After the server gave (the client's own backoff starts at 0.2 s) ...
    assert min(proxy.gaps["throttle"]) >= RETRY_AFTER - 0.05, proxy.gaps
    # ... and a slow answer was given up at the call's timeout, not waited out.
    assert all(CALL_TIMEOUT - 0.5 <= g < SLOW_SECONDS for g in proxy.gaps["slow"]), proxy.gaps
    assert elapsed < 300, elapsed
