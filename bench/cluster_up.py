"""Benchmark of the emulated cluster: warm `cluster up` time to Ready, resident memory of the
running cluster, and (with --cold) the cold build of the control plane into an empty cache.

Right after `up` says ready, one list call per type checks that what it seeded had settled:
Longhorn volumes by state and robustness, VMIs by phase, VMs by readiness, PVCs by phase.

Prints its figures; measured on this machine, not asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from processes import rss_mib

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import build, lifecycle, manage

TARGET_UP_SECONDS = 90


def cold_build() -> float:
    """Build into empty module, build and binary caches (takes minutes; network to the Go proxy)."""
    with tempfile.TemporaryDirectory(prefix="hc-cold-") as tmp:
        env = {**os.environ, "HC_CACHE_DIR": f"{tmp}/cache", "GOMODCACHE": f"{tmp}/mod", "GOCACHE": f"{tmp}/gocache"}
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", "from harvester_conformance.emulator import build; build.ensure_binaries()"],
            env=env,
            check=True,
        )
        elapsed = time.monotonic() - started
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)  # module cache files are read-only
        return elapsed


def settled(kubeconfig: Path) -> dict[str, Counter]:
    """What the seed left, one list call per type, read at once after `up` returned."""
    cl = Cluster.from_kubeconfig(str(kubeconfig))
    try:
        volumes = cl.list(R.LONGHORN_VOLUMES, "longhorn-system")
        vmis, vms, pvcs = cl.list(R.VMIS), cl.list(R.VMS), cl.list(R.PVCS)
    finally:
        cl.close()
    return {
        "volumes (state/robustness)": Counter(
            f"{(v.get('status') or {}).get('state')}/{(v.get('status') or {}).get('robustness')}" for v in volumes
        ),
        "VMIs (phase)": Counter(str((v.get("status") or {}).get("phase")) for v in vmis),
        "VMs (ready)": Counter(str((v.get("status") or {}).get("ready")) for v in vms),
        "PVCs (phase)": Counter(str((p.get("status") or {}).get("phase")) for p in pvcs),
    }


def unsettled(counts: dict[str, Counter]) -> int:
    """Objects not in their settled state: volumes not attached/healthy, VMIs not Running, VMs not ready."""
    want = {
        "volumes (state/robustness)": "attached/healthy",
        "VMIs (phase)": "Running",
        "VMs (ready)": "True",
        "PVCs (phase)": "Bound",
    }
    return sum(n for kind, c in counts.items() for value, n in c.items() if value != want[kind])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", default="v1.3.1")
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--vms", type=int)
    ap.add_argument("--verbose", action="store_true", help="print `up`'s progress with elapsed seconds")
    ap.add_argument("--cold", action="store_true", help="also time a cold control-plane build")
    args = ap.parse_args()
    if args.cold:
        print(f"cold build (empty Go module/build caches): {cold_build():.0f} s", flush=True)
    build.ensure_binaries()
    ups, mems = [], []
    name = f"bench-{os.getpid()}"
    for i in range(args.repeat):
        started = time.monotonic()

        def progress(msg: str, started: float = started) -> None:
            if args.verbose:
                print(f"  [{time.monotonic() - started:6.1f}s] {msg}", flush=True)

        st, _ = manage.up(args.profile, nodes=args.nodes, vms=args.vms, name=name, progress=progress)
        ups.append(time.monotonic() - started)
        counts = settled(st.kubeconfig)
        for kind, c in counts.items():
            print(f"  {kind}: {dict(sorted(c.items()))}", flush=True)
        print(f"  not settled when `up` said ready: {unsettled(counts)}", flush=True)
        pids = [p for p in lifecycle._group_members(st.pgid)]
        mems.append(rss_mib(pids))
        manage.down(name)
        shutil.rmtree(st.dir, ignore_errors=True)
        print(
            f"run {i + 1}: up to Ready {ups[-1]:.1f} s, cluster RSS {mems[-1]:.0f} MiB ({len(pids)} processes)",
            flush=True,
        )
    print(
        f"warm cluster up ({args.profile}, {os.cpu_count()} cores): median {statistics.median(ups):.1f} s, "
        f"max {max(ups):.1f} s (target < {TARGET_UP_SECONDS} s)"
    )
    print(f"memory of the running cluster: median {statistics.median(mems):.0f} MiB RSS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
