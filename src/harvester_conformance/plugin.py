"""The pytest plugin (entry point `pytest11`): options, markers, profiles, the run context,
outcome classification, reports and exit codes. `pytest conformance ...` and
`harvester-conformance run` behave the same because the CLI only drives pytest.

The plugin stays inert unless the session collects the `conformance` test packages (or is
given --kubeconfig / --id), so the project's own tests run without a cluster.
"""

from __future__ import annotations

import configparser
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from harvester_conformance import exitcodes
from harvester_conformance.catalogue import applies, article_title, entries
from harvester_conformance.cluster.client import ClusterUnreachable, ConfigError
from harvester_conformance.cluster.snapshot import MissingPermission, Snapshot
from harvester_conformance.cluster.versions import detect
from harvester_conformance.context import RunContext, new_run_id
from harvester_conformance.reporting import summary
from harvester_conformance.reporting.outcomes import InvariantResult
from harvester_conformance.reporting.redact import REDACT
from harvester_conformance.selection import NEEDS_DISRUPTIVE, PROFILES
from harvester_conformance.verdict import Violation

CTX = pytest.StashKey[RunContext]()
RESULTS = pytest.StashKey[dict[str, InvariantResult]]()
EXIT = pytest.StashKey[int]()
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
    g.addoption("--node-probe", choices=("pod", "ssh", "simulated"), default="pod", help="how host facts are read")
    g.addoption("--timeout-scale", type=float, default=1.0, help="multiplier for every named timeout")
    g.addoption(
        "--id", action="append", default=[], dest="hc_ids", metavar="ID", help="run only this invariant (repeatable)"
    )
    g.addoption("--list-profiles", action="store_true", help="list the test-selection profiles and exit")
    g.addoption("--dry-run", action="store_true", help="show what would run, without touching the cluster")


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


def _register_markers(config: pytest.Config) -> None:
    ini = configparser.ConfigParser()
    ini.read(MARKERS_INI)
    for section in ini.sections():
        for name, desc in ini.items(section):
            config.addinivalue_line("markers", f"{name}: {desc}")
    config.addinivalue_line("markers", "xdist_group(name): pin tests to one xdist worker")


def _kubeconfig(config: pytest.Config) -> str | None:
    explicit = config.getoption("kubeconfig") or os.environ.get("KUBECONFIG")
    if explicit:
        return explicit
    default = Path.home() / ".kube" / "config"
    if default.exists():
        return str(default)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None  # in-cluster
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
    profile = config.getoption("profile")
    if profile not in PROFILES:
        _usage(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    if profile in NEEDS_DISRUPTIVE and not config.getoption("allow_disruptive"):
        _usage(f"profile {profile!r} runs disruptive tests: add --allow-disruptive to confirm")
    unknown = [i for i in config.getoption("hc_ids") if i not in entries()]
    if unknown:
        _usage(f"unknown invariant ID(s) {', '.join(unknown)}; see `harvester-conformance list`")
    os.environ["HC_TIMEOUT_SCALE"] = str(config.getoption("timeout_scale"))
    config.stash[RESULTS] = {}

    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        config.stash[CTX] = RunContext.from_workerinput(workerinput["hc"])
        return
    run_id = config.getoption("run_id") or new_run_id()
    run_dir = Path(config.getoption("reports_dir")) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    if not config.option.xmlpath:
        config.option.xmlpath = str(run_dir / "junit.xml")
    if not getattr(config.option, "allure_report_dir", None):
        config.option.allure_report_dir = str(run_dir / "allure-results")
    dry = config.getoption("dry_run")
    if dry:
        config.option.collectonly = True
    config.pluginmanager.register(_Collector(config.stash[RESULTS]), "harvester-conformance-collector")
    ctx = RunContext(
        run_id=run_id,
        run_dir=run_dir,
        profile=profile,
        kubeconfig=None if dry else _kubeconfig(config),
        context=config.getoption("context"),
        allow_disruptive=config.getoption("allow_disruptive"),
    )
    config.stash[CTX] = ctx
    if not dry:
        _connect(ctx)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(ctx), "harvester-conformance-xdist")


def _connect(ctx: RunContext) -> None:
    """Reachability, snapshot and versions, once, in the controller process."""
    try:
        cluster = ctx.cluster
        cluster.version(timeout=5, attempts=2)
    except ConfigError as exc:
        _usage(f"unusable kubeconfig: {exc}")
    except ClusterUnreachable as exc:
        pytest.exit(f"harvester-conformance: cluster unreachable: {exc}", returncode=exitcodes.CANNOT_RUN)
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        pytest.exit(
            f"harvester-conformance: cannot talk to the cluster: {REDACT(str(exc))[:300]}",
            returncode=exitcodes.CANNOT_RUN,
        )
    snap = Snapshot(cluster)
    snap.preload()
    tmp = Path(tempfile.mkdtemp(prefix="hc-snapshot-"))
    ctx.snapshot_path = tmp / "snapshot.json"
    snap.dump(ctx.snapshot_path)
    ctx.versions = detect(cluster, snap)


class _XdistHooks:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def pytest_configure_node(self, node) -> None:  # noqa: ANN001 - xdist WorkerController
        node.workerinput["hc"] = self.ctx.for_workers()


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
        if "disruptive" in names:
            item.add_marker(pytest.mark.xdist_group("disruptive"))
            if not ctx.allow_disruptive:
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
    if isinstance(exc, MissingPermission):
        return "broken", str(exc), []
    what = f"{type(exc).__name__}: {exc}" if exc else "error"
    return "broken", f"could not evaluate ({rep.when}): {what}", []


class _Collector:
    """Folds every test report (from this process or, under xdist, from the workers) into the
    per-invariant results; prints failures as they happen."""

    def __init__(self, results: dict[str, InvariantResult]) -> None:
        self.results = results
        self.announced: set[tuple[str, ...]] = set()
        self.live = sys.stderr.isatty()
        self.done = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key != "hc_result":
                continue
            for inv in value["ids"]:
                result = self.results.setdefault(inv, InvariantResult(inv))
                result.add(report.nodeid, value["status"], value["message"], value["objects"])
            self.done += 1
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


def _exit_code(results: dict[str, InvariantResult], interrupted: bool) -> int:
    statuses = {r.status for r in results.values()}
    if "failed" in statuses:
        return exitcodes.VIOLATION
    if interrupted or "broken" in statuses or not statuses & {"passed", "warned"}:
        return exitcodes.CANNOT_RUN
    return exitcodes.CONFORMS


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if CTX not in config.stash or hasattr(config, "workerinput") or config.getoption("collectonly"):
        return
    ctx = config.stash[CTX]
    results = config.stash[RESULTS]
    code = _exit_code(results, exitstatus == pytest.ExitCode.INTERRUPTED)
    if exitstatus == pytest.ExitCode.USAGE_ERROR:
        code = exitcodes.USAGE
    summary.write(
        ctx.run_dir, run_id=ctx.run_id, profile=ctx.profile, cluster=ctx.versions, exit_code=code, results=results
    )
    summary.allure_metadata(Path(config.option.allure_report_dir), ctx.versions)
    config.stash[EXIT] = code
    session.exitstatus = code
    if ctx.snapshot_path:
        shutil.rmtree(ctx.snapshot_path.parent, ignore_errors=True)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # junit.xml and allure files are complete only now: the last redaction pass runs here.
    if CTX in config.stash and not hasattr(config, "workerinput"):
        summary.redact_tree(config.stash[CTX].run_dir)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    if EXIT not in config.stash:
        return
    ctx = config.stash[CTX]
    records = summary.invariant_records(config.stash[RESULTS])
    tr = terminalreporter
    tr.section("harvester conformance")
    for r in records:
        line = f"{r['id']:<8} {r['status']:<8} {entries()[r['id']].title}"
        tr.write_line(
            line, red=r["status"] in ("failed", "broken"), yellow=r["status"] == "warned", green=r["status"] == "passed"
        )
    counts = summary.counts(records)
    tr.write_line(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no invariant evaluated")
    tr.write_line(f"reports: {ctx.run_dir}  (summary.md, summary.json, junit.xml, allure-results/)")
    tr.write_line(f"exit code {config.stash[EXIT]}")
