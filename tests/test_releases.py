"""The suite's release table (catalogue/releases.yaml), which row's rules a cluster gets, and what
the reports and `list` say about it. Pure functions are tested without a cluster; one run on the
emulated cluster checks summary.json's `versions` block end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harvester_conformance.catalogue import Entry, applies, entries, parse_version, rules_for, satisfies
from harvester_conformance.catalogue.releases import (
    COMPONENTS,
    compact,
    known,
    newest,
    oldest,
    releases,
    resolve,
    selected,
)
from harvester_conformance.context import RunContext
from harvester_conformance.reporting import summary

from .conftest import ROOT, run_suite

# -- the table -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "harvester,kubevirt,longhorn,rke2,rancher",
    [
        # harvester/harvester deploy/charts/harvester/Chart.yaml (longhorn) and values.yaml
        # (&kubevirtVersion) at each tag; harvester/harvester-installer scripts/version-rke2 and
        # scripts/version-rancher at each tag (facts-releases.md R0.1, re-read at the tags).
        ("v1.2.1", "0.54.0-150400.3.19.1", "v1.4.3", "v1.25.9+rke2r1", "v2.7.5"),
        ("v1.5.0", "1.4.0-150600.5.15.1", "v1.8.1", "v1.32.3+rke2r1", "v2.11.0"),
        ("v1.6.1", "1.5.2-150700.3.5.2", "v1.9.2", "v1.33.5+rke2r1", "v2.12.2"),
        ("v1.7.1", "1.6.3-150700.3.13.1", "v1.10.2", "v1.34.3+rke2r3", "v2.13.1"),
        ("v1.7.3", "1.6.6-150700.15.7.1", "v1.10.2", "v1.34.10+rke2r1", "v2.13.3"),
        ("v1.8.1", "1.7.0-150700.3.21.1", "v1.11.2", "v1.35.6+rke2r1", "v2.14.2"),
        ("v1.8.2", "1.7.4-150700.3.24.2", "v1.11.2", "v1.35.7+rke2r1", "v2.14.3"),
    ],
)
def test_rows_carry_the_upstream_component_versions(harvester, kubevirt, longhorn, rke2, rancher) -> None:
    """Spot checks of the matrix: harvester/harvester Chart.yaml + values.yaml and
    harvester/harvester-installer scripts/version-* at the tag (v1.7.3 and v1.8.2 RKE2/Rancher from
    the installer PRs, marked unverified in the table)."""
    row = known(harvester)
    assert row is not None
    assert (row.kubevirt, row.longhorn, row.rke2, row.rancher) == (kubevirt, longhorn, rke2, rancher)


def test_table_covers_every_minor_from_v1_2_to_v1_8_and_marks_v1_9_as_candidate() -> None:
    """Each minor v1.2 .. v1.8 with its latest patch (facts-releases.md R0.1); v1.9.0 only from
    its release candidates (harvester/harvester tag v1.9.0-rc6: Longhorn 1.12.1, KubeVirt 1.8.4)."""
    labels = [r.label for r in releases()]
    for latest in ("v1.2.2", "v1.3.2", "v1.4.3", "v1.5.2", "v1.6.1", "v1.7.3", "v1.8.2"):
        assert latest in labels
    assert oldest().harvester == "v1.2.1"
    v19 = known("v1.9.0")
    assert v19 is not None and v19.candidate == "v1.9.0-rc6" and v19 == newest()
    assert all(r.candidate is None for r in releases() if r != v19)


def test_rows_are_well_formed_and_in_version_order() -> None:
    rows = releases()
    assert [r.key for r in rows] == sorted(r.key for r in rows)
    for r in rows:
        for value in (r.harvester, r.kubevirt, r.longhorn, r.rke2, r.rancher, r.min_upgradable):
            parse_version(value)
        assert r.longhorn.startswith("v") and r.harvester.startswith("v"), r.harvester
        assert set(r.unverified) <= {"kubevirt", "longhorn", "rke2", "rancher", "cdi"}, r.harvester
        # One minor step at a time (package/upgrade-matrix.yaml): the floor is an older release.
        assert parse_version(r.min_upgradable) < r.key


def test_upgrade_floors_follow_the_upgrade_matrix() -> None:
    """harvester/harvester package/upgrade-matrix.yaml @v1.6.1, v1.7.3, v1.8.2, v1.9.0-rc6."""
    floors = {"v1.6.1": "v1.5.0", "v1.7.3": "v1.6.0", "v1.8.2": "v1.7.0", "v1.9.0": "v1.8.0"}
    for release, floor in floors.items():
        assert known(release).min_upgradable == floor


def test_patch_order_is_version_order_not_date_order() -> None:
    """v1.8.0 was tagged before v1.7.2 (facts-releases.md R0.1 notes): the table sorts by version."""
    assert known("v1.8.0").tagged < known("v1.7.2").tagged
    labels = [r.label for r in releases()]
    assert labels.index("v1.7.3") < labels.index("v1.8.0")


def test_emulator_profiles_agree_with_the_table() -> None:
    """Every release profile of the emulated cluster ships the table's component versions."""
    from harvester_conformance.emulator.profiles import PROFILES

    for name, p in PROFILES.items():
        if name != p.harvester:
            continue  # `scale` and other non-release profiles
        row = known(p.harvester)
        assert row is not None, f"profile {name} is not in catalogue/releases.yaml"
        assert (p.kubevirt, p.longhorn, p.rke2, p.rancher) == (row.kubevirt, row.longhorn, row.rke2, row.rancher)


# -- resolution -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "detected,match,rules_from",
    [
        ("v1.8.2", "exact", "v1.8.2"),
        ("v1.6.1", "exact", "v1.6.1"),
        ("v1.8.0-rc3", "prerelease", "v1.8.0"),
        ("v1.9.0-rc6", "candidate", "v1.9.0-rc6"),
        ("v1.9.0", "candidate", "v1.9.0-rc6"),
        ("v1.8.3", "unknown-patch", "v1.8.2"),  # newer patch of a known minor: its newest row
        ("v1.7.4", "unknown-patch", "v1.7.3"),  # not v1.8.0, although v1.8.0 was tagged earlier
        ("v1.6.9", "unknown-patch", "v1.6.1"),
        ("v1.9.1", "newer", "v1.9.0-rc6"),
        ("v1.10.0", "newer", "v1.9.0-rc6"),
        ("v1.8-head", "branch", "v1.8.2"),
        ("v1.1.2", "older", "v1.2.1"),
        ("v0.3.0", "older", "v1.2.1"),
        ("master-4a1b2c3-head", "unparsable", "v1.9.0-rc6"),
        ("dev", "unparsable", "v1.9.0-rc6"),
        (None, "undetected", "v1.9.0-rc6"),
        ("", "undetected", "v1.9.0-rc6"),
    ],
)
def test_resolution_never_fails_and_says_which_rules(detected, match, rules_from) -> None:
    r = resolve(detected)
    assert (r.match, r.rules_from) == (match, rules_from)
    if match == "exact":
        assert r.note is None
    else:
        assert r.note and rules_from.split("-rc")[0] in r.note
        if detected:
            assert detected in r.note or match == "candidate"


def test_summary_versions_block_for_a_newer_release() -> None:
    block = resolve("v1.8.3").record()
    assert block["rules_from"] == "v1.8.2" and block["match"] == "unknown-patch"
    assert "v1.8.3" in block["note"] and "v1.8.2" in block["note"]
    assert block["release"]["longhorn"] == "v1.11.2" and block["release"]["kubevirt"] == "1.7.4-150700.3.24.2"


def test_run_context_exposes_the_resolution(tmp_path) -> None:
    ctx = RunContext("r", tmp_path, "quick", None, None, False, versions={"harvester": "v1.10.2"})
    assert ctx.release.match == "newer" and ctx.release.rules_from == newest().label


def test_summary_json_and_md_say_which_rules_were_applied(tmp_path) -> None:
    """summary.json keeps `cluster` as detected and gains `versions` (rules_from and the note)."""
    cluster = {"kubernetes": "v1.35.7", "harvester": "v1.8.3", "kubevirt": None, "rke2": None, "longhorn": None}
    doc = summary.write(tmp_path, run_id="r", profile="quick", cluster=cluster, exit_code=0, results={})
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == doc and on_disk["cluster"] == cluster
    assert on_disk["versions"]["rules_from"] == "v1.8.2" and "v1.8.3" in on_disk["versions"]["note"]
    assert "Rules of Harvester v1.8.2: Harvester v1.8.3 is not in" in (tmp_path / "summary.md").read_text()
    summary.allure_metadata(tmp_path / "allure", cluster)
    assert "rules_from=v1.8.2\n" in (tmp_path / "allure" / "environment.properties").read_text()


def test_summary_for_an_unreadable_version_does_not_crash(tmp_path) -> None:
    doc = summary.write(tmp_path, run_id="r", profile="quick", cluster={"harvester": None}, exit_code=3, results={})
    assert doc["versions"]["match"] == "undetected" and doc["versions"]["harvester"] is None


# -- version gates and rules -------------------------------------------------------------------------


def _entry(**versions: str) -> Entry:
    base = entries()["ING-01"]
    return Entry(**{**base.__dict__, "versions": versions})


def test_gate_on_an_unparsable_version_uses_the_resolved_release() -> None:
    """A development build's server-version used to raise in `satisfies`; now it is judged as the
    release whose rules apply, and the reason says so."""
    ok, why = applies(_entry(harvester="<v1.4.3"), {"harvester": "master-4a1b2c3-head"})
    assert not ok and "judged as v1.9.0" in why
    assert applies(_entry(harvester=">=v1.8.0"), {"harvester": "master-4a1b2c3-head"}) == (True, "")
    assert applies(_entry(longhorn=">=1.5.0"), {"longhorn": "not-a-version"}) == (True, "")


def test_every_constraint_names_a_table_column() -> None:
    for e in entries().values():
        assert set(e.versions) <= set(COMPONENTS), e.id
        for rule in e.rules:
            assert rule.rule and set(rule.versions) <= set(COMPONENTS), e.id
            for constraint in rule.versions.values():
                satisfies("v1.3.1", constraint)
            assert selected(rule.versions), f"{e.id}: a rule that no known release selects"


def _rules(inv: str, **detected: str) -> list[str]:
    return [r.rule for r in rules_for(entries()[inv], detected)]


def test_sch01_default_changes_on_fresh_v1_8() -> None:
    """harvester/harvester pkg/settings/settings.go: overcommit-config {"cpu":1600,...,"storage":200}
    @v1.7.3, {"cpu":1000,"memory":150,"storage":100} @v1.8.0 and v1.8.2 (facts-releases.md R2.2)."""
    assert any("1600" in r and "200" in r for r in _rules("SCH-01", harvester="v1.7.3"))
    on_v18 = " ".join(_rules("SCH-01", harvester="v1.8.2"))
    assert '"cpu":1000' in on_v18 and "upgraded from v1.7.x keep 1600" in on_v18


def test_mig01_setting_owns_the_migration_block_from_v1_7() -> None:
    """harvester/harvester pkg/controller/master/setting/kubevirt_migration.go first in v1.7.0
    (absent @v1.6.1); KubeVirt pkg/virt-config/virt-config.go completionTimeoutPerGiB 150 from 1.4.0."""
    v16 = " ".join(_rules("MIG-01", harvester="v1.6.1", kubevirt="1.5.2-150700.3.5.2"))
    v17 = " ".join(_rules("MIG-01", harvester="v1.7.3", kubevirt="1.6.6-150700.15.7.1"))
    assert "KubeVirt CR's spec.configuration.migrations" in v16 and "kubevirt-migration" not in v16
    assert "kubevirt-migration setting" in v17 and "overwritten" in v17
    assert "150" in v16 and "800" in " ".join(_rules("MIG-01", harvester="v1.4.3", kubevirt="1.3.1-150600.5.9.1"))
    assert "kubevirt-migration setting" in entries()["MIG-01"].upstream_note  # the stale article's note


def test_upg03_cdrom_rule_ends_in_v1_8_and_restore_vm_starts_in_v1_6() -> None:
    """harvester/harvester pkg/util/virtualmachineinstance/virtualmachineinstance.go:
    VMContainsCDRomOrContainerDisk in GetAllNonLiveMigratableVMINames @v1.7.3, gone @v1.8.0;
    ExcludeWitnessNodes and IsRestoreVM from v1.6.0 (absent @v1.5.2); checkStaleHotplugVolumes @v1.8.2."""
    assert any("CD-ROM disk or a containerDisk volume makes" in r for r in _rules("UPG-03", harvester="v1.7.3"))
    v180 = _rules("UPG-03", harvester="v1.8.0")
    assert any("no longer make" in r for r in v180) and not any("volumeRequests" in r for r in v180)
    assert any("volumeRequests" in r for r in _rules("UPG-03", harvester="v1.8.2"))
    assert not any("restoreVM" in r for r in _rules("UPG-03", harvester="v1.5.2"))
    assert any("restoreVM" in r for r in _rules("UPG-03", harvester="v1.6.0"))


def test_upg02_upg04_annotations_move_to_the_upgrade_in_v1_5_1() -> None:
    """harvester/harvester pkg/webhook/resources/upgrade/validator.go: version.Annotations @v1.5.0,
    upgrade.Annotations @v1.5.1."""
    for inv in ("UPG-02", "UPG-04"):
        assert any("Version object" in r for r in _rules(inv, harvester="v1.5.0"))
        assert any("Upgrade object" in r for r in _rules(inv, harvester="v1.5.1"))


@pytest.mark.parametrize(
    "inv,component,before,after,marker",
    [
        # longhorn-manager datastore/longhorn.go ValidateSetting (refuses @v1.5.x),
        # controller/setting_controller.go updatePriorityClass (defers from v1.6).
        ("LPC-04", "longhorn", "v1.5.5", "v1.6.0", "refuses"),
        # harvester/harvester pkg/apis/harvesterhci.io/v1beta1/image.go spec.backend from v1.5.0.
        ("CSI-02", "harvester", "v1.4.3", "v1.5.0", "Every VM image"),
        # harvester/harvester pkg/settings/settings_helper.go InitVMForceResetPolicy @v1.7.0.
        ("FRS-01", "harvester", "v1.6.1", "v1.7.0", '"period":300'),
        # longhorn-manager types/setting.go DataEngineSpecific from v1.10.0.
        ("LHP-01", "longhorn", "v1.9.2", "v1.10.1", "plain number"),
    ],
)
def test_version_split_rules_change_at_the_release(inv, component, before, after, marker) -> None:
    assert any(marker in r for r in _rules(inv, **{component: before}))
    assert not any(marker in r for r in _rules(inv, **{component: after}))


def test_kvc02_certificate_set_grows_with_kubevirt() -> None:
    """facts.md 17.12 and facts-releases.md R1.4 (the managed-certificate set per KubeVirt minor)."""
    v16 = " ".join(_rules("KVC-02", kubevirt="1.5.2-150700.3.5.2"))
    v17 = " ".join(_rules("KVC-02", kubevirt="1.6.6-150700.15.7.1"))
    v18 = " ".join(_rules("KVC-02", kubevirt="1.7.4-150700.3.24.2"))
    assert "synchronization-controller" not in v16 and "synchronization-controller" in v17
    assert "vsock-client" not in v17 and "vsock-client" in v18


def test_rules_fall_back_to_the_resolved_release_for_unread_components() -> None:
    """KubeVirt's version unread on a v1.8.2 cluster: the v1.8.2 row's KubeVirt (1.7.4) decides."""
    assert any("vsock-client" in r for r in _rules("KVC-02", harvester="v1.8.2"))
    assert not any("synchronization-controller" in r for r in _rules("KVC-02", harvester="v1.6.1"))


# -- list --------------------------------------------------------------------------------------------


def test_compact_spans() -> None:
    assert compact(releases()) == "all"
    assert compact(()) == "none"
    assert compact(selected({"harvester": "<v1.7.2 || >=v1.8.0,<v1.8.1"})) == "v1.2.1..v1.7.1, v1.8.0"
    assert compact(selected({"harvester": ">=v1.8.0"})) == "v1.8.0..v1.9.0-rc6"


def _list(fmt: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "harvester_conformance.cli", "list", "--format", fmt],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    ).stdout


def test_list_json_shows_the_releases_each_id_applies_to() -> None:
    rows = {r["id"]: r for r in json.loads(_list("json"))}
    assert rows["ING-04"]["releases"] == [r.label for r in selected({"harvester": "<v1.7.2 || >=v1.8.0,<v1.8.1"})]
    assert "v1.7.2" not in rows["ING-04"]["releases"] and "v1.8.0" in rows["ING-04"]["releases"]
    assert rows["KVC-01"]["releases"] == [r.label for r in releases()]
    assert rows["VAT-01"]["releases"][0] == "v1.2.2"  # longhorn >=1.5.0 selects from v1.2.2 (Longhorn 1.5.5)
    split = {tuple(r["releases"]) for r in rows["SCH-01"]["rules"]}
    assert any("v1.8.0" in s and "v1.7.3" not in s for s in split)


def test_list_table_shows_the_releases_compactly() -> None:
    lines = {line.split()[0]: line for line in _list("table").splitlines() if line[:3].isupper()}
    assert "v1.2.1..v1.7.1, v1.8.0" in lines["ING-04"]
    assert " all " in lines["KVC-01"]
    assert "(2 split)" in lines["SCH-01"]


# -- end to end ------------------------------------------------------------------------------------------


def test_a_run_reports_the_rules_it_applied(emulated, tmp_path) -> None:
    """On the emulated v1.3.1 cluster the detected release is a table row: rules from v1.3.1, no note."""
    c = emulated("v1.3.1")
    r = run_suite(tmp_path, c.kubeconfig, "--id", "KVC-01")
    assert r.code == 0, r.stdout[-2000:]
    assert r.summary["versions"] == {
        "harvester": "v1.3.1",
        "rules_from": "v1.3.1",
        "match": "exact",
        "note": None,
        "release": known("v1.3.1").components(),
    }
    assert "Rules of Harvester v1.3.1." in (r.run_dir / "summary.md").read_text()
