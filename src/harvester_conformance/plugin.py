"""The pytest plugin (entry point `pytest11`): options, markers, profiles, the run context,
outcome classification, reports and exit codes. `pytest conformance ...` and
`harvester-conformance run` behave the same because the CLI only drives pytest.

The plugin stays inert unless the session collects the `conformance` test packages (or is
given --kubeconfig / --id), so the project's own tests run without a cluster.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester_conformance import declared, exitcodes, probes, stopping
from harvester_conformance.catalogue import applies, article_title, entries
from harvester_conformance.catalogue.traceability import invariant_tests
from harvester_conformance.changes import Changes
from harvester_conformance.cluster.client import Cluster, ClusterUnreachable, ConfigError, resolve_kubeconfig
from harvester_conformance.cluster.reads import GUEST, HARVESTER, RANCHER
from harvester_conformance.cluster.snapshot import Snapshot
from harvester_conformance.cluster.versions import detect
from harvester_conformance.context import RUN_ID, RunContext, new_run_id
from harvester_conformance.reporting import bundle, rerun, summary, terminal
from harvester_conformance.reporting.outcomes import InvariantResult
from harvester_conformance.reporting.redact import REDACT
from harvester_conformance.scheduling import UnitScheduling, grouped
from harvester_conformance.selection import NEEDS_DISRUPTIVE, PROFILES
from harvester_conformance.upgrade_state import BadBaseline, read_baseline
from harvester_conformance.verdict import Broken, Violation

CTX = pytest.StashKey[RunContext]()
RESULTS = pytest.StashKey[dict[str, InvariantResult]]()
SUMMARY = pytest.StashKey[dict]()  # the run's final summary.json document
PHASES = pytest.StashKey[dict[str, pytest.TestReport]]()
PROBE = pytest.StashKey[probes.ProbeSettings]()
# The pod probe's namespace must admit privileged pods (Pod Security Admission).
PRIVILEGED = {"pod-security.kubernetes.io/enforce": "privileged"}
UNREPORTED_CLEANUP = pytest.StashKey[list[dict]]()
EARLIER = pytest.StashKey[rerun.Earlier]()  # the run --rerun-failed reruns
SIGNING_KEY = pytest.StashKey[object]()  # the certification bundle's Ed25519 key, when given
EVIDENCE = pytest.StashKey[str]()  # where the bundle went, or why it could not be written
REQUESTS_FILE = "api-requests{suffix}.json"
TRACEBACKS_FILE = "tracebacks.log"
TRACEBACK_NOTE = pytest.StashKey[str]()
MARKERS_INI = Path(__file__).with_name("markers.ini")


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("harvester-conformance")
    g.addoption("--kubeconfig", help="kubeconfig of the Harvester cluster (default: $KUBECONFIG)")
    g.addoption("--context", help="kubeconfig context")
    g.addoption("--profile", default="default", help=f"test selection: {', '.join(PROFILES)}")
    g.addoption("--allow-disruptive", action="store_true", help="allow tests that change cluster-wide state")
    g.addoption("--run-id", help="run ID (default: generated); names the reports dir and labels objects")
    g.addoption("--reports-dir", default="reports", help="where reports/<run-id>/ is written")
    g.addoption("--rancher-kubeconfig", help="kubeconfig of the Rancher cluster (Rancher-side checks)")
    g.addoption("--guest-kubeconfig", help="kubeconfig of a guest cluster (guest-cluster checks)")
    g.addoption("--timeout-scale", type=float, default=1.0, help="multiplier for every named timeout")
    g.addoption(
        "--run-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop the run after this long, as for Ctrl-C: undo what it changed, keep the results it has",
    )
    g.addoption(
        "--max-snapshots-per-volume",
        type=int,
        default=None,
        metavar="N",
        help="LHP-05: the most Longhorn snapshots a volume may keep (default 100)",
    )
    g.addoption(
        "--credential-margin-hours",
        default=None,
        metavar="H",
        help="CCR-01/03: how long a cloud credential's token must still be valid (default 168)",
    )
    g.addoption(
        "--rke2-cert-margin-days",
        default=None,
        metavar="D",
        help="SEC-04: how long the API and RKE2 certificates must still be valid (default 30)",
    )
    g.addoption(
        "--vendor-storage-class",
        default=None,
        metavar="NAME",
        help="CSI-04: the vendor StorageClass to provision, attach, snapshot and back up",
    )
    g.addoption(
        "--id", action="append", default=[], dest="hc_ids", metavar="ID", help="run only this invariant (repeatable)"
    )
    g.addoption(
        "--rerun-failed",
        default=None,
        metavar="RUN_DIR",
        help="run only what failed or broke in that earlier run (its profile); what passes now is flaky",
    )
    g.addoption(
        "--signing-key",
        default=None,
        metavar="FILE",
        help="certification: sign the evidence bundle with this Ed25519 private key (PEM; an encrypted "
        "key's passphrase in $HC_SIGNING_KEY_PASSPHRASE)",
    )
    g.addoption(
        "--baseline",
        default=None,
        metavar="FILE",
        help="IPP-06, NIC-02, UPG-08: the state `harvester-conformance snapshot` recorded before the upgrade",
    )
    g.addoption("--list-profiles", action="store_true", help="list the test-selection profiles and exit")
    g.addoption("--dry-run", action="store_true", help="show what would run, without touching the cluster")
    probes.add_options(g)


def _active(config: pytest.Config) -> bool:
    if config.getoption("kubeconfig") or config.getoption("hc_ids") or config.getoption("list_profiles"):
        return True
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if "conformance" in path.parts and "tests" not in path.parts:
            return True
    return False


def _usage(msg: str) -> None:
    pytest.exit(f"harvester-conformance: {msg}", returncode=exitcodes.USAGE)


def _rerun(config: pytest.Config) -> None:
    """--rerun-failed: the earlier run's failed and broken IDs, under its profile, become the
    selection (each worker reads the same file, so all agree)."""
    path = config.getoption("rerun_failed")
    if not path:
        return
    if config.getoption("hc_ids"):
        _usage("--rerun-failed selects what runs: drop --id")
    try:
        earlier = rerun.load(path)
    except rerun.RerunError as exc:
        _usage(str(exc))
    given = config.getoption("profile")
    if given not in ("default", earlier.profile):
        _usage(f"--rerun-failed reruns run {earlier.run_id} under its profile {earlier.profile!r}: drop --profile")
    if not earlier.outcomes:
        pytest.exit(
            f"harvester-conformance: nothing failed or broke in run {earlier.run_id}: nothing to rerun",
            returncode=exitcodes.CONFORMS,
        )
    config.option.profile = earlier.profile
    config.option.hc_ids = sorted(earlier.outcomes)
    config.stash[EARLIER] = earlier


def _signing_key(config: pytest.Config, profile: str) -> None:
    """A signing key is checked before anything touches the cluster: a bad one is a usage error."""
    path = config.getoption("signing_key")
    if not path or hasattr(config, "workerinput"):
        return
    if profile != bundle.PROFILE:
        _usage(f"--signing-key signs the certification evidence bundle: use it with --profile {bundle.PROFILE}")
    try:
        config.stash[SIGNING_KEY] = bundle.load_signing_key(path, os.environ.get("HC_SIGNING_KEY_PASSPHRASE"))
    except bundle.BadKey as exc:
        _usage(str(exc))


def _write_evidence(config: pytest.Config, ctx: RunContext) -> str:
    """The certification bundle (after a redaction pass: junit is complete by now), or why not."""
    _, predicate = PROFILES[ctx.profile]
    selected = declared.selected_ids(predicate, config.getoption("hc_ids")) & set(invariant_tests())
    options = {name: config.getoption(name) for name in bundle.RECORDED_OPTIONS}
    summary.redact_tree(ctx.run_dir)
    try:
        path = bundle.write(
            ctx.run_dir,
            run_id=ctx.run_id,
            selected=selected,
            options=options,
            versions=ctx.versions,
            snapshot_path=ctx.snapshot_path,
            key=config.stash.get(SIGNING_KEY, None),  # type: ignore[arg-type]
            junit=Path(config.option.xmlpath),
            allure=Path(config.option.allure_report_dir),
        )
    except OSError as exc:
        return f"could not be written: {exc.strerror or exc}"
    return f"{path} ({'signed' if SIGNING_KEY in config.stash else 'unsigned'})"


def _register_markers(config: pytest.Config) -> None:
    ini = configparser.ConfigParser()
    ini.read(MARKERS_INI)
    for section in ini.sections():
        for name, desc in ini.items(section):
            config.addinivalue_line("markers", f"{name}: {desc}")


def _kubeconfig(config: pytest.Config) -> str | None:
    try:
        return resolve_kubeconfig(config.getoption("kubeconfig"))
    except ConfigError:
        _usage(
            "no cluster given: pass --kubeconfig (or run `harvester-conformance run`, which starts "
            "the emulated cluster when no kubeconfig is given)"
        )
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _register_markers(config)
    if not _active(config):
        return
    config.option.strict_markers = True
    if config.getoption("list_profiles"):
        for name, (desc, _) in PROFILES.items():
            print(f"{name:<14} {desc}")
        pytest.exit("", returncode=exitcodes.CONFORMS)
    _rerun(config)
    profile = config.getoption("profile")
    if profile not in PROFILES:
        _usage(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    if profile in NEEDS_DISRUPTIVE and not config.getoption("allow_disruptive"):
        _usage(f"profile {profile!r} runs disruptive tests: add --allow-disruptive to confirm")
    unknown = [i for i in config.getoption("hc_ids") if i not in entries()]
    if unknown:
        _usage(f"unknown invariant ID(s) {', '.join(unknown)}; see `harvester-conformance list`")
    scale = config.getoption("timeout_scale")
    if not scale > 0:
        _usage(f"--timeout-scale must be a positive number, got {scale}")
    try:
        config.stash[PROBE] = probes.settings_from(config.getoption)
    except ValueError as exc:
        _usage(str(exc))
    limit = config.getoption("run_timeout")
    if limit is not None and not limit > 0:
        _usage(f"--timeout (pytest: --run-timeout) must be a positive number of seconds, got {limit:g}")
    if (baseline := config.getoption("baseline")) is not None:
        try:
            read_baseline(baseline)
        except BadBaseline as exc:
            _usage(str(exc))
    os.environ["HC_TIMEOUT_SCALE"] = str(scale)
    config.stash[RESULTS] = {}
    _signing_key(config, profile)

    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        config.stash[CTX] = RunContext.from_workerinput(workerinput["hc"])
        stopping.install(forward_to_workers=False, say=_terminal(config))
        return
    run_id = config.getoption("run_id") or new_run_id()
    if not RUN_ID.match(run_id):
        _usage(f"--run-id {run_id!r} is not a valid label value (letters, digits, '-', '_', '.'; at most 63)")
    run_dir = Path(config.getoption("reports_dir")) / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / ".writable").touch()
        (run_dir / ".writable").unlink()
    except OSError as exc:
        _usage(f"cannot write the reports to {run_dir}: {exc.strerror or exc}")
    if not config.option.xmlpath:
        config.option.xmlpath = str(run_dir / "junit.xml")
    if not getattr(config.option, "allure_report_dir", None):
        config.option.allure_report_dir = str(run_dir / "allure-results")
    dry = config.getoption("dry_run")
    if dry:
        config.option.collectonly = True
    ctx = RunContext(
        run_id=run_id,
        run_dir=run_dir,
        profile=profile,
        kubeconfig=None if dry else _kubeconfig(config),
        context=config.getoption("context"),
        allow_disruptive=config.getoption("allow_disruptive"),
        rancher_kubeconfig=config.getoption("rancher_kubeconfig"),
        guest_kubeconfig=config.getoption("guest_kubeconfig"),
        baseline_path=config.getoption("baseline"),
    )
    config.stash[CTX] = ctx
    config.pluginmanager.register(
        _Collector(config.stash[RESULTS], lambda: _write_summary(config, None, "running")),
        "harvester-conformance-collector",
    )
    if not dry:
        distributing = getattr(config.option, "dist", "no") != "no"
        deadline = None if limit is None else time.time() + limit
        stopping.install(forward_to_workers=distributing, deadline=deadline, limit=limit, say=_terminal(config))
        _connect(ctx, _declared_reads(config, profile), checks_here=not distributing)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(ctx), "harvester-conformance-xdist")


def _terminal(config: pytest.Config) -> Callable[[str], None]:
    """A line to the real stderr, past pytest's capture of the running test's output."""

    def say(text: str) -> None:
        capture = config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            sys.stderr.write(text)
            sys.stderr.flush()

    return say


def _declared_reads(config: pytest.Config, profile: str) -> list:
    """The union of what the selected check packages read (within the paths pytest was given)."""
    _, predicate = PROFILES[profile]
    ids = declared.selected_ids(predicate, config.getoption("hc_ids"))
    only = None
    paths = [Path(a.split("::")[0]).resolve() for a in config.args]
    if paths and all("conformance" in p.parts for p in paths):
        only = set()
        for p in paths:
            below = p.parts[p.parts.index("conformance") + 1 :]
            if not below:
                only = None
                break
            only.add(below[0])
    return declared.reads_for(ids, only)


def _reach(ctx: RunContext, role: str) -> dict:
    """The cluster's /version, or the run ends here with a one-line reason."""
    what = "the cluster" if role == HARVESTER else f"the {role} cluster"
    try:
        return ctx.cluster_for(role).version(timeout=5, attempts=2)
    except ConfigError as exc:
        _usage(f"unusable kubeconfig for {what}: {exc}")
    except ClusterUnreachable as exc:
        pytest.exit(f"harvester-conformance: {what} is unreachable: {exc}", returncode=exitcodes.CANNOT_RUN)
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        pytest.exit(
            f"harvester-conformance: cannot talk to {what}: {REDACT(str(exc))[:300]}",
            returncode=exitcodes.CANNOT_RUN,
        )
    raise AssertionError("unreachable")


def _connect(ctx: RunContext, reads: list, checks_here: bool) -> None:
    """Reachability, the snapshot of every declared read and the versions, once, in the controller;
    kept in memory only when this process runs the checks (workers load the file)."""
    versions = {role: _reach(ctx, role) for role in (HARVESTER, RANCHER, GUEST) if ctx.has(role)}
    clusters = {role: ctx.cluster_for(role) for role in versions}
    live = sys.stderr.isatty()

    def progress(msg: str) -> None:
        if live:
            sys.stderr.write(f"\r[hc] snapshot: {msg}\x1b[K")
            sys.stderr.flush()

    snap = Snapshot.take(clusters, reads, progress)
    if live:
        sys.stderr.write("\n")
    ctx.snapshot_path = ctx.run_dir / "snapshot.json"
    snap.dump(ctx.snapshot_path)
    if checks_here:  # a run without workers checks this one instead of reading the file again
        ctx.use_snapshot(snap)
    ctx.versions = detect(snap, versions[HARVESTER].get("gitVersion"))


class _XdistHooks:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def pytest_configure_node(self, node) -> None:  # noqa: ANN001 - xdist WorkerController
        node.workerinput["hc"] = self.ctx.for_workers()

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: object) -> UnitScheduling:
        return UnitScheduling(config, log, work_unit())


def work_unit() -> Callable[[str], str]:
    """The disruptive checks in one xdist unit, so one worker runs them one after the other (each
    changes cluster-wide state another would see); every other test is balanced on its own."""
    disruptive = {
        test for inv, tests in invariant_tests().items() if entries()[inv].impact == "disruptive" for test in tests
    }
    return grouped(dict.fromkeys(disruptive, "disruptive"))


def _invariant_ids(item: pytest.Item) -> tuple[str, ...]:
    m = item.get_closest_marker("invariant")
    return tuple(m.args) if m else ()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CTX not in config.stash:
        return
    ctx = config.stash[CTX]
    _, predicate = PROFILES[ctx.profile]
    wanted = set(config.getoption("hc_ids"))
    keep, drop = [], []
    for item in items:
        ids = _invariant_ids(item)
        names = {m.name for m in item.iter_markers()}
        if not ids:
            drop.append(item)
        elif wanted:
            (keep if wanted & set(ids) else drop).append(item)
        else:
            (keep if predicate(names) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
    for item in items:
        names = {m.name for m in item.iter_markers()}
        if "disruptive" in names and not ctx.allow_disruptive:
            item.add_marker(pytest.mark.skip(reason="disruptive: needs --allow-disruptive"))
        for inv in _invariant_ids(item):
            ok, why = applies(entries()[inv], ctx.versions)
            if not ok:
                item.add_marker(pytest.mark.skip(reason=f"not applicable: {why}"))
    if config.getoption("dry_run"):
        _print_dry_run(ctx, items)


def _print_dry_run(ctx: RunContext, items: list[pytest.Item]) -> None:
    print(f"\nprofile {ctx.profile}: {len(items)} test(s) would run")
    for item in items:
        skip = item.get_closest_marker("skip")
        note = f"  (skipped: {skip.kwargs.get('reason')})" if skip else ""
        print(f"  {','.join(_invariant_ids(item)):<10} {item.nodeid}{note}")


@pytest.fixture(scope="session")
def hc(request: pytest.FixtureRequest) -> RunContext:
    """The run: options, live cluster, snapshot and detected versions."""
    if CTX not in request.config.stash:
        pytest.skip("not a conformance session")
    return request.config.stash[CTX]


def _second_cluster(hc: RunContext, role: str, option: str) -> Cluster:
    if not hc.has(role):
        pytest.skip(f"needs the {role} cluster: pass {option}")
    return hc.cluster_for(role)


@pytest.fixture(scope="session")
def rancher_cluster(hc: RunContext) -> Cluster:
    """The Rancher cluster that manages Harvester (`--rancher-kubeconfig`); skipped without it."""
    return _second_cluster(hc, RANCHER, "--rancher-kubeconfig")


@pytest.fixture(scope="session")
def guest_cluster(hc: RunContext) -> Cluster:
    """A guest cluster running on Harvester (`--guest-kubeconfig`); skipped without it."""
    return _second_cluster(hc, GUEST, "--guest-kubeconfig")


@pytest.fixture(scope="session")
def node_probe(request: pytest.FixtureRequest, hc: RunContext):
    """How node checks read host files (--node-probe); the check is skipped with the reason when
    no probe can be had. The pod backend's namespace and pods are removed at the end."""
    settings = request.config.stash[PROBE]
    collector = Changes(hc.cluster, hc.run_id, "node probe")
    try:
        namespace = collector.namespace(labels=PRIVILEGED) if settings.backend == "pod" else None
        probe = probes.make_probe(settings, cluster=hc.cluster, namespace=namespace, run_id=hc.run_id)
    except probes.ProbeUnavailable as exc:
        collector.undo()
        pytest.skip(f"no node probe: {exc.reason}")
    try:
        yield probe
    finally:
        try:
            probe.close()
        finally:
            for failure in collector.undo():
                sys.stderr.write(f"\n[hc] node probe cleanup failed: {failure.step}: {failure.error}\n")


@pytest.fixture
def changes(request: pytest.FixtureRequest, hc: RunContext):
    """The test's collector of changes. At teardown: diagnostics first when the test did not pass,
    then every change undone in reverse order; a failed undo becomes a cleanup entry of the
    report, never the test's verdict."""
    collector = Changes(hc.cluster, hc.run_id, request.node.nodeid)
    yield collector
    item = request.node
    call = item.stash.get(PHASES, {}).get("call")
    if call is None or not call.passed:
        _attach_diagnostics(hc, item, collector.diagnostics())
    for failure in collector.undo():
        entry = {"test": item.nodeid, **failure.as_dict()}
        item.user_properties.append(("hc_cleanup", entry))
        if stopping.reason():
            # Unwinding from a stop, pytest reports no teardown: the summary takes the entry as is.
            _terminal(request.config)(f"\n[hc] {terminal.cleanup_line(entry)}\n")
            request.config.stash.setdefault(UNREPORTED_CLEANUP, []).append(entry)


def _attach_diagnostics(hc: RunContext, item: pytest.Item, diag: dict) -> None:
    import allure

    text = json.dumps(diag, indent=2, default=str)
    allure.attach(text, name="diagnostics (before cleanup)", attachment_type=allure.attachment_type.JSON)
    folder = hc.run_dir / "diagnostics"
    folder.mkdir(exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in item.nodeid)[-150:]
    (folder / f"{safe}.json").write_text(text)


@pytest.fixture(autouse=True)
def _hc_allure_labels(request: pytest.FixtureRequest) -> None:
    ids = _invariant_ids(request.node)
    if not ids:
        return
    import allure

    e = entries()[ids[0]]
    allure.dynamic.epic(e.area)
    allure.dynamic.feature(article_title(e))
    for inv in ids:
        allure.dynamic.story(inv)
    allure.dynamic.severity(
        {"critical": "critical", "high": "critical", "medium": "normal", "low": "minor"}.get(e.severity, "normal")
    )
    if e.url:
        allure.dynamic.link(e.url, name=f"KB: {article_title(e)}")
    allure.dynamic.description(f"{e.title}\n\nRemediation: {e.remediation}")


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    rep: pytest.TestReport = outcome.get_result()
    item.stash.setdefault(PHASES, {})[rep.when] = rep
    ids = _invariant_ids(item)
    if not ids:
        return
    if call.excinfo is not None:
        exc = call.excinfo.value
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (REDACT(exc.args[0]), *exc.args[1:])
    if rep.failed and rep.longrepr is not None:
        rep.longrepr = REDACT(str(rep.longrepr))
    if rep.when == "call" or (rep.when == "setup" and not rep.passed):
        status, message, objects = _classify(item, rep, call)
        rep.user_properties.append(
            ("hc_result", {"ids": list(ids), "status": status, "message": REDACT(message), "objects": objects})
        )


def _classify(item: pytest.Item, rep: pytest.TestReport, call: pytest.CallInfo) -> tuple[str, str, list[str]]:
    if rep.skipped:
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        return "skipped", reason.removeprefix("Skipped: "), []
    if rep.passed:
        warned = [v for k, v in item.user_properties if k == "hc_warned"]
        if warned:
            return "warned", "\n".join(w["message"] for w in warned), [o for w in warned for o in w["objects"]]
        return "passed", "", []
    exc = call.excinfo.value if call.excinfo else None
    if isinstance(exc, Violation):
        return "failed", str(exc), list(exc.objects)
    if isinstance(exc, AssertionError) and rep.when == "call":
        return "failed", str(exc) or "assertion failed", []
    if isinstance(exc, Broken):
        return "broken", str(exc), []
    what = f"{type(exc).__name__}: {exc}" if exc else "error"
    return "broken", f"could not evaluate ({rep.when}): {what}", []


class _Collector:
    """Folds every test report (from this process or, under xdist, from the workers) into the
    per-invariant results; prints failures as they happen."""

    def __init__(self, results: dict[str, InvariantResult], on_result: Callable[[], None]) -> None:
        self.results = results
        self.on_result = on_result
        self.cleanup: list[dict] = []
        self.announced: set[tuple[str, ...]] = set()
        self.live = sys.stderr.isatty()
        self.done = 0
        self.tracebacks: list[str] = []  # for tracebacks.log: the terminal shows outcomes, not these

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed and report.longrepr is not None:
            self.tracebacks.append(f"=== {report.nodeid} ({report.when})\n{REDACT(str(report.longrepr))}\n")
        for key, value in report.user_properties:
            if key == "hc_cleanup" and report.when == "teardown":
                self.cleanup.append(value)
                sys.stderr.write(f"\n[hc] {terminal.cleanup_line(value)}\n")
            if key != "hc_result" or report.when == "teardown":
                continue
            for inv in value["ids"]:
                result = self.results.setdefault(inv, InvariantResult(inv))
                result.add(report.nodeid, value["status"], value["message"], value["objects"])
            self.done += 1
            self.on_result()  # a killed run still leaves the outcomes of what finished
            if self.live:
                tally = summary.counts([{"status": r.status} for r in self.results.values()])
                line = ", ".join(f"{n} {s}" for s, n in tally.items() if n)
                sys.stderr.write(f"\r[hc] {self.done} tests, {len(self.results)} invariants: {line}\x1b[K")
                sys.stderr.flush()
            key_ids = (*value["ids"], value["status"])
            if value["status"] in ("failed", "broken") and key_ids not in self.announced:
                self.announced.add(key_ids)
                first = value["message"].splitlines()[0] if value["message"] else ""
                sys.stderr.write(f"\n[hc] {','.join(value['ids'])} {value['status']}: {first}\n")


def _tracebacks_to_log(config: pytest.Config, ctx: RunContext, collector: _Collector | None) -> None:
    """Failed tests' tracebacks go to tracebacks.log (redacted); the terminal keeps to one line per
    invariant unless they were asked for there (--tb given)."""
    if collector is None or not collector.tracebacks:
        return
    path = ctx.run_dir / TRACEBACKS_FILE
    path.write_text("\n".join(collector.tracebacks))
    if config.option.tbstyle == "auto":  # pytest's default: not asked for
        config.option.tbstyle = "no"  # read by the terminal summary, which comes after this hook
        config.stash[TRACEBACK_NOTE] = f"tracebacks: {path} (pass --tb=long to print them here)"


def _exit_code(results: dict[str, InvariantResult], interrupted: bool) -> int:
    """Flaky counts as a violation: the invariant did not hold throughout the two runs."""
    statuses = {r.status for r in results.values()}
    if statuses & {"failed", "flaky"}:
        return exitcodes.VIOLATION
    if interrupted or "broken" in statuses or not statuses & {"passed", "warned"}:
        return exitcodes.CANNOT_RUN
    return exitcodes.CONFORMS


def _write_requests(ctx: RunContext, suffix: str) -> None:
    """This process's API requests, by cluster role, verb and resource (merged by the controller)."""
    counts = {
        role: {f"{verb} {res}": n for (verb, res), n in sorted(cl.requests.items())}
        for role, cl in ctx.connected().items()
    }
    (ctx.run_dir / REQUESTS_FILE.format(suffix=suffix)).write_text(json.dumps(counts, indent=2) + "\n")


def _merge_requests(run_dir: Path) -> dict:
    total: dict[str, Counter] = {}
    for part in run_dir.glob(REQUESTS_FILE.format(suffix="-*")):
        for role, counts in json.loads(part.read_text()).items():
            total.setdefault(role, Counter()).update(counts)
        part.unlink()
    merged = {role: dict(sorted(c.items())) for role, c in total.items()}
    (run_dir / REQUESTS_FILE.format(suffix="")).write_text(json.dumps(merged, indent=2) + "\n")
    return merged


def _write_summary(config: pytest.Config, code: int | None, state: str) -> dict:
    """summary.json and summary.md as they stand: "running" after each result, then "complete" or
    "interrupted" (with why, and the selected invariants that have no result)."""
    ctx = config.stash[CTX]
    earlier = config.stash.get(EARLIER, None)
    results = rerun.mark_flaky(config.stash[RESULTS], earlier)
    collector = config.pluginmanager.get_plugin("harvester-conformance-collector")
    unfinished: list[str] = []
    if state == "interrupted":
        _, predicate = PROFILES[ctx.profile]
        selected = declared.selected_ids(predicate, config.getoption("hc_ids")) & set(invariant_tests())
        unfinished = sorted(selected - set(results))
    return summary.write(
        ctx.run_dir,
        run_id=ctx.run_id,
        profile=ctx.profile,
        cluster=ctx.versions,
        exit_code=code,
        results=results,
        cleanup=[*(collector.cleanup if collector else []), *config.stash.get(UNREPORTED_CLEANUP, [])],
        state=state,
        stopped_by=(stopping.reason() or "interrupted") if state == "interrupted" else "",
        unfinished=unfinished,
        rerun_of=earlier.run_id if earlier else None,
    )


@pytest.hookimpl(trylast=True)  # after pytest's own teardown: an interrupted test's undo runs first
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if CTX not in config.stash or config.getoption("collectonly"):
        return
    ctx = config.stash[CTX]
    workerinput = getattr(config, "workerinput", None)
    _write_requests(ctx, f"-{workerinput['workerid'] if workerinput else 'controller'}")
    if workerinput is not None:
        return
    _merge_requests(ctx.run_dir)
    results = rerun.mark_flaky(config.stash[RESULTS], config.stash.get(EARLIER, None))
    collector = config.pluginmanager.get_plugin("harvester-conformance-collector")
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bool(stopping.reason())
    code = _exit_code(results, interrupted)
    if exitstatus == pytest.ExitCode.USAGE_ERROR:
        code = exitcodes.USAGE
    elif code == exitcodes.CONFORMS and collector and collector.cleanup:
        code = exitcodes.CANNOT_RUN  # it conforms, but the run left something changed behind
    config.stash[SUMMARY] = _write_summary(config, code, "interrupted" if interrupted else "complete")
    _tracebacks_to_log(config, ctx, collector)
    summary.allure_metadata(Path(config.option.allure_report_dir), ctx.versions)
    summary.allure_flaky(Path(config.option.allure_report_dir), {i for i, r in results.items() if r.status == "flaky"})
    if ctx.profile == bundle.PROFILE and code != exitcodes.USAGE:
        config.stash[EVIDENCE] = _write_evidence(config, ctx)
        if config.stash[EVIDENCE].startswith("could not") and code == exitcodes.CONFORMS:
            code = exitcodes.CANNOT_RUN  # the certification's deliverable is missing
            config.stash[SUMMARY] = _write_summary(config, code, "complete")
    session.exitstatus = code


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # junit.xml and allure files are complete only now: the last redaction pass runs here.
    if CTX in config.stash and not hasattr(config, "workerinput"):
        summary.redact_tree(config.stash[CTX].run_dir)
    stopping.uninstall()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    if SUMMARY not in config.stash:
        return
    doc = config.stash[SUMMARY]
    notes = [f"reports: {config.stash[CTX].run_dir}  (summary.md, summary.json, junit.xml, allure-results/)"]
    if TRACEBACK_NOTE in config.stash:
        notes.append(config.stash[TRACEBACK_NOTE])
        # pytest's closing count ("2 failed, 2 passed") counts a broken invariant as failed: with
        # the tracebacks, pytest's vocabulary leaves the terminal (it comes back with --tb).
        terminalreporter.summary_stats = lambda: None
    if EVIDENCE in config.stash:
        notes.append(f"evidence bundle: {config.stash[EVIDENCE]}")
    terminalreporter.section("harvester conformance")
    for text, colour in terminal.lines(doc, notes):
        terminalreporter.write_line(text, **({colour: True} if colour else {}))
