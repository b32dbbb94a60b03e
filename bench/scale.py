"""Issue 15's benchmark: the `scale` profile at the sizes given, and the suite against it, in one run.

For each size (`--vms 500,2000` runs both, on clusters of `--nodes` nodes, one after the other):
- `cluster up` to Ready, the running cluster's memory (RSS of its processes), the simulator's CPU
  while the cluster idles;
- the floor: one paginated list of every resource type the `default` profile's checks declare;
- the `default` profile with `-n 0` and `-n 2`: wall time, CPU time (the run's processes, waited
  for), peak memory (the run's process tree, sampled), and its API requests per verb and type as
  the client counted them (api-requests.json), beside the apiserver's own request counters over
  the same time (background requests of the cluster's controllers included: it is a cross-check);
- with two sizes, the ratio of the default run's wall time between them.

Prints one table per size and writes every figure, the sizes and the commit to
`reports/bench/<UTC time>.json`. Measured on this machine, not asserted: the targets are printed
beside the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from processes import cpu_seconds, rss_mib

from harvester_conformance import rbac
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.cluster.reads import union
from harvester_conformance.emulator import build, lifecycle, manage

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {
    "up_s": 180,
    "cluster_rss_mib": 3 * 1024,
    "simulator_idle_pct": 10,
    "default_s": 120,
    "default_floor_ratio": 2.0,
    "suite_peak_mib": 1024,
    "lists_per_type": 2,
}


# -- processes ------------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def _tree(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += tree.get(p, [])
    return out


# -- the apiserver's own counters -----------------------------------------------------------------


def request_counters(cl: Cluster) -> Counter:
    """apiserver_request_total by (verb, resource): what the apiserver served, whoever asked."""
    out: Counter = Counter()
    for line in cl.request("GET", "/metrics", text=True).splitlines():
        if line.startswith("apiserver_request_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            resource_ = labels.get("resource", "")
            if labels.get("group"):
                resource_ = f"{resource_}.{labels['group']}"
            out[(labels.get("verb", ""), resource_)] += float(line.rsplit(" ", 1)[1])
    return out


# -- measurements ---------------------------------------------------------------------------------


def floor_seconds(kubeconfig: Path) -> tuple[float, int]:
    """One paginated list of every type the default profile declares (the least the suite can do),
    at one resourceVersion as the snapshot reads them."""
    reads = union(rbac.select("default").reads)
    cl = Cluster.from_kubeconfig(str(kubeconfig))
    started, objects, at = time.monotonic(), 0, None
    try:
        for read in reads:
            if read.cluster == "harvester":
                try:
                    items, version = cl.list_at(read.res, read.namespace, at if read.res.stored else None)
                    objects += len(items)
                    at = at or (version if read.res.stored else None)
                except ApiError as exc:
                    if not exc.not_found:  # a type this release does not serve is listed as the snapshot does
                        raise
    finally:
        cl.close()
    return time.monotonic() - started, objects


def idle_cpu_pct(st: lifecycle.State, seconds: float) -> float:
    pid = st.pids["simulator"]
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / seconds


def suite_run(kubeconfig: Path, workers: str, reports: Path) -> dict:
    """The default profile once: wall, CPU and peak memory of its process tree, its requests."""
    run_id = f"bench-n{workers}"
    cmd = [
        sys.executable,
        "-m",
        "harvester_conformance.cli",
        "run",
        "--kubeconfig",
        str(kubeconfig),
        "--profile",
        "default",
        "-n",
        workers,
        "--reports-dir",
        str(reports),
        "--run-id",
        run_id,
    ]
    cl = Cluster.from_kubeconfig(str(kubeconfig))
    counters_before = request_counters(cl)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = [0.0]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], rss_mib(_tree(proc.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.monotonic() - started
    stop.set()
    sampler.join()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    served = request_counters(cl) - counters_before
    cl.close()
    summary = json.loads((reports / run_id / "summary.json").read_text())
    made = json.loads((reports / run_id / "api-requests.json").read_text()).get("harvester", {})
    lists = {k.split(" ", 1)[1]: n for k, n in made.items() if k.startswith("LIST ")}
    pages: Counter = Counter()  # every page of every list: what the apiserver's LIST counter sees
    for k, n in made.items():
        verb, _, res = k.partition(" ")
        if verb in ("LIST", "CONTINUE"):
            pages[res] += n
    gets = {k.split(" ", 1)[1]: n for k, n in made.items() if k.startswith("GET ") and not k.startswith("GET /")}
    # A kubelet's data (configz, stats/summary) has no list API: one read per node, through the proxy.
    kubelet = {k: n for k, n in gets.items() if k.startswith("nodes/proxy/")}
    gets = {k: n for k, n in gets.items() if k not in kubelet}
    return {
        "workers": workers,
        "exit_code": proc.returncode,
        "statuses": dict(Counter(r["status"] for r in summary["invariants"])),
        "wall_s": round(wall, 1),
        "cpu_s": round((cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime), 1),
        "peak_mib": round(peak[0]),
        "requests": sum(made.values()),
        "lists": lists,
        "max_lists_per_type": max(lists.values(), default=0),
        "list_pages": dict(pages),
        "gets_of_objects": gets,
        "kubelet_reads": kubelet,
        "apiserver_lists": {r: int(n) for (verb, r), n in served.items() if verb == "LIST" and n},
        "tail": out.strip().splitlines()[-3:],
    }


def measure(nodes: int, vms: int, idle_seconds: float) -> dict:
    name = f"bench-scale-{os.getpid()}"
    started = time.monotonic()
    st, _ = manage.up("scale", nodes=nodes, vms=vms, name=name, progress=lambda m: print(f"    {m}", flush=True))
    up = time.monotonic() - started
    try:
        figures: dict = {"nodes": nodes, "vms": vms, "up_s": round(up, 1)}
        figures["watch_cache"] = st.options.get("watch_cache", True)  # the floor's cost depends on it
        figures["cluster_rss_mib"] = round(rss_mib(lifecycle._group_members(st.pgid)))
        figures["simulator_idle_pct"] = round(idle_cpu_pct(st, idle_seconds), 1)
        floor, objects = floor_seconds(st.kubeconfig)
        figures["floor_s"], figures["floor_objects"] = round(floor, 1), objects
        with tempfile.TemporaryDirectory(prefix="hc-bench-") as tmp:
            figures["runs"] = [suite_run(st.kubeconfig, w, Path(tmp)) for w in ("0", "2")]
        return figures
    finally:
        manage.down(name)
        shutil.rmtree(st.dir, ignore_errors=True)


def table(f: dict) -> str:
    t = TARGETS
    rows = [
        (f"cluster up ({f['nodes']} nodes, {f['vms']} VMs)", f"{f['up_s']} s", f"< {t['up_s']} s"),
        ("running cluster memory", f"{f['cluster_rss_mib']} MiB", f"< {t['cluster_rss_mib']} MiB"),
        ("simulator idle CPU", f"{f['simulator_idle_pct']} % of a core", f"< {t['simulator_idle_pct']} %"),
        ("kube-apiserver's watch cache", "on" if f.get("watch_cache", True) else "off (lists served by etcd)", ""),
        ("floor: one list of each declared type", f"{f['floor_s']} s ({f['floor_objects']} objects)", ""),
    ]
    for r in f["runs"]:
        label = f"default profile, -n {r['workers']}"
        ratio = r["wall_s"] / f["floor_s"] if f["floor_s"] else float("inf")
        rows += [
            (f"{label}: wall", f"{r['wall_s']} s ({ratio:.1f}x the floor)", f"< {t['default_s']} s, <= 2x"),
            (f"{label}: CPU", f"{r['cpu_s']} s", ""),
            (f"{label}: peak memory", f"{r['peak_mib']} MiB", f"< {t['suite_peak_mib']} MiB"),
            (
                f"{label}: requests",
                f"{r['requests']}, at most {r['max_lists_per_type']} LIST per type "
                f"({sum(r['list_pages'].values())} pages), "
                f"{sum(r['gets_of_objects'].values())} GET of objects, "
                f"{sum(r['kubelet_reads'].values())} kubelet reads",
                f"<= {t['lists_per_type']} LIST per type, no GET per object",
            ),
            (f"{label}: outcome", f"exit {r['exit_code']} {r['statuses']}", ""),
        ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"  {a:<{width}}  {b:<48}  {c}" for a, b, c in rows)


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return done.stdout.strip() or "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--vms", default="2000", help="one size, or several comma-separated (500,2000)")
    ap.add_argument("--idle-seconds", type=float, default=30.0, help="how long the simulator's idle CPU is read")
    args = ap.parse_args()
    sizes = [int(v) for v in args.vms.split(",")]
    build.ensure_binaries()
    results = []
    for vms in sizes:
        print(f"scale profile, {args.nodes} nodes, {vms} VMs:", flush=True)
        results.append(measure(args.nodes, vms, args.idle_seconds))
        print(table(results[-1]), flush=True)
    doc = {"commit": commit(), "taken_at": dt.datetime.now(dt.UTC).isoformat(), "cores": os.cpu_count()}
    doc |= {"targets": TARGETS, "results": results}
    if len(results) > 1:
        small, large = results[0], results[-1]
        growth = (large["runs"][1]["wall_s"] / small["runs"][1]["wall_s"]) / (large["vms"] / small["vms"])
        doc["growth_vs_linear"] = round(growth, 2)
        print(f"default -n 2 wall time from {small['vms']} to {large['vms']} VMs: {growth:.2f}x linear (<= 1)")
    out = ROOT / "reports" / "bench" / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"figures: {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the cluster of the size being measured is stopped by measure's finally
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
