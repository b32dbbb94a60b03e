"""`harvester-conformance run`: the suite through pytest, on the given cluster or on an
emulated one started (and stopped) for the run."""

from __future__ import annotations

import argparse
import os
import sys

import pytest

PASS_THROUGH = (
    "context",
    "profile",
    "run_id",
    "reports_dir",
    "rancher_kubeconfig",
    "guest_kubeconfig",
    "node_probe",
    "timeout_scale",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", help="the cluster to check; without it an emulated cluster is used")
    p.add_argument("--context")
    p.add_argument("--profile", default="default", help="test selection (see --list-profiles)")
    p.add_argument("--allow-disruptive", action="store_true")
    p.add_argument("--strict", action="store_true", help="advisory warnings fail")
    p.add_argument("--run-id")
    p.add_argument("--reports-dir", default="reports")
    p.add_argument("--rancher-kubeconfig")
    p.add_argument("--guest-kubeconfig")
    p.add_argument("--node-probe", choices=("pod", "ssh", "simulated"))
    p.add_argument("--timeout-scale", type=float)
    p.add_argument("--id", action="append", default=[], dest="ids", metavar="ID")
    p.add_argument("--list-profiles", action="store_true")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("-n", "--workers", default="0", help="pytest-xdist workers (number or 'auto')")
    p.add_argument("--cluster-profile", default="v1.3.1", help="seed profile of the emulated cluster")
    p.add_argument("--keep-cluster", action="store_true", help="leave the emulated cluster running")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")


def pytest_argv(args: argparse.Namespace, kubeconfig: str | None) -> list[str]:
    from harvester_conformance.catalogue.traceability import conformance_root

    argv = [str(conformance_root()), "-p", "no:cacheprovider", "-q", "-rN"]
    if kubeconfig:
        argv += ["--kubeconfig", kubeconfig]
    for name in PASS_THROUGH:
        value = getattr(args, name)
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    for flag in ("allow_disruptive", "strict", "list_profiles", "dry_run"):
        if getattr(args, flag):
            argv.append(f"--{flag.replace('_', '-')}")
    for inv in args.ids:
        argv += ["--id", inv]
    if args.workers not in ("0", 0):
        argv += ["-n", str(args.workers), "--dist", "loadgroup"]
    return argv + list(args.pytest_args)


def run(args: argparse.Namespace) -> int:
    kubeconfig = args.kubeconfig or os.environ.get("KUBECONFIG")
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if kubeconfig or in_cluster or args.list_profiles or args.dry_run:
        return int(pytest.main(pytest_argv(args, kubeconfig)))
    from harvester_conformance.emulator import manage

    print("[run] no kubeconfig given: using the emulated cluster", file=sys.stderr, flush=True)
    st, started = manage.up(args.cluster_profile)
    try:
        return int(pytest.main(pytest_argv(args, str(st.kubeconfig))))
    finally:
        if started and not args.keep_cluster:
            left = manage.down(st.name)
            print(
                "[run] emulated cluster stopped" + (f"; could not stop {left}" if left else ""),
                file=sys.stderr,
                flush=True,
            )
        elif started:
            print(f"[run] emulated cluster left running; kubeconfig: {st.kubeconfig}", file=sys.stderr)
