"""The HTML report's pure parts (issue 17, item 4): which history Allure is given for a run and how
the cluster's history file changes, the configuration that groups the tree, and what makes a
folder a run's. The rendering itself is tested in a browser (test_html_report.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester_conformance.reporting import html


def _line(name: str, n: int = 0) -> str:
    return json.dumps({"name": name, "uuid": f"u{n}", "testResults": {}})


def test_a_new_run_gets_every_earlier_line_and_is_appended() -> None:
    old = [_line("run a", 1), _line("run b", 2)]
    assert html.earlier_lines(old, "run c") == old
    assert html.merged_lines(old, "run c", _line("run c", 3)) == [*old, _line("run c", 3)]


def test_reporting_a_run_again_sees_only_what_came_before_it_and_replaces_its_line() -> None:
    old = [_line("run a", 1), _line("run b", 2), _line("run c", 3)]
    assert html.earlier_lines(old, "run b") == [_line("run a", 1)]
    assert html.merged_lines(old, "run b", _line("run b", 9)) == [_line("run a", 1), _line("run b", 9), old[2]]


def test_a_line_allure_cannot_have_written_is_kept_but_never_taken_for_a_run() -> None:
    old = ["not json", _line("run a", 1)]
    assert html.earlier_lines(old, "run a") == ["not json"]
    assert html.merged_lines(old, "run z", _line("run z")) == [*old, _line("run z")]


def test_the_tree_is_grouped_by_area_article_and_invariant_in_one_file(tmp_path: Path) -> None:
    run = html.Run("hc-1", "pre-upgrade", tmp_path, "uid-1")
    doc = html.config(run, tmp_path / "out", tmp_path / "h.jsonl")
    awesome = doc["plugins"]["awesome"]["options"]
    assert awesome["groupBy"] == ["epic", "feature", "story"] and awesome["singleFile"] is True
    assert doc["historyPath"] == str(tmp_path / "h.jsonl") and "hc-1" in doc["name"]
    assert "historyPath" not in html.config(run, tmp_path / "out", None)


def test_a_folder_without_allure_results_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(html.NotARun, match="is not a directory"):
        html.read_run(tmp_path / "missing")
    with pytest.raises(html.NotARun, match="no allure results"):
        html.read_run(tmp_path)


def test_a_run_is_named_by_its_summary_and_its_cluster_by_kube_system(tmp_path: Path) -> None:
    (tmp_path / "allure-results").mkdir()
    (tmp_path / "allure-results" / "x-result.json").write_text("{}")
    run = html.read_run(tmp_path)
    assert (run.run_id, run.profile, run.cluster_id) == (tmp_path.name, "unknown", None)
    (tmp_path / "summary.json").write_text(json.dumps({"run_id": "hc-7", "profile": "default"}))
    lists = {
        "harvester:namespaces@*": [
            {"metadata": {"name": "default", "uid": "other"}},
            {"metadata": {"name": "kube-system", "uid": "3f1c"}},
        ]
    }
    (tmp_path / "snapshot.json").write_text(
        json.dumps({"format": _snapshot_format(), "captured_at": "2026-12-04T00:00:00+00:00", "lists": lists})
    )
    run = html.read_run(tmp_path)
    assert (run.run_id, run.profile, run.cluster_id) == ("hc-7", "default", "3f1c")
    assert html.history_file(tmp_path, run.cluster_id) == tmp_path / "3f1c.jsonl"


def _snapshot_format() -> object:
    from harvester_conformance.cluster import snapshot

    return snapshot.FORMAT


def test_an_unusable_allure_command_is_refused_with_its_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(html.ENV_EXECUTABLE, str(tmp_path / "allure"))
    with pytest.raises(html.ReportUnavailable, match="is not an executable"):
        html.executable()


PAGE_TAIL = """    <script>
      window.allure = window.allure || {};
    </script>
    <script async src="https://www.googletagmanager.com/gtag/js?id=G-X"></script>
    <script>
        window.dataLayer = window.dataLayer || [];
        function gtag(){dataLayer.push(arguments);}
        gtag('js', new Date());
        gtag('config', 'G-X', {"report": "awesome"});
    </script>
    <script>window.allureReportData = {};</script>
</body>"""


def test_the_page_loses_its_analytics_tag_and_keeps_its_data() -> None:
    page = html.without_analytics(PAGE_TAIL)
    assert "googletagmanager" not in page and "gtag" not in page
    assert "window.allure = " in page and "window.allureReportData" in page


def test_a_tag_it_does_not_know_how_to_remove_stops_the_report() -> None:
    other = PAGE_TAIL.replace("window.dataLayer = window.dataLayer || [];", "var layer = [];")
    with pytest.raises(html.ReportUnavailable, match="analytics tag"):
        html.without_analytics(other)
