"""`cluster up|down|status`: the emulated cluster as one unit, for the CLI and the tests."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import build, lifecycle, seed
from harvester_conformance.emulator.areas import AREAS
from harvester_conformance.emulator.profiles import PROFILES, UnknownProfile

DEFAULT_NAME = "default"
Progress = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


def up(
    profile: str = "v1.3.1",
    nodes: int | None = None,
    vms: int | None = None,
    name: str = DEFAULT_NAME,
    progress: Progress = _stderr,
) -> tuple[lifecycle.State, bool]:
    """Start a cluster; returns (state, started). An already running one is reported, not doubled."""
    if profile not in PROFILES:
        raise UnknownProfile(profile)
    st = lifecycle.State.load(name)
    if lifecycle.running(st):
        progress(f"cluster {name!r} is already running (profile {st.profile}); kubeconfig: {st.kubeconfig}")
        return st, False
    if st.pids:  # stale state from a crashed run: clear it before starting anew
        lifecycle.stop(st)
    spec = PROFILES[profile].with_size(nodes=nodes, vms=vms)
    bin_dir = build.ensure_binaries(progress)
    st = lifecycle.State(name=name, dir=st.dir, profile=profile, options={"nodes": spec.nodes, "vms": spec.vms})
    st.dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        lifecycle.start_processes(st, bin_dir, progress)
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
    except BaseException:
        if os.environ.get("HC_KEEP_ON_FAILURE"):
            progress(f"start-up failed; left running for inspection (HC_KEEP_ON_FAILURE): {st.dir}")
        else:
            progress("start-up failed; stopping what was started")
            lifecycle.stop(st)
        raise
    progress(f"ready in {time.monotonic() - started:.1f}s; kubeconfig: {st.kubeconfig}")
    return st, True


def down(name: str = DEFAULT_NAME) -> list[str]:
    st = lifecycle.State.load(name)
    return lifecycle.stop(st)


def status(name: str = DEFAULT_NAME) -> dict[str, Any]:
    return lifecycle.status(lifecycle.State.load(name))


def kubeconfig(name: str = DEFAULT_NAME) -> Path | None:
    st = lifecycle.State.load(name)
    return st.kubeconfig if lifecycle.running(st) else None
