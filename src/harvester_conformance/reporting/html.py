"""The HTML report of a run (`harvester-conformance report RUN_DIR`): the run's allure results
rendered by Allure Report 3, the `allure` package on npm (a Node generator: no Java).

The generator is installed once by the set-up (`make setup`), from the lock file beside this
module, into the project's cache: nothing is downloaded when a report is made. The report is one
self-contained HTML file (it opens from disk or as a CI artifact), its tree grouped by area
(allure's epic), article (feature) and invariant (story), each test linking its KB article.

History: Allure keeps one JSON line per reported run in a history file. The suite keeps one such
file per cluster, named after the cluster's identity (the kube-system namespace's UID in the
run's snapshot, which survives upgrades), so that a report shows how each invariant fared on the
earlier runs of the same cluster, and never another cluster's. Reporting a run again replaces
its own line instead of adding one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harvester_conformance.cache import cache_root
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.snapshot import Snapshot
from harvester_conformance.reporting.summary import replace_file
from harvester_conformance.verdict import Broken

LOCK_FILES = Path(__file__).with_name("allure")  # package.json and package-lock.json, pinned
ENV_EXECUTABLE = "HC_ALLURE"  # a user's own Allure Report 3 (its `allure` command)
GROUP_BY = ("epic", "feature", "story")  # area, article, invariant: the labels the plugin sets
INSTALL_TIMEOUT = 900.0
GENERATE_TIMEOUT = 600.0


class ReportUnavailable(RuntimeError):
    """Allure Report cannot be run here: not installed, no Node.js, or the generator failed."""


class NotARun(ValueError):
    """The directory holds no allure results of a run."""


def tool_dir() -> Path:
    """The install's folder, keyed by the lock file: a new pin installs beside the old one."""
    digest = hashlib.sha256((LOCK_FILES / "package-lock.json").read_bytes()).hexdigest()[:12]
    return cache_root() / "tools" / f"allure-report-{digest}"


def _installed() -> Path:
    return tool_dir() / "node_modules" / ".bin" / "allure"


def executable() -> Path:
    """The `allure` command to run: $HC_ALLURE, else the set-up's install."""
    given = os.environ.get(ENV_EXECUTABLE)
    if given:
        if not os.access(given, os.X_OK):
            raise ReportUnavailable(f"{ENV_EXECUTABLE}={given} is not an executable file")
        return Path(given)
    if shutil.which("node") is None:
        raise ReportUnavailable("Node.js (>= 20) is needed to render the HTML report: `node` is not on PATH")
    exe = _installed()
    if not os.access(exe, os.X_OK):
        raise ReportUnavailable(
            f"Allure Report 3 is not installed in {tool_dir()}: `make setup` installs it "
            f"(or set {ENV_EXECUTABLE} to an `allure` command of version 3)"
        )
    return exe


def install(log: Callable[[str], None] = print) -> Path:
    """Install the pinned Allure Report with `npm ci` (the set-up's step; a no-op once done).
    A lock keeps two set-ups from racing; the folder appears only when complete."""
    target = tool_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".allure-report.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.access(_installed(), os.X_OK):
            return _installed()
        npm = shutil.which("npm")
        if npm is None:
            raise ReportUnavailable("npm (Node.js >= 20) is needed to install Allure Report 3: `npm` is not on PATH")
        part = target.with_name(target.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir()
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(LOCK_FILES / name, part / name)
        log(f"installing Allure Report 3 (npm ci) into {target}; first time only")
        cmd = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            done = subprocess.run(cmd, cwd=part, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise ReportUnavailable(f"npm ci did not finish in {INSTALL_TIMEOUT:.0f} s") from exc
        if done.returncode != 0:
            raise ReportUnavailable(f"npm ci failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}")
        part.rename(target)
    return _installed()


# -- what one run is ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    run_id: str
    profile: str
    results: Path  # its allure results
    cluster_id: str | None  # kube-system's UID, when the run's snapshot holds it


def read_run(run_dir: Path) -> Run:
    """The run in `run_dir` (a folder under reports/), or NotARun saying what is missing."""
    if not run_dir.is_dir():
        raise NotARun(f"{run_dir} is not a directory")
    results = run_dir / "allure-results"
    if not any(results.glob("*-result.json")):
        raise NotARun(f"{run_dir} holds no allure results (allure-results/*-result.json): is it a run's folder?")
    summary: dict = {}
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        pass  # a run stopped before its summary: the folder's name is its ID
    return Run(
        run_id=str(summary.get("run_id") or run_dir.name),
        profile=str(summary.get("profile") or "unknown"),
        results=results,
        cluster_id=cluster_id(run_dir / "snapshot.json"),
    )


def cluster_id(snapshot: Path) -> str | None:
    """The kube-system namespace's UID from a run's snapshot.json (None: not read)."""
    try:
        ns = Snapshot.load(snapshot).get(R.NAMESPACES, "kube-system")
    except (OSError, ValueError, KeyError, Broken):
        return None
    uid = ((ns or {}).get("metadata") or {}).get("uid")
    return str(uid) if uid else None


# -- history --------------------------------------------------------------------------------------


def history_file(history_dir: Path, cluster: str | None) -> Path | None:
    return None if cluster is None else history_dir / f"{cluster}.jsonl"


def earlier_lines(lines: list[str], report_name: str) -> list[str]:
    """The history Allure is given for a report: the runs reported before this one (when this run
    was reported already, the lines before its own)."""
    out: list[str] = []
    for line in lines:
        if _name(line) == report_name:
            break
        out.append(line)
    return out


def merged_lines(lines: list[str], report_name: str, new: str) -> list[str]:
    """The cluster's history after reporting: this run's line replaces its earlier one, or ends it."""
    if any(_name(line) == report_name for line in lines):
        return [new if _name(line) == report_name else line for line in lines]
    return [*lines, new]


def _name(line: str) -> str | None:
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc.get("name") if isinstance(doc, dict) else None


def report_name(run: Run) -> str:
    return f"Harvester conformance {run.run_id} ({run.profile})"


def config(run: Run, output: Path, history: Path | None) -> dict:
    """Allure's configuration (allurerc.json) for one run's report."""
    name = report_name(run)
    doc: dict = {
        "name": name,
        "output": str(output),
        "plugins": {
            "awesome": {
                "options": {
                    "reportName": name,
                    "singleFile": True,
                    "groupBy": list(GROUP_BY),
                    "reportLanguage": "en",
                    "theme": "light",
                }
            }
        },
    }
    if history is not None:
        doc["historyPath"] = str(history)
    return doc


# -- rendering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    index: Path
    history: Path | None  # the cluster's history file, None when the cluster is not known


def render(run_dir: Path, output: Path | None = None, history_dir: Path | None = None) -> Rendered:
    """Render `run_dir`'s results into `output` (default RUN_DIR/html), with the history of the
    cluster's earlier reported runs from `history_dir` (default: reports/history beside the run)."""
    run_dir = run_dir.resolve()  # the generator runs in a folder of its own: no path may stay relative
    run = read_run(run_dir)
    exe = executable()
    output = (output or run_dir / "html").resolve()
    history_dir = (history_dir or run_dir.parent / "history").resolve()
    kept = history_file(history_dir, run.cluster_id)
    work = output.with_name(output.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        given: Path | None = None
        name = report_name(run)
        old = kept.read_text().splitlines() if kept is not None and kept.exists() else []
        if kept is not None:
            given = work / "history.jsonl"
            given.write_text("".join(f"{line}\n" for line in earlier_lines(old, name)))
        staged = work / "report"
        (work / "allurerc.json").write_text(json.dumps(config(run, staged, given), indent=2))
        _generate(exe, work, run.results)
        index = staged / "index.html"
        if not index.is_file():
            raise ReportUnavailable(f"Allure Report wrote no index.html into {staged}")
        index.write_text(without_analytics(index.read_text()))
        if kept is not None and given is not None:
            lines = given.read_text().splitlines()
            if lines and _name(lines[-1]) == name:
                kept.parent.mkdir(parents=True, exist_ok=True)
                replace_file(kept, "".join(f"{line}\n" for line in merged_lines(old, name, lines[-1])))
        shutil.rmtree(output, ignore_errors=True)
        staged.rename(output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Rendered(output / "index.html", kept)


# Allure Report's page loads Google Analytics (no option turns it off in the awesome plugin): a lab's
# report must not call out, nor tell a third party that it was opened.
_ANALYTICS = re.compile(
    r"\s*<script async src=\"https://www\.googletagmanager\.com/[^\"]*\"></script>\s*"
    r"<script>\s*window\.dataLayer.*?</script>",
    re.DOTALL,
)


def without_analytics(page: str) -> str:
    """The page without its analytics tag; ReportUnavailable when a tag is left that this does not
    know how to remove (a newer generator), rather than a report that calls out."""
    page = _ANALYTICS.sub("", page)
    if "googletagmanager" in page or "gtag(" in page:
        raise ReportUnavailable("the generated page loads an analytics tag this suite cannot remove: not written")
    return page


def _generate(exe: Path, work: Path, results: Path) -> None:
    """One `allure generate`, in its own folder (its agent's files stay there) and without colour."""
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0", "CI": os.environ.get("CI", "")}
    cmd = [str(exe), "generate", "--config", str(work / "allurerc.json"), "--cwd", str(work), str(results)]
    try:
        done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=GENERATE_TIMEOUT, env=env)
    except subprocess.TimeoutExpired as exc:
        raise ReportUnavailable(f"allure generate did not finish in {GENERATE_TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip())[-1500:]
        raise ReportUnavailable(f"allure generate failed (exit {done.returncode}): {tail}")
