"""`harvester-conformance run`: the suite through pytest, on the given cluster or on an
emulated one started (and stopped) for the run."""

from __future__ import annotations

import argparse
import os
import sys

import pytest

from harvester_conformance.probes.options import ProbeOptions, add_options

PASS_THROUGH = (
    "context",
    "profile",
    "run_id",
    "reports_dir",
    "rancher_kubeconfig",
    "guest_kubeconfig",
    "timeout_scale",
    "max_snapshots_per_volume",
    "credential_margin_hours",
    "rke2_cert_margin_days",
    "vendor_storage_class",
    "signing_key",
    "rerun_failed",
    "baseline",
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
    p.add_argument("--timeout-scale", type=float)
    p.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop after this long as for Ctrl-C: undo what the run changed, keep the results it has",
    )
    p.add_argument("--max-snapshots-per-volume", type=int, metavar="N", help="LHP-05's bound (default 100)")
    p.add_argument("--credential-margin-hours", type=float, metavar="H", help="CCR-01/03 (default 168)")
    p.add_argument("--rke2-cert-margin-days", type=float, metavar="D", help="SEC-04 (default 30)")
    p.add_argument("--vendor-storage-class", metavar="NAME", help="CSI-04's StorageClass (skipped without it)")
    p.add_argument(
        "--signing-key",
        metavar="FILE",
        help="certification: sign the evidence bundle (Ed25519 PEM; passphrase in $HC_SIGNING_KEY_PASSPHRASE)",
    )
    p.add_argument(
        "--rerun-failed",
        metavar="RUN_DIR",
        help="run only what failed or broke in that earlier run; what passes now is reported flaky",
    )
    p.add_argument(
        "--baseline",
        metavar="FILE",
        help="the state `snapshot` recorded before the upgrade: IPP-06, NIC-02 and UPG-08 compare against it",
    )
    p.add_argument("--id", action="append", default=[], dest="ids", metavar="ID")
    p.add_argument("--list-profiles", action="store_true")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("-n", "--workers", default="0", help="pytest-xdist workers (number or 'auto')")
    p.add_argument("--cluster-profile", default="v1.3.1", help="seed profile of the emulated cluster")
    p.add_argument("--keep-cluster", action="store_true", help="leave the emulated cluster running")
    probe_options = ProbeOptions(p)
    add_options(probe_options)
    p.set_defaults(probe_argv=probe_options.argv)
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
    if args.timeout is not None:
        argv += ["--run-timeout", str(args.timeout)]
    for flag in ("allow_disruptive", "strict", "list_profiles", "dry_run"):
        if getattr(args, flag):
            argv.append(f"--{flag.replace('_', '-')}")
    for inv in args.ids:
        argv += ["--id", inv]
    argv += args.probe_argv(args)
    if args.workers not in ("0", 0):
        argv += ["-n", str(args.workers)]  # units: the plugin's scheduler (disruptive checks on one worker)
    return argv + list(args.pytest_args)


def run(args: argparse.Namespace) -> int:
    kubeconfig = args.kubeconfig or os.environ.get("KUBECONFIG")
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if kubeconfig or in_cluster or args.list_profiles or args.dry_run:
        return int(pytest.main(pytest_argv(args, kubeconfig)))
    from harvester_conformance.emulator import manage

    print("[run] no kubeconfig given: using the emulated cluster", file=sys.stderr, flush=True)
    st, started = manage.up(args.cluster_profile)
    # Its apiserver also plays the Rancher and guest clusters, and its hosts are simulated files.
    for role in ("rancher_kubeconfig", "guest_kubeconfig"):
        if getattr(args, role) is None:
            setattr(args, role, str(st.kubeconfig))
    if args.node_probe is None:
        args.node_probe = "simulated"
        args.hosts_dir = str(st.dir / "hosts")
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
