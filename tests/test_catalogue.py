"""Traceability: article -> catalogue entry -> test, and the catalogue's own consistency."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harvester_conformance.catalogue import applies, entries, satisfies
from harvester_conformance.catalogue.traceability import invariant_tests

SHARED = Path(__file__).resolve().parents[2] / "shared"
KB = SHARED / "kb"
SINCE_SEED = "since-seed/"  # entries of the articles published after the seed name them by this path


def _since_seed(inv: str) -> bool:
    return (entries()[inv].article or "").startswith(SINCE_SEED)


def _documented_ids() -> set[str]:
    text = (SHARED / "invariants.md").read_text()
    return set(re.findall(r"^\| ([A-Z]{3}-\d\d) \|", text, re.M))


@pytest.mark.skipif(not SHARED.exists(), reason="shared/ (the KB and invariants.md) is not beside the clone")
def test_every_documented_invariant_has_one_entry() -> None:
    assert _documented_ids() == set(entries())


@pytest.mark.skipif(not KB.exists(), reason="shared/kb is not beside the clone")
def test_every_article_has_an_entry() -> None:
    articles = {p.name for p in KB.glob("*.md")} - {"INDEX.md"}
    articles |= {f"{SINCE_SEED}{p.name}" for p in (KB / "since-seed").glob("*.md")}
    covered = {e.article for e in entries().values()}
    assert articles - covered == set()


def test_every_test_names_a_catalogued_invariant() -> None:
    assert set(invariant_tests()) <= set(entries())


def test_every_testable_entry_has_a_test() -> None:
    missing = sorted(e.id for e in entries().values() if e.testable and e.id not in invariant_tests())
    assert missing == [], f"{len(missing)} invariants without a test: {', '.join(missing)}"


def test_prerequisites_name_catalogued_invariants() -> None:
    for e in entries().values():
        assert set(e.prerequisites) <= set(entries()) - {e.id}, e.id


def test_every_check_package_declares_its_reads() -> None:
    """The snapshot lists only declared reads: a package without READS could read nothing."""
    from harvester_conformance import declared

    packages = {declared.package_of(t) for tests in invariant_tests().values() for t in tests}
    assert packages
    for p in packages:
        assert declared.package_reads(p), p


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
        ("v1.7.3", "<v1.7.2 || >=v1.8.0,<v1.8.1", False),
        ("v1.8.0", "<v1.7.2 || >=v1.8.0,<v1.8.1", True),
        ("v1.6.1", "<v1.7.2 || >=v1.8.0,<v1.8.1", True),
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
    from harvester_conformance.emulator.areas import all_faults
    from harvester_conformance.emulator.faults import WITHOUT_FAULT

    faults = all_faults()
    seed = {i for i in entries() if not _since_seed(i)}
    assert sorted(seed - set(faults) - set(WITHOUT_FAULT)) == []
    assert not set(faults) & set(WITHOUT_FAULT)
    assert all(f.how for f in faults.values())


def test_every_since_seed_invariant_has_a_fault() -> None:
    """The same rule for the articles published after the seed: a fault, or a stated reason."""
    from harvester_conformance.emulator.areas import all_faults
    from harvester_conformance.emulator.faults import WITHOUT_FAULT

    since = {i for i in entries() if _since_seed(i)}
    missing = sorted(since - set(all_faults()) - set(WITHOUT_FAULT))
    assert missing == [], f"{len(missing)} invariants without a fault: {', '.join(missing)}"


def test_check_packages_speak_their_article_vocabulary() -> None:
    """A check package is named after its article (articles.yaml `name`), asserts only that
    article's invariants, and has its pure checks in the module of the same name."""
    from harvester_conformance import declared
    from harvester_conformance.catalogue import articles

    by_name = {a["name"]: set(a["ids"]) for a in articles()}
    by_name["upgrade_readiness"] = {e.id for e in entries().values() if e.article is None}
    checks_dir = Path(__file__).resolve().parents[1] / "src" / "harvester_conformance" / "checks"
    for inv, tests in invariant_tests().items():
        for t in tests:
            package = declared.package_of(t)
            assert package in by_name, f"{t}: conformance/{package} is not an article name"
            assert inv in by_name[package], f"{t} asserts {inv}, which is not an invariant of {package}"
            assert (checks_dir / f"{package}.py").exists(), f"checks/{package}.py is missing"
