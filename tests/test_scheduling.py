"""xdist work units: the tests that must share a worker do, which `xdist_group` no longer ensures
under pytest 9 (its groups never reach the scheduler; see `harvester_conformance.scheduling`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harvester_conformance.catalogue import entries
from harvester_conformance.catalogue.traceability import invariant_tests
from harvester_conformance.plugin import work_unit as suite_unit
from harvester_conformance.scheduling import grouped

from .conftest import work_unit as project_unit


def test_grouped_matches_the_test_function_whatever_the_rootdir_and_parameters() -> None:
    unit_of = grouped({"conformance/a/test_x.py::test_y": "g"})
    assert unit_of("conformance/a/test_x.py::test_y[v1]") == "g"
    assert unit_of("repo/conformance/a/test_x.py::test_y") == "g"
    assert unit_of("conformance/a/test_x.py::test_y_other") == "conformance/a/test_x.py::test_y_other"
    assert unit_of("other/a/test_x.py::test_y") == "other/a/test_x.py::test_y"


def test_suite_runs_every_disruptive_check_in_one_unit() -> None:
    unit_of = suite_unit()
    for inv, tests in invariant_tests().items():
        for test in tests:
            expected = "disruptive" if entries()[inv].impact == "disruptive" else test
            assert unit_of(test) == expected, (inv, test)


def test_project_units_keep_the_matrix_and_each_profile_together() -> None:
    matrix = "tests/test_fault_matrix.py::test_fault_is_found_naming_its_objects[MIG-01]"
    assert project_unit(matrix) == project_unit("tests/test_fault_matrix.py::test_every_revert_restores_the_cluster")
    assert project_unit("tests/test_x.py::test_y[v1.8.2-True]") == "profile-v1.8.2"
    assert project_unit("tests/test_x.py::test_v143_seeded") == "profile-v1.4.3"
    assert project_unit("tests/test_x.py::test_y[v1.3.1]") == "tests/test_x.py::test_y[v1.3.1]"  # home: balanced
    shared_run = "tests/test_malformed_objects.py"
    assert project_unit(f"{shared_run}::test_a") == project_unit(f"{shared_run}::test_b[case]") == shared_run


CONFTEST = """
from harvester_conformance.scheduling import UnitScheduling

def pytest_xdist_make_scheduler(config, log):
    return UnitScheduling(config, log, lambda nodeid: "together" if "together" in nodeid else nodeid)
"""
TESTS = """
import json, os, pytest

@pytest.mark.parametrize("i", range(6))
def test_together(i):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps([f"together{i}", os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")

@pytest.mark.parametrize("i", range(6))
def test_apart(i):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps([f"apart{i}", os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")
"""


def test_one_unit_runs_on_one_worker_in_a_real_xdist_run(tmp_path: Path) -> None:
    """Two workers, six tests of one unit: they all run on one worker, in order."""
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_units.py").write_text(TESTS)
    out = tmp_path / "ran.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env={"OUT": str(out), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    ran = [json.loads(line) for line in out.read_text().splitlines()]
    together = [(name, worker) for name, worker in ran if name.startswith("together")]
    assert [name for name, _ in together] == [f"together{i}" for i in range(6)]
    assert len({worker for _, worker in together}) == 1
