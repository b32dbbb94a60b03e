"""Issue 17, item 4: `harvester-conformance report RUN_DIR` renders a run with the set-up's Allure
Report 3, and headless Chromium shows what a user must see: the invariants grouped by area and
article, a failure's message and offending object, the link to its KB article, and the history of
the cluster's earlier run. Two runs of the same invariants on one cluster, the second with TRM-02's
fault injected (reverted after)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harvester_conformance.catalogue import article_title, entries
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import all_faults

from . import browser
from .conftest import ROOT, RunResult, run_cli, run_suite

IDS = ("KVC-01", "MET-01", "SEC-01", "TRM-02")
FAULT = "TRM-02"
OBJECT = "VirtualMachineInstance default/vm-000"  # the VMI the fault pauses


def _report(run_dir: Path, cwd: Path = ROOT) -> str:
    done = run_cli("report", str(run_dir), cwd=cwd, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def runs(emulated, tmp_path_factory) -> tuple[RunResult, RunResult]:
    """A healthy run, then one with TRM-02's fault, both reported."""
    c = emulated("v1.3.1")
    base = tmp_path_factory.mktemp("reports")
    ids = [a for i in IDS for a in ("--id", i)]
    healthy = run_suite(base, c.kubeconfig, *ids)
    assert healthy.code == 0, healthy.stdout[-2000:]
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    fault = all_faults()[FAULT]
    fault.inject(cl)
    try:
        failing = run_suite(base, c.kubeconfig, *ids)
    finally:
        fault.revert(cl)
        cl.close()
    assert failing.code == 1 and failing.status(FAULT) == "failed", failing.stdout[-2000:]
    for run in (healthy, failing):
        _report(run.run_dir)
    return healthy, failing


def _result_id(run: RunResult, status: str | None = None, name: str | None = None) -> str:
    """The report's ID of one test result (the page's route), by status or by test name."""
    results = json.loads((run.run_dir / "html" / "test-results.json").read_text())["byId"]
    found = [i for i, r in results.items() if r["status"] == status or r["name"] == name]
    assert len(found) == 1, results
    return found[0]


def _page(run: RunResult, route: str = "") -> str:
    return (run.run_dir / "html" / "index.html").as_uri() + (f"#/{route}" if route else "")


def test_each_run_is_one_offline_page_and_the_cluster_keeps_one_history(runs) -> None:
    healthy, failing = runs
    history = list((healthy.run_dir.parent / "history").iterdir())
    assert len(history) == 1 and history[0].suffix == ".jsonl", history
    names = [json.loads(line)["name"] for line in history[0].read_text().splitlines()]
    assert names == [f"Harvester conformance {r.run_dir.name} (default)" for r in (healthy, failing)]
    # Reported again, named as a user in reports/ would: its own line is replaced, none added.
    _report(Path(failing.run_dir.name), cwd=failing.run_dir.parent)
    assert len(history[0].read_text().splitlines()) == 2
    for run in runs:
        page = (run.run_dir / "html" / "index.html").read_text()
        assert "googletagmanager" not in page
        assert not re.search(r"<(script|link|img)\b[^>]*\b(src|href)=\"https?://", page), "the page calls out"


def test_the_tree_groups_the_invariants_by_area_and_article(runs) -> None:
    browser.require(browser.CHROMIUM)
    _, failing = runs
    seen = browser.text(browser.dom(_page(failing)))
    catalogue = entries()
    for inv in IDS:
        assert catalogue[inv].area in seen, (inv, seen[:3000])
    failed = catalogue[FAULT]
    assert re.search(rf"{failed.area} .*{re.escape(article_title(failed))} .*{FAULT}", seen), seen[:3000]
    assert "Failed 1" in seen and "Passed 3" in seen, seen[:3000]


def test_a_failure_shows_its_message_object_article_and_history(runs) -> None:
    browser.require(browser.CHROMIUM)
    healthy, failing = runs
    result = _result_id(failing, status="failed")
    page = browser.dom(_page(failing, result))
    seen = browser.text(page)
    assert "VMIs paused by IO errors: 1 offending object(s)" in seen and OBJECT in seen, seen[:3000]
    assert f'href="{entries()[FAULT].url}"' in page
    # The earlier run of the same cluster is in the failure's history; the first run has none.
    history = browser.dom(_page(failing, f"{result}/history"))
    assert history.count('data-testid="test-result-history-item"') == 1, browser.text(history)[:2000]
    name = json.loads((failing.run_dir / "html" / "test-results.json").read_text())["byId"][result]["name"]
    first = _result_id(healthy, name=name)
    assert 'data-testid="test-result-history-item"' not in browser.dom(_page(healthy, f"{first}/history"))


def test_the_screenshot_shows_the_failure(runs, tmp_path: Path) -> None:
    browser.require(browser.CHROMIUM, "tesseract")
    _, failing = runs
    shot = browser.screenshot(_page(failing, _result_id(failing, status="failed")), tmp_path / "failure.png")
    # What OCR reads reliably: dark text on light ground (the white-on-red status pill is not; the
    # DOM test checks the status). The ID in the breadcrumb, the message and its object and node.
    seen = browser.read_back(shot)
    assert FAULT in seen and "offending object" in seen, seen
    assert re.search(r"VirtualMachineInstance default/vm-\w{3}", seen) and "harvester-node" in seen, seen
