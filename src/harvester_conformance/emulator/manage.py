"""`cluster up|down|status`: the emulated cluster as one unit, for the CLI and the tests."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import build, lifecycle, seed
from harvester_conformance.emulator.areas import AREAS
from harvester_conformance.emulator.profiles import PROFILES, UnknownProfile
from harvester_conformance.emulator.simulator import diagnosis
from harvester_conformance.waits import WaitTimeout, wait_for

DEFAULT_NAME = "default"
Progress = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


BARE = "bare"  # the profile of a control plane started without the emulated Harvester


class NotEmulatable(ValueError):
    """`emulate` was pointed at a cluster it cannot install onto (exit code 2)."""


def up(
    profile: str = "v1.3.1",
    nodes: int | None = None,
    vms: int | None = None,
    name: str = DEFAULT_NAME,
    progress: Progress = _stderr,
    bare: bool = False,
) -> tuple[lifecycle.State, bool]:
    """Start a cluster; returns (state, started). An already running one is reported, not doubled.
    `bare`: the control plane and kwok only, for `emulate` to install the emulated Harvester onto."""
    if profile not in PROFILES:
        raise UnknownProfile(profile)
    st = lifecycle.State.load(name)
    if lifecycle.half_started(st):
        progress(f"cluster {name!r} was left half-started by a start-up that was killed; starting it anew")
    elif lifecycle.running(st):
        how = "already running" if st.ready else f"still being started (by pid {st.starter})"
        progress(f"cluster {name!r} is {how} (profile {st.profile}); kubeconfig: {st.kubeconfig}")
        return st, False
    if st.pids:  # stale state from a crashed run: clear it before starting anew
        lifecycle.stop(st)
    spec = PROFILES[profile].with_size(nodes=nodes, vms=vms)
    bin_dir = build.ensure_binaries(progress)
    st = lifecycle.State(name=name, dir=st.dir, profile=BARE if bare else profile, starter=os.getpid())
    st.options = {"watch_cache": spec.watch_cache}
    st.dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        lifecycle.start_processes(st, bin_dir, progress)
        if not bare:
            _install(st, spec, progress)
    except BaseException as exc:
        _failed(st, progress, exc)
        raise
    st.ready = True
    st.save()
    what = "bare control plane" if bare else "ready"
    progress(f"{what} in {time.monotonic() - started:.1f}s; kubeconfig: {st.kubeconfig}")
    return st, True


def emulate(
    kubeconfig: str,
    profile: str = "v1.3.1",
    nodes: int | None = None,
    vms: int | None = None,
    progress: Progress = _stderr,
) -> lifecycle.State:
    """Install the emulated Harvester of `profile` (CRDs, RBAC, webhooks, simulator, seed) onto the
    running control plane `kubeconfig` names. That control plane must be one this project started
    bare: the simulator answers for the nodes' kubelets and serves aggregated APIs through the
    apiserver's own configuration (its kubelet proxy, CA and front-proxy CA), which only such a
    control plane has. Returns the cluster's state (`cluster down --name` stops it whole)."""
    if profile not in PROFILES:
        raise UnknownProfile(profile)
    cl = Cluster.from_kubeconfig(kubeconfig)
    server = cl.host
    cl.close()
    try:
        st = lifecycle.State.serving(server)
    except RuntimeError:
        raise NotEmulatable(
            f"{server} is not a control plane this project started: `emulate` installs onto the one "
            "`harvester-conformance cluster up --bare` starts (the simulator needs that apiserver's kubelet "
            "proxy, CA and front-proxy CA; other clusters, kind included, are not supported yet)"
        ) from None
    if not lifecycle.running(st):
        raise NotEmulatable(f"the control plane at {server} (cluster {st.name!r}) is not running")
    if st.profile != BARE:
        raise NotEmulatable(f"cluster {st.name!r} at {server} already runs the emulated Harvester {st.profile}")
    spec = PROFILES[profile].with_size(nodes=nodes, vms=vms)
    st.profile, st.starter, st.ready = profile, os.getpid(), False
    st.save()
    started = time.monotonic()
    try:
        _install(st, spec, progress)
    except BaseException as exc:
        _failed(st, progress, exc)
        raise
    st.ready = True
    st.save()
    progress(f"emulated Harvester {profile} ready in {time.monotonic() - started:.1f}s on {server}")
    return st


def _install(st: lifecycle.State, spec, progress: Progress) -> None:  # noqa: ANN001 - a ProfileSpec
    """The emulated Harvester onto the running control plane of `st`."""
    st.options |= {"nodes": spec.nodes, "vms": spec.vms}
    st.save()
    cl = Cluster.from_kubeconfig(str(st.kubeconfig))
    try:
        seed.prepare(cl, st, progress)  # CRDs, RBAC, webhook registrations
        lifecycle.start_simulator(st, progress)
        seed.register_webhooks(cl, st, AREAS)
        seed.populate(cl, spec, progress)  # the profile's core objects
        seed.populate_areas(cl, spec, st, AREAS, progress)  # KubeVirt workloads, Longhorn, hosts
        seed.await_ready(cl, spec, AREAS, progress)
    finally:
        cl.close()


LOG_TAIL = 30  # distinct lines of the simulator's log shown when a start-up fails
_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def simulator_log_tail(st: lifecycle.State, lines: int = LOG_TAIL) -> list[str]:
    """The last distinct lines this start-up's simulator logged (controllers' failures and what
    they waited on), the interpreter's deprecation warnings left out: a start-up that fails in CI,
    where the cluster's directory is gone afterwards, then says what its controllers saw. A line
    repeated (one controller failing on every tick) is shown once, at its last time, with its
    count: repeated, it would push every other controller's lines out of the tail."""
    try:
        text = st.log("simulator").read_text(errors="replace").splitlines()
    except OSError:
        return []
    start = max((i for i, line in enumerate(text) if " simulator running: " in line), default=0)
    mine = [line[:300] for line in text[start + 1 :] if line[:4].isdigit() and "DeprecationWarning" not in line]
    counts: dict[str, int] = {}
    last: dict[str, str] = {}
    for line in mine:
        message = _STAMP.sub("", line)
        counts[message] = counts.get(message, 0) + 1
        last.pop(message, None)  # re-inserted: the dict keeps the order of last occurrences
        last[message] = line
    shown = list(last.items())[-lines:]
    return [line if counts[m] == 1 else f"{line} (x{counts[m]})" for m, line in shown]


def simulator_diagnosis(st: lifecycle.State) -> list[str]:
    """What the running simulator says it is doing (simulator/diagnosis.py): asked by SIGUSR1,
    written to a file beside its log. Nothing when it is not running or does not answer."""
    pid = st.pids.get("simulator")
    if not pid or not lifecycle.pid_alive(pid):
        return []
    path = st.log("simulator").parent / diagnosis.REPORT
    try:
        path.unlink(missing_ok=True)  # an earlier start-up's
        os.kill(pid, signal.SIGUSR1)
        wait_for("simulator-diagnosed", path.exists)
        return path.read_text(errors="replace").splitlines()
    except (OSError, WaitTimeout):
        return []


def _failed(st: lifecycle.State, progress: Progress, exc: BaseException) -> None:
    if isinstance(exc, Exception):  # none of this for Ctrl-C or SIGTERM
        report = simulator_diagnosis(st)
        if report:
            progress("what the simulator says it is doing:")
            for line in report:
                progress(f"  {line}")
        tail = simulator_log_tail(st)
        if tail:
            progress(f"the simulator's last {len(tail)} distinct log lines ({st.log('simulator')}):")
            for line in tail:
                progress(f"  {line}")
    if os.environ.get("HC_KEEP_ON_FAILURE"):
        progress(f"start-up failed; left running for inspection (HC_KEEP_ON_FAILURE): {st.dir}")
    else:
        progress("start-up failed; stopping what was started")
        lifecycle.stop(st)


def down(name: str = DEFAULT_NAME) -> list[str]:
    st = lifecycle.State.load(name)
    return lifecycle.stop(st)


def status(name: str = DEFAULT_NAME) -> dict[str, Any]:
    return lifecycle.status(lifecycle.State.load(name))


def kubeconfig(name: str = DEFAULT_NAME) -> Path | None:
    st = lifecycle.State.load(name)
    return st.kubeconfig if lifecycle.running(st) else None
