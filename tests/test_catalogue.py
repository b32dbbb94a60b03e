"""Traceability: article -> catalogue entry -> test, and the catalogue's own consistency."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harvester_conformance.catalogue import applies, entries, satisfies
from harvester_conformance.catalogue.traceability import invariant_tests

SHARED = Path(__file__).resolve().parents[2] / "shared"
KB = SHARED / "kb"
# Invariants whose tests exist; removing one of their tests fails the build.
IMPLEMENTED = {f"KVC-0{i}" for i in range(1, 8)}


def _documented_ids() -> set[str]:
    text = (SHARED / "invariants.md").read_text()
    return set(re.findall(r"^\| ([A-Z]{3}-\d\d) \|", text, re.M))


@pytest.mark.skipif(not SHARED.exists(), reason="shared/ (the KB and invariants.md) is not beside the clone")
def test_every_documented_invariant_has_one_entry() -> None:
    assert _documented_ids() == set(entries())


@pytest.mark.skipif(not KB.exists(), reason="shared/kb is not beside the clone")
def test_every_article_has_an_entry() -> None:
    articles = {p.name for p in KB.glob("*.md")} - {"INDEX.md"}
    covered = {e.article for e in entries().values()}
    assert articles - covered == set()


def test_every_test_names_a_catalogued_invariant() -> None:
    assert set(invariant_tests()) <= set(entries())


def test_implemented_invariants_keep_their_tests() -> None:
    assert IMPLEMENTED - set(invariant_tests()) == set()


@pytest.mark.xfail(strict=True, reason="the articles beyond KubeVirt certificate rotation are open work")
def test_every_testable_entry_has_a_test() -> None:
    missing = sorted(e.id for e in entries().values() if e.testable and e.id not in invariant_tests())
    assert missing == [], f"{len(missing)} invariants without a test: {', '.join(missing)}"


def test_entries_are_complete() -> None:
    for e in entries().values():
        assert e.title and e.remediation and e.severity in {"critical", "high", "medium", "low"}, e.id
        assert e.kind, e.id
        for constraint in e.versions.values():
            satisfies("v1.3.1", constraint)  # parses


@pytest.mark.parametrize(
    "version,constraint,expected",
    [
        ("v1.3.1", ">=v1.3.0", True),
        ("v1.2.1", ">=v1.3.0", False),
        ("1.1.1-150500.8.15.1", ">=1.1", True),
        ("v1.2.1", ">=v1.2.0,<v1.2.2", True),
        ("v1.2.2", ">=v1.2.0,<v1.2.2", False),
        ("v1.27.13+rke2r1", "*", True),
    ],
)
def test_version_constraints(version: str, constraint: str, expected: bool) -> None:
    assert satisfies(version, constraint) is expected


def test_version_gate_says_why() -> None:
    sec03 = entries()["SEC-03"]
    ok, why = applies(sec03, {"harvester": "v1.2.1"})
    assert not ok and "v1.2.1" in why


def test_every_invariant_that_can_fail_has_a_fault() -> None:
    """Each catalogue ID has a fault in the emulated cluster, or a stated reason why none can exist."""
    from harvester_conformance.emulator.faults import WITHOUT_FAULT, all_faults

    faults = all_faults()
    assert sorted(set(entries()) - set(faults) - set(WITHOUT_FAULT)) == []
    assert not set(faults) & set(WITHOUT_FAULT)
    assert all(f.how for f in faults.values())
