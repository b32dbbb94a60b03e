"""`harvester-conformance snapshot FILE` and `diff BEFORE AFTER`: the state an upgrade must
preserve, recorded before it, and every regression after it (exit 1), with the changes the
target release makes on purpose shown as expected."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from harvester_conformance import exitcodes
from harvester_conformance.probes.options import ProbeOptions, add_options


def _err(msg: str) -> None:
    print(f"harvester-conformance: {msg}", file=sys.stderr, flush=True)


def _probe_factory(args: argparse.Namespace, kubeconfig: str | None):  # noqa: ANN202
    """(factory, pod?) for the node probe, or (None, False): hosts are probed only on the emulated
    cluster (nothing is created) or when --node-probe is given (a pod probe creates a namespace)."""
    from harvester_conformance.context import new_run_id
    from harvester_conformance.probes import make_probe, settings_from

    values = {**vars(args), "kubeconfig": kubeconfig}
    settings = settings_from(lambda name: values.get(name))
    if args.node_probe is None and settings.backend != "simulated":
        return None, False, ""
    run_id = new_run_id()

    def factory(cluster, namespace):  # noqa: ANN001, ANN202
        return make_probe(settings, cluster=cluster, namespace=namespace, run_id=run_id)

    return factory, settings.backend == "pod", run_id


def _snapshot(args: argparse.Namespace) -> int:
    from harvester_conformance import upgrade_state
    from harvester_conformance.cluster.client import Cluster, ClusterUnreachable, ConfigError, resolve_kubeconfig
    from harvester_conformance.context import new_run_id

    try:
        kubeconfig = resolve_kubeconfig(args.kubeconfig)
        cluster = Cluster.from_kubeconfig(kubeconfig, args.context)
        factory, pod, run_id = _probe_factory(args, kubeconfig)
    except (ConfigError, ValueError) as exc:
        _err(str(exc))
        return exitcodes.USAGE
    live = sys.stderr.isatty()

    def progress(msg: str) -> None:
        if live:
            sys.stderr.write(f"\r[hc] snapshot: {msg}\x1b[K")

    try:
        doc, hosts, failed = upgrade_state.take(cluster, factory, pod, run_id or new_run_id(), progress)
    except ClusterUnreachable as exc:
        _err(f"the cluster is unreachable: {exc}")
        return exitcodes.CANNOT_RUN
    finally:
        cluster.close()
        if live:
            sys.stderr.write("\n")
    try:
        upgrade_state.write(doc, args.file)
    except OSError as exc:
        _err(f"cannot write {args.file}: {exc.strerror or exc}")
        return exitcodes.USAGE
    print(
        f"state of Harvester {doc['versions'].get('harvester') or 'unknown'} written to {args.file}: "
        f"{len(doc['vms'])} VM(s), {len(doc['load_balancers'])} load balancer(s), {len(doc['ip_pools'])} IP pool(s), "
        f"{len(doc['settings'])} setting(s), {len(doc['networks'])} network object(s) naming NICs; {hosts}"
    )
    if doc["host_nics"] is None:
        print("NIC presence on the hosts not recorded: pass --node-probe pod|ssh to record it for NIC-02")
    for line in failed:
        _err(f"cleanup failed: {line}")
    return exitcodes.CANNOT_RUN if failed else exitcodes.CONFORMS


def _diff(args: argparse.Namespace) -> int:
    from harvester_conformance import upgrade_state
    from harvester_conformance.checks import upgrade_regression as ur

    try:
        before, after = upgrade_state.read_baseline(args.before), upgrade_state.read_baseline(args.after)
    except upgrade_state.BadBaseline as exc:
        _err(str(exc))
        return exitcodes.USAGE
    changes = ur.diff(before, after)
    bad = [c for c in changes if not c.expected]
    if args.format == "json":
        rows = [dataclasses.asdict(c) for c in changes]
        print(json.dumps({"regressions": len(bad), "changes": rows}, indent=2))
    else:
        versions = f"Harvester {before['versions'].get('harvester')} -> {after['versions'].get('harvester')}"
        print(f"{versions}: {len(bad)} regression(s), {len(changes) - len(bad)} expected change(s)")
        for c in changes:
            print(f"  {'expected  ' if c.expected else 'REGRESSION'} {c.invariant}  {c.object}: {c.message}")
    return exitcodes.VIOLATION if bad else exitcodes.CONFORMS


def add_parsers(sub: argparse._SubParsersAction) -> None:
    snap = sub.add_parser("snapshot", help="record the state an upgrade must preserve (before it)")
    snap.add_argument("file", help="where the state document goes (JSON, owner-only)")
    snap.add_argument("--kubeconfig", help="the cluster (default: $KUBECONFIG)")
    snap.add_argument("--context")
    add_options(ProbeOptions(snap))
    snap.set_defaults(func=_snapshot)
    diff = sub.add_parser("diff", help="regressions from one state to another (exit 1 when any)")
    diff.add_argument("before", help="the state recorded before the upgrade")
    diff.add_argument("after", help="the state recorded after it")
    diff.add_argument("--format", choices=("text", "json"), default="text")
    diff.set_defaults(func=_diff)
