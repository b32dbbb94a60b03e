"""What the fault matrix does not show of the KubeVirt certificate checks: the version gate of the
export certificates, and that a failed undo is reported apart from the verdict, and undone by
`cleanup` after a killed run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester_conformance.changes import SAVED_ANNOTATION
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import areas
from harvester_conformance.waits import wait_for

from .conftest import Emulated, run_suite
from .restore_state import cleanup, kill_when_changed

FAST = ("--timeout-scale", "0.2")
DISRUPTIVE = ("--profile", "full", "--allow-disruptive")


@pytest.mark.parametrize("profile", ["v1.2.1", "v1.3.1"])
def test_export_certificates_follow_the_kubevirt_version(emulated, tmp_path, profile: str) -> None:
    """KubeVirt 0.54 (Harvester v1.2.1) has no export CA; 0.55 and later do (facts.md §17.9)."""
    r = run_suite(tmp_path, emulated(profile).kubeconfig, "--id", "KVC-02")
    assert r.code == 0, r.stdout[-3000:]
    junit = (r.run_dir / "junit.xml").read_text()
    assert ("kubevirt-exportproxy-certs" in junit) is (profile != "v1.2.1")


def _strategy(cl: Cluster) -> tuple[object, dict]:
    kv = cl.get(R.KUBEVIRTS, "kubevirt", "harvester-system") or {}
    return (kv.get("spec") or {}).get("certificateRotateStrategy"), kv["metadata"].get("annotations") or {}


def test_cleanup_failure_is_reported_apart_from_the_verdict(emulated, tmp_path) -> None:
    """virt-operator stuck with virt-api's certificate aged (KVC-03's fault): KVC-07 fails, and its
    undo restores the strategy but the certificate never comes back to the original duration, so
    the undo's wait fails too. That is a cleanup entry; the verdict stays 'failed' (it was 'broken'
    when the wait ran inside the test's `finally`)."""
    c = emulated("v1.3.1")
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    original, _ = _strategy(cl)
    areas.inject("KVC-03", c.kubeconfig)
    try:
        r = run_suite(tmp_path, c.kubeconfig, *DISRUPTIVE, *FAST, "--id", "KVC-07")
        restored, annotations = _strategy(cl)
    finally:
        areas.revert("KVC-03", c.kubeconfig)
    assert r.code == 1
    assert r.record("KVC-07")["status"] == "failed"
    assert [e["step"] for e in r.summary["cleanup"]] == [
        "restore KubeVirt harvester-system/kubevirt spec.certificateRotateStrategy"
    ]
    assert "certificate-reissued" in r.summary["cleanup"][0]["error"]
    assert "cleanup failed after" in r.stdout
    assert restored == original and SAVED_ANNOTATION not in annotations
    diagnostics = list((r.run_dir / "diagnostics").glob("*.json"))
    assert len(diagnostics) == 1
    assert "kubevirt-virt-api-certs" in diagnostics[0].read_text()


def test_cleanup_restores_what_a_killed_run_changed(emulated, tmp_path) -> None:
    """SIGKILL leaves the changed strategy behind; `cleanup` finds the saved original on the CR
    itself and puts it back, touching nothing else.

    virt-operator is held stuck (KVC-03's fault) so that the run waits, with the strategy changed,
    until it is killed: on a healthy cluster the change lives about a second, and a poll can miss
    it (CI once did, waiting out its 60 s while the run had long passed)."""
    c = emulated("v1.3.1")
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    original, _ = _strategy(cl)
    areas.inject("KVC-03", c.kubeconfig)
    try:
        _kill_during_change(c, cl, original, tmp_path)
    finally:
        areas.revert("KVC-03", c.kubeconfig)
    _cleanup_after_kill(c, cl, original, tmp_path)


def _kill_during_change(c: Emulated, cl: Cluster, original: object, tmp_path: Path) -> None:
    """Start KVC-07, and SIGKILL it once its change is on the cluster."""
    kill_when_changed(
        c.kubeconfig,
        [*DISRUPTIVE, "--id", "KVC-07"],
        "killed-run",
        tmp_path / "killed-run.log",
        lambda: _strategy(cl)[0] != original,
        "object-restored",
    )
    left, annotations = _strategy(cl)
    assert left != original and json.loads(annotations[SAVED_ANNOTATION])["run"] == "killed-run"


def _cleanup_after_kill(c: Emulated, cl: Cluster, original: object, tmp_path: Path) -> None:
    out = cleanup(c.kubeconfig, "killed-run", timeout=60)
    assert out.returncode == 0, out.stderr
    assert "restored KubeVirt harvester-system/kubevirt" in out.stdout
    restored, annotations = _strategy(cl)
    assert restored == original and SAVED_ANNOTATION not in annotations
    # The restored duration rotates the certificates back; later tests see them settled.
    wait_for("certificate-reissued", lambda: run_suite(tmp_path, c.kubeconfig, "--id", "KVC-02").code == 0)


def test_duration_change_upstream_would_refuse_is_not_applicable(emulated, tmp_path) -> None:
    """A CR that uses the deprecated certRotateInterval: adding selfSigned.server would mix old and
    new names, which upstream's admission refuses (kubevirt-update-admitter.go validateCertificates),
    so KVC-07 says not applicable, with the reason, and changes nothing."""
    c = emulated("v1.3.1")
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    original, _ = _strategy(cl)
    deprecated = {"selfSigned": {"certRotateInterval": "24h"}}
    cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"certificateRotateStrategy": deprecated}}, "harvester-system")
    try:
        r = run_suite(tmp_path, c.kubeconfig, *DISRUPTIVE, *FAST, "--id", "KVC-07")
        during, annotations = _strategy(cl)
    finally:
        cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"certificateRotateStrategy": None}}, "harvester-system")
        if original:
            cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"certificateRotateStrategy": original}}, "harvester-system")
    record = r.record("KVC-07")
    assert record["status"] == "skipped", record
    assert record["message"].startswith("not applicable") and "certRotateInterval" in record["message"]
    assert during == deprecated and SAVED_ANNOTATION not in annotations
