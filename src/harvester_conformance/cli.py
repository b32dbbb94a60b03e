"""`harvester-conformance`: run the suite, list the catalogue, manage the emulated cluster."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence

from harvester_conformance import exitcodes


def _err(msg: str) -> None:
    print(f"harvester-conformance: {msg}", file=sys.stderr, flush=True)


def _cluster_up(args: argparse.Namespace) -> int:
    from harvester_conformance.emulator import manage

    st, _ = manage.up(args.profile, nodes=args.nodes, vms=args.vms, name=args.name, bare=args.bare)
    print(st.kubeconfig)
    return exitcodes.CONFORMS


def _emulate(args: argparse.Namespace) -> int:
    """The emulated Harvester installed onto a running control plane (`cluster up --bare`'s)."""
    from harvester_conformance.cluster.client import ConfigError, resolve_kubeconfig
    from harvester_conformance.emulator import manage

    try:
        kubeconfig = resolve_kubeconfig(args.kubeconfig)
        if kubeconfig is None:
            raise ConfigError("emulate needs a kubeconfig (--kubeconfig), not in-cluster configuration")
        st = manage.emulate(kubeconfig, args.profile, nodes=args.nodes, vms=args.vms)
    except (ConfigError, manage.NotEmulatable) as exc:
        _err(str(exc))
        return exitcodes.USAGE
    print(f"emulated Harvester {st.profile} on cluster {st.name!r}; hosts: {st.dir / 'hosts'}")
    return exitcodes.CONFORMS


def _cluster_down(args: argparse.Namespace) -> int:
    from harvester_conformance.emulator import manage

    left = manage.down(args.name)
    if left:
        _err(f"could not stop: {', '.join(left)}")
        return exitcodes.CANNOT_RUN
    print(f"cluster {args.name!r} is down")
    return exitcodes.CONFORMS


def _cluster_status(args: argparse.Namespace) -> int:
    from harvester_conformance.emulator import manage

    st = manage.status(args.name)
    if args.format == "json":
        print(json.dumps(st, indent=2))
    else:
        print(f"cluster {st['name']}: {st['state']} (profile {st['profile']})")
        if st["kubeconfig"]:
            print(f"kubeconfig: {st['kubeconfig']}")
        for comp, c in st["components"].items():
            mark = "healthy" if c["healthy"] else ("running, unhealthy" if c["alive"] else "not running")
            print(f"  {comp:<24} {mark:<20} log: {c['log']}")
    return exitcodes.CONFORMS if st["state"] == "running" else exitcodes.CANNOT_RUN


def _cluster_fault(args: argparse.Namespace) -> int:
    from harvester_conformance.emulator import areas as faults
    from harvester_conformance.emulator import manage

    if args.id not in faults.all_faults():  # a bad ID is the caller's error, whatever the cluster
        raise faults.UnknownFault(args.id)
    kubeconfig = manage.kubeconfig(args.name)
    if kubeconfig is None:
        _err(f"cluster {args.name!r} is not running; start it with `harvester-conformance cluster up`")
        return exitcodes.CANNOT_RUN
    done = faults.revert(args.id, kubeconfig) if args.revert else faults.inject(args.id, kubeconfig)
    print(done)
    return exitcodes.CONFORMS


def _cluster_upgrade(args: argparse.Namespace) -> int:
    """The emulated cluster moved to a later release, with --regression's injected after the roll."""
    from harvester_conformance.emulator import lifecycle, upgrade

    st = lifecycle.State.load(args.name)
    try:
        upgrade.check_regressions(args.regressions)
    except upgrade.BadUpgrade as exc:
        _err(str(exc))
        return exitcodes.USAGE
    if not lifecycle.running(st):
        _err(f"cluster {args.name!r} is not running; start it with `harvester-conformance cluster up`")
        return exitcodes.CANNOT_RUN
    try:
        upgrade.upgrade(st, args.to, args.regressions, progress=lambda line: print(f"[upgrade] {line}", flush=True))
    except upgrade.BadUpgrade as exc:
        _err(str(exc))
        return exitcodes.USAGE
    return exitcodes.CONFORMS


def _cluster_build(args: argparse.Namespace) -> int:
    from harvester_conformance.emulator import build

    print(build.ensure_binaries())
    return exitcodes.CONFORMS


def _run(args: argparse.Namespace) -> int:
    from harvester_conformance import cli_run

    return cli_run.run(args)


def _list(args: argparse.Namespace) -> int:
    from harvester_conformance.catalogue import entries
    from harvester_conformance.catalogue.releases import compact, selected
    from harvester_conformance.catalogue.traceability import invariant_tests
    from harvester_conformance.emulator.areas import all_faults

    faults = all_faults()

    tests = invariant_tests()
    rows = [
        {
            "id": e.id,
            "title": e.title,
            "article": e.article,
            "section": e.section,
            "url": e.url,
            "kind": list(e.kind),
            "severity": e.severity,
            "versions": e.versions,
            # The known releases (catalogue/releases.yaml) its `versions` constraints select.
            "releases": [r.label for r in selected(e.versions)],
            "rules": [
                {"versions": r.versions, "releases": [x.label for x in selected(r.versions)], "rule": r.rule}
                for r in e.rules
            ],
            "tests": tests.get(e.id, []),
            "fault": faults[e.id].how if e.id in faults else None,
            # The fault matrix (tests/test_fault_matrix.py) proves every ID with a test and a fault.
            "proof": e.id in tests and e.id in faults,
        }
        for e in entries().values()
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return exitcodes.CONFORMS
    print(f"{'ID':<8} {'kind':<24} {'severity':<9} {'tests':>5}  {'releases':<22} title")
    for r in rows:
        span = compact(selected(r["versions"])) + (f" ({len(r['rules'])} split)" if r["rules"] else "")
        print(
            f"{r['id']:<8} {'+'.join(r['kind']):<24} {r['severity']:<9} {len(r['tests']):>5}  {span:<22} {r['title']}"
        )
    implemented = sum(1 for r in rows if r["tests"])
    proven = sum(1 for r in rows if r["proof"])
    print(f"\n{len(rows)} invariants, {implemented} with tests, {proven} proven both ways by the fault matrix")
    return exitcodes.CONFORMS


def _cleanup(args: argparse.Namespace) -> int:
    from harvester_conformance.cleanup import cleanup

    return cleanup(args.kubeconfig, args.context, args.run_id, args.rancher_kubeconfig)


def _report(args: argparse.Namespace) -> int:
    """The HTML report of a run (exit 0), or one line saying why it cannot be made: 2 for a folder
    that is not a run's, 3 when Allure Report cannot run here."""
    from pathlib import Path

    from harvester_conformance.reporting import html

    try:
        if args.install:
            print(f"Allure Report 3: {html.install(lambda msg: print(msg, flush=True))}")
            return exitcodes.CONFORMS
        if not args.run_dir:
            _err("report: give a run's folder (reports/<run-id>) or --install")
            return exitcodes.USAGE
        out = html.render(
            Path(args.run_dir),
            Path(args.output) if args.output else None,
            Path(args.history_dir) if args.history_dir else None,
        )
    except html.NotARun as exc:
        _err(str(exc))
        return exitcodes.USAGE
    except html.ReportUnavailable as exc:
        _err(f"cannot render the HTML report: {exc}")
        return exitcodes.CANNOT_RUN
    print(f"HTML report: {out.index}")
    if out.history is not None:
        print(f"history of this cluster's reported runs: {out.history}")
    else:
        print("no history: the run's snapshot does not name its cluster (kube-system's UID)")
    return exitcodes.CONFORMS


def _verify_bundle(args: argparse.Namespace) -> int:
    """A certification bundle checked as a certifier would: exit 0 verified, 1 rejected, 2 when
    the bundle or the key given cannot be read at all."""
    from pathlib import Path

    from harvester_conformance.catalogue.traceability import invariant_tests
    from harvester_conformance.declared import selected_ids
    from harvester_conformance.reporting import bundle
    from harvester_conformance.selection import PROFILES

    path = Path(args.file)
    if not path.is_file():
        _err(f"no bundle at {path}")
        return exitcodes.USAGE
    try:
        key = bundle.load_public_key(args.public_key) if args.public_key else None
    except bundle.BadKey as exc:
        _err(str(exc))
        return exitcodes.USAGE
    try:
        files = bundle.read(path)
    except ValueError as exc:
        print(f"bundle rejected: {path}: {exc}")
        return exitcodes.VIOLATION
    required = selected_ids(PROFILES[bundle.PROFILE][1], ()) & set(invariant_tests())
    v = bundle.verify(files, required=required, catalogue=bundle.catalogue_version(), public_key=key)
    for note in v.notes:
        print(f"  note: {note}")
    for problem in v.problems:
        print(f"  problem: {problem}")
    if v.ok:
        print(
            f"bundle verified: {path}: {len(v.passed)} required invariant(s) passed, "
            f"{len(v.not_applicable)} not applicable to the cluster"
            + (f" ({', '.join(v.not_applicable)})" if v.not_applicable else "")
        )
        return exitcodes.CONFORMS
    print(f"bundle rejected: {path}: {len(v.problems)} problem(s)")
    return exitcodes.VIOLATION


def _images(args: argparse.Namespace) -> int:
    """Every image the suite may run on a cluster, as mirrored for an air-gapped lab: nothing else
    is pulled, and nothing is downloaded at run time."""
    from harvester_conformance.probes.pod import DEFAULT_IMAGE

    rows = [
        {
            "image": args.probe_image or DEFAULT_IMAGE,
            "used_by": "the pod node probe (node checks with --node-probe pod, the default on a real cluster)",
            "option": "--probe-image",
        }
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['image']}\t{r['used_by']}; remap with {r['option']}")
    return exitcodes.CONFORMS


def _rbac(args: argparse.Namespace) -> int:
    import yaml

    from harvester_conformance import rbac

    try:
        selection = rbac.select(args.profile, args.id)
        docs = rbac.manifests(selection, args.cluster, args.service_account, pod_probe=args.node_probe == "pod")
    except rbac.NotDerivable as exc:
        _err(str(exc))
        return exitcodes.USAGE
    text = rbac.header(selection, args.cluster) + yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True)
    if args.output:
        try:
            with open(args.output, "w") as f:
                f.write(text)
        except OSError as exc:
            _err(f"cannot write {args.output}: {exc.strerror or exc}")
            return exitcodes.USAGE
    else:
        sys.stdout.write(text)
    return exitcodes.CONFORMS


def parser() -> argparse.ArgumentParser:
    from harvester_conformance import cli_run, cli_upgrade

    ap = argparse.ArgumentParser(prog="harvester-conformance", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the suite (on the emulated cluster when no kubeconfig is given)")
    cli_run.add_arguments(run)
    run.set_defaults(func=_run)
    ls = sub.add_parser("list", help="the invariant catalogue")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.set_defaults(func=_list)
    cu = sub.add_parser("cleanup", help="remove what an aborted run left on a cluster")
    cu.add_argument("--kubeconfig")
    cu.add_argument("--context")
    cu.add_argument("--run-id", help="only this run's objects (default: every run's)")
    cu.add_argument("--rancher-kubeconfig", help="also clean the Rancher cluster (CCR-03's token and copy)")
    cu.set_defaults(func=_cleanup)
    vb = sub.add_parser("verify-bundle", help="check a certification evidence bundle as a certifier would")
    vb.add_argument("file", help="the run's evidence.tar.gz")
    vb.add_argument(
        "--public-key", metavar="FILE", help="the vendor's Ed25519 public key (PEM): the signature must verify"
    )
    vb.set_defaults(func=_verify_bundle)
    rp = sub.add_parser("report", help="render a run's results as an HTML report (Allure Report 3)")
    rp.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="the run's folder, reports/<run-id>")
    rp.add_argument("--output", metavar="DIR", help="where the report goes (default: RUN_DIR/html)")
    rp.add_argument(
        "--history-dir", metavar="DIR", help="one history file per cluster (default: history/ beside RUN_DIR)"
    )
    rp.add_argument("--install", action="store_true", help="install Allure Report 3 (the set-up does it)")
    rp.set_defaults(func=_report)
    im = sub.add_parser("images", help="every image the suite may run on a cluster (for air-gapped mirrors)")
    im.add_argument("--probe-image", metavar="IMAGE", help="the mirror's reference for the probe image")
    im.add_argument("--format", choices=("text", "json"), default="text")
    im.set_defaults(func=_images)
    rb = sub.add_parser("rbac", help="the least-privilege roles a read-only profile needs, as YAML")
    rb.add_argument("--profile", default="default")
    rb.add_argument("--id", action="append", default=[], metavar="ID", help="only these invariants (repeatable)")
    rb.add_argument("--cluster", default="harvester", help="harvester (default), rancher or guest")
    rb.add_argument("--service-account", default="harvester-conformance/harvester-conformance", metavar="NS/NAME")
    rb.add_argument("--node-probe", choices=("pod", "ssh", "simulated"), default="pod")
    rb.add_argument("--output", metavar="FILE")
    rb.set_defaults(func=_rbac)
    cli_upgrade.add_parsers(sub)
    em = sub.add_parser(
        "emulate", help="install the emulated Harvester onto a running control plane (`cluster up --bare`'s)"
    )
    em.add_argument("--kubeconfig", help="the control plane's kubeconfig (default: $KUBECONFIG)")
    em.add_argument("--profile", default="v1.3.1", help="seed profile (Harvester release or 'scale')")
    em.add_argument("--nodes", type=int, help="number of nodes (default: the profile's)")
    em.add_argument("--vms", type=int, help="number of VMs (default: the profile's)")
    em.set_defaults(func=_emulate)

    cl = sub.add_parser("cluster", help="the emulated cluster").add_subparsers(dest="action", required=True)
    up = cl.add_parser("up", help="start the emulated cluster")
    up.add_argument("--profile", default="v1.3.1", help="seed profile (Harvester release or 'scale')")
    up.add_argument("--nodes", type=int, help="number of nodes (default: the profile's)")
    up.add_argument("--vms", type=int, help="number of VMs (default: the profile's)")
    up.add_argument(
        "--bare", action="store_true", help="the control plane and kwok only (for `emulate` to install onto)"
    )
    up.set_defaults(func=_cluster_up)
    down = cl.add_parser("down", help="stop it and remove its processes")
    down.set_defaults(func=_cluster_down)
    st = cl.add_parser("status", help="state, versions, components, logs")
    st.add_argument("--format", choices=("text", "json"), default="text")
    st.set_defaults(func=_cluster_status)
    fault = cl.add_parser("fault", help="put the cluster in a state that violates invariant ID")
    fault.add_argument("id")
    fault.add_argument("--revert", action="store_true")
    fault.set_defaults(func=_cluster_fault)
    upg = cl.add_parser("upgrade", help="move it to a later release as Harvester's upgrade does")
    upg.add_argument("--to", required=True, metavar="VERSION", help="the release (a release profile's name)")
    upg.add_argument(
        "--regression",
        action="append",
        default=[],
        dest="regressions",
        metavar="NAME",
        help="inject after the roll (repeatable): vm-stopped, ip-not-kept, nic-renamed, setting-reset",
    )
    upg.set_defaults(func=_cluster_upgrade)
    b = cl.add_parser("build", help="build the control plane from upstream Go modules (cached)")
    b.set_defaults(func=_cluster_build)
    for p in (up, down, st, fault, upg):
        p.add_argument("--name", default="default", help=argparse.SUPPRESS)
    return ap


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    from harvester_conformance.emulator.areas import UnknownFault
    from harvester_conformance.emulator.build import BuildError
    from harvester_conformance.emulator.lifecycle import ClusterStartError
    from harvester_conformance.emulator.profiles import UnknownProfile
    from harvester_conformance.waits import WaitTimeout

    args = parser().parse_args(argv)
    # A cancelled CI job sends SIGTERM: unwind as for Ctrl-C, so that a cluster this run started is
    # stopped by the same `finally` blocks.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args)
    except (UnknownProfile, UnknownFault) as exc:
        _err(str(exc))
        return exitcodes.USAGE
    except (BuildError, ClusterStartError, WaitTimeout) as exc:
        _err(str(exc))
        return exitcodes.CANNOT_RUN
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - a one-line reason instead of a traceback
        _err(f"internal error: {type(exc).__name__}: {exc} (set HC_DEBUG=1 for the traceback)")
        if os.environ.get("HC_DEBUG"):
            raise
        return exitcodes.CANNOT_RUN


def console() -> None:
    """The installed command: `main`, then out without the interpreter's teardown, which after a
    run at 2,000 VMs spent seconds collecting and freeing objects nobody reads again. Exit hooks
    still run and output is flushed; only the freeing is skipped."""
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    console()
