"""Section "How does kube-scheduler decide where to deploy a VM?": the suite's scheduler-score
model reproduces the article's Tables 1 to 4 (the Kubernetes 1.21 scorer), so that the placements
SCH-04 reports can be explained with it."""

from __future__ import annotations

from harvester_conformance.checks import vm_scheduling as vs
from harvester_conformance.checks.findings import Finding
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require

from .tables import scored_cells


@invariant("SCH-03")
def test_score_model_reproduces_the_article_tables() -> None:
    require(
        [Finding(f"model {cell}", f"article {want}, model {got}") for cell, want, got in scored_cells() if want != got],
        f"the scheduler-score model ({vs.__name__}) disagrees with the article's tables",
    )
