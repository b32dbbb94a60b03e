"""--rerun-failed without a cluster: what an earlier run hands over, and a pass only on rerun
reported as flaky (the end-to-end run is in test_run_contract)."""

from __future__ import annotations

import json

import pytest

from harvester_conformance.reporting import rerun
from harvester_conformance.reporting.outcomes import InvariantResult


def _summary(tmp_path, records: list[dict], profile: str = "nightly") -> str:
    (tmp_path / "summary.json").write_text(json.dumps({"run_id": "r1", "profile": profile, "invariants": records}))
    return str(tmp_path)


def test_only_what_failed_or_broke_is_handed_over(tmp_path) -> None:
    earlier = rerun.load(
        _summary(
            tmp_path,
            [
                {"id": "KVC-01", "status": "passed", "message": ""},
                {"id": "KVC-02", "status": "failed", "message": "CA expires"},
                {"id": "LHP-01", "status": "broken", "message": "missing permission"},
                {"id": "VEL-01", "status": "skipped", "message": "not applicable"},
                {"id": "MIG-01", "status": "warned", "message": "advisory"},
            ],
        )
    )
    assert earlier.run_id == "r1" and earlier.profile == "nightly"
    assert earlier.outcomes == {"KVC-02": ("failed", "CA expires"), "LHP-01": ("broken", "missing permission")}


def test_a_pass_on_rerun_is_flaky_and_a_repeat_failure_stays_failed() -> None:
    earlier = rerun.Earlier("r1", "default", {"KVC-02": ("failed", "CA expires"), "LHP-01": ("broken", "")})
    results = {"KVC-02": InvariantResult("KVC-02", "passed"), "LHP-01": InvariantResult("LHP-01", "failed", "x")}
    marked = rerun.mark_flaky(results, earlier)
    assert marked["KVC-02"].status == "flaky"
    assert marked["KVC-02"].message == "passed only on rerun; failed in run r1: CA expires"
    assert marked["LHP-01"].status == "failed"
    assert results["KVC-02"].status == "passed"  # the collector's own results are left as they are
    assert rerun.mark_flaky(results, None) is results


@pytest.mark.parametrize("content", [None, "not json", '{"run_id": "x"}', "[]"])
def test_what_is_no_earlier_run_is_a_usage_error(tmp_path, content) -> None:
    if content is not None:
        (tmp_path / "summary.json").write_text(content)
    with pytest.raises(rerun.RerunError, match="--rerun-failed"):
        rerun.load(tmp_path)
