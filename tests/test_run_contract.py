"""Exit codes, report contents, xdist parity and secrecy of everything the suite writes."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from harvester_conformance.cluster.client import Cluster

from .conftest import run_suite
from .leaks import leaks, planted_secrets


def test_exit_code_0_when_conforming_and_reports_complete(emulated, tmp_path) -> None:
    c = emulated("v1.3.1")
    r = run_suite(tmp_path, c.kubeconfig)
    assert r.code == 0, r.stdout[-2000:]
    for name in ("summary.json", "summary.md", "junit.xml"):
        assert (r.run_dir / name).is_file()
    allure = r.run_dir / "allure-results"
    results = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    assert results and (allure / "environment.properties").is_file() and (allure / "categories.json").is_file()
    labels = {(lab["name"], lab["value"]) for res in results for lab in res["labels"]}
    assert ("epic", "kubevirt") in labels and ("story", "KVC-03") in labels
    links = [link["url"] for res in results for link in res.get("links", [])]  # upgrade-gate IDs have none
    assert any(url.endswith("kubevirt_certificates_rotation") for url in links)
    s = r.summary
    assert set(s) >= {"run_id", "profile", "cluster", "exit_code", "invariants"}
    assert s["exit_code"] == 0 and s["rerun_of"] is None
    assert (s["state"], s["stopped_by"], s["unfinished"]) == ("complete", None, [])
    assert s["cluster"] == {
        "kubernetes": "v1.34.4",
        "harvester": "v1.3.1",
        "kubevirt": "1.1.1-150500.8.15.1",
        "rke2": "v1.27.13+rke2r1",
        "longhorn": "v1.6.2",
    }
    for rec in s["invariants"]:
        assert set(rec) == {"id", "status", "message", "objects", "remediation"}


def test_exit_code_1_on_violation(emulated, tmp_path) -> None:
    from harvester_conformance.emulator import areas as faults

    c = emulated("v1.3.1")
    faults.inject("KVC-02", c.kubeconfig)
    try:
        r = run_suite(tmp_path, c.kubeconfig, "--id", "KVC-02")
        asked = run_suite(tmp_path, c.kubeconfig, "--id", "KVC-02", "--", "--tb=short")
    finally:
        faults.revert("KVC-02", c.kubeconfig)
    assert r.code == 1 and r.summary["exit_code"] == 1
    # The terminal keeps to the outcome model (issue 16): the tracebacks go to a log, unless asked.
    log = r.run_dir / "tracebacks.log"
    assert "KVC-02" in r.stdout and f"tracebacks: {log}" in r.stdout
    (record,) = r.summary["invariants"]
    assert record["objects"][0] in r.stdout  # the line of why under the invariant's line
    assert "= FAILURES =" not in r.stdout and "\nE " not in r.stdout, r.stdout[-3000:]
    assert re.search(r"failed.* in [0-9.]+s", r.stdout) is None  # pytest's count: not the suite's vocabulary
    assert "test_certificate_lifetimes.py" in log.read_text() and "Violation" in log.read_text()
    assert asked.code == 1 and "= FAILURES =" in asked.stdout and "tracebacks:" not in asked.stdout


def test_rerun_failed_runs_only_what_failed_and_calls_a_pass_on_rerun_flaky(emulated, tmp_path) -> None:
    """Issue 17, reruns: a rerun takes the earlier run's failed and broken IDs only; one failing
    again is failed, one passing now is flaky (exit 1, allure's flaky flag), never a plain pass."""
    from harvester_conformance.emulator import areas as faults

    c = emulated("v1.3.1")
    faults.inject("KVC-02", c.kubeconfig)
    try:
        first = run_suite(tmp_path, c.kubeconfig, "--id", "KVC-02", "--id", "KVC-01")
        again = run_suite(tmp_path, c.kubeconfig, "--rerun-failed", str(first.run_dir))
    finally:
        faults.revert("KVC-02", c.kubeconfig)
    assert (first.status("KVC-02"), first.status("KVC-01")) == ("failed", "passed"), first.stdout[-2000:]
    assert again.code == 1 and again.status("KVC-02") == "failed" and again.status("KVC-01") is None
    assert again.summary["rerun_of"] == first.run_dir.name
    healed = run_suite(tmp_path, c.kubeconfig, "--rerun-failed", str(first.run_dir))
    assert healed.code == 1 and healed.status("KVC-02") == "flaky", healed.stdout[-2000:]
    assert healed.record("KVC-02")["message"].startswith(f"passed only on rerun; failed in run {first.run_dir.name}")
    assert "flaky" in healed.stdout and "flaky" in (healed.run_dir / "summary.md").read_text()
    allure = [json.loads(p.read_text()) for p in (healed.run_dir / "allure-results").glob("*-result.json")]
    assert allure and all(a["statusDetails"]["flaky"] for a in allure), [a.get("statusDetails") for a in allure]
    nothing = run_suite(tmp_path, c.kubeconfig, "--rerun-failed", str(healed.run_dir))
    assert nothing.code == 0 and "nothing to rerun" in nothing.stdout + nothing.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--profile", "bogus"],
        ["--id", "NOPE-99"],
        ["--no-such-option"],
        ["--profile", "full"],
        ["--run-id", "not a label!"],
        ["--timeout-scale", "0"],
        ["--timeout-scale", "-1"],
        ["--timeout", "0"],
        ["--node-probe", "ssh", "--ssh-host", "no-address-given"],
        ["--node-probe", "simulated"],  # without --hosts-dir
        ["--reports-dir", "/proc/no-such-dir"],
        ["--rerun-failed", "/proc/no-such-run"],
        ["--rerun-failed", "/proc", "--id", "KVC-01"],
        ["--baseline", "/proc/no-such-state.json"],
        ["--baseline", "/proc/version"],  # not JSON
    ],
)
def test_exit_code_2_on_bad_usage(emulated, tmp_path, args: list[str]) -> None:
    c = emulated("v1.3.1")
    r = run_suite(tmp_path, c.kubeconfig, *args)
    assert r.code == 2, (r.stdout[-1000:], r.stderr[-1000:])
    assert "Traceback" not in r.stdout + r.stderr


def test_a_file_that_is_no_kubeconfig_is_a_usage_error(tmp_path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("just some text\n")
    r = run_suite(tmp_path, bogus)
    assert r.code == 2 and "is not a kubeconfig" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr


def test_cleanup_without_a_cluster_is_a_usage_error(tmp_path) -> None:
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["HOME"] = str(tmp_path)  # no ~/.kube/config
    out = subprocess.run(
        [sys.executable, "-m", "harvester_conformance.cli", "cleanup"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert out.returncode == 2 and "no cluster given" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_a_context_the_kubeconfig_lacks_is_a_usage_error(emulated, tmp_path) -> None:
    c = emulated("v1.3.1")
    started = time.monotonic()
    r = run_suite(tmp_path, c.kubeconfig, "--context", "no-such-context")
    out = r.stdout + r.stderr
    assert r.code == 2 and time.monotonic() - started < 15, out[-2000:]
    assert len([line for line in out.splitlines() if "no-such-context" in line]) == 1 and "Traceback" not in out


def _kubeconfig_as(c, tmp_path: Path, name: str, pair) -> Path:  # noqa: ANN001 - cluster handle, pki.KeyPair
    """The emulated cluster's kubeconfig with the client certificate `pair` instead of admin's."""
    import yaml

    (tmp_path / f"{name}.crt").write_bytes(pair.cert_pem)
    (tmp_path / f"{name}.key").write_bytes(pair.key_pem)
    doc = yaml.safe_load(c.kubeconfig.read_text())
    doc["users"][0]["user"] = {
        "client-certificate": str(tmp_path / f"{name}.crt"),
        "client-key": str(tmp_path / f"{name}.key"),
    }
    kubeconfig = tmp_path / f"{name}.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(doc))
    return kubeconfig


def test_an_expired_client_certificate_cannot_run_in_one_line(emulated, tmp_path) -> None:
    """The cluster's own CA signed it, but it expired an hour ago: the apiserver refuses it (401)."""
    import datetime as dt

    from harvester_conformance.emulator import pki

    c = emulated("v1.3.1")
    pki_dir = c.state.dir / "pki"
    ca = pki.load((pki_dir / "ca.crt").read_bytes(), (pki_dir / "ca.key").read_bytes())
    now = dt.datetime.now(dt.UTC)
    expired = pki.issue(
        ca,
        "admin",
        dt.timedelta(days=1),
        org="system:masters",
        client=True,
        server=False,
        not_before=now - dt.timedelta(days=1),
        not_after=now - dt.timedelta(hours=1),
    )
    kubeconfig = _kubeconfig_as(c, tmp_path, "expired", expired)
    started = time.monotonic()
    r = run_suite(tmp_path, kubeconfig)
    out = r.stdout + r.stderr
    assert r.code == 3 and time.monotonic() - started < 15, out[-2000:]
    assert len([line for line in out.splitlines() if "401" in line or "Unauthorized" in line]) == 1, out[-2000:]
    assert "Traceback" not in out


def test_exit_code_3_fast_when_unreachable(emulated, tmp_path) -> None:
    c = emulated("v1.3.1")
    dead = tmp_path / "dead.kubeconfig"
    text = c.kubeconfig.read_text()
    port = c.state.ports["apiserver"]
    dead.write_text(text.replace(f"127.0.0.1:{port}", "127.0.0.1:9"))
    started = time.monotonic()
    r = run_suite(tmp_path, dead)
    assert r.code == 3 and time.monotonic() - started < 15
    reason = [line for line in (r.stdout + r.stderr).splitlines() if "unreachable" in line]
    assert len(reason) == 1 and "Traceback" not in r.stdout + r.stderr


def test_parallel_and_serial_runs_agree(emulated, tmp_path) -> None:
    c = emulated("v1.3.1")
    serial = run_suite(tmp_path, c.kubeconfig, "-n", "0")
    parallel = run_suite(tmp_path, c.kubeconfig, "-n", "2")
    assert serial.code == parallel.code == 0
    assert serial.summary["invariants"] == parallel.summary["invariants"]


def test_no_secret_value_in_any_output(emulated, tmp_path) -> None:
    """A failing read-only run (messages, diagnostics, tracebacks) leaks no planted secret. The
    release-profile fault proofs hold every check, the active and disruptive ones included, to
    the same rule on their failing runs."""
    from harvester_conformance.emulator import areas as faults

    c = emulated("v1.3.1")
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    with planted_secrets(cl) as needles:
        faults.inject("KVC-04", c.kubeconfig)  # a failing run: messages and tracebacks are produced
        try:
            r = run_suite(tmp_path, c.kubeconfig, "--timeout-scale", "0.2")
        finally:
            faults.revert("KVC-04", c.kubeconfig)
    assert r.code == 1
    assert len(list(r.run_dir.rglob("*"))) > 5
    assert leaks([r], needles) == []


def test_missing_permissions_are_broken_not_failed(emulated, tmp_path) -> None:
    """An identity that may read nothing: every check that reads the API is broken with the verb
    and resource it lacks, and the run exits 3 (could not run), without a traceback."""

    from harvester_conformance.emulator import pki

    c = emulated("v1.3.1")
    pki_dir = c.state.dir / "pki"
    ca = pki.load((pki_dir / "ca.crt").read_bytes(), (pki_dir / "ca.key").read_bytes())
    who = pki.issue(ca, "conformance-nobody", pki.dt.timedelta(hours=1), client=True, server=False)
    kubeconfig = _kubeconfig_as(c, tmp_path, "nobody", who)
    r = run_suite(tmp_path, kubeconfig)
    assert r.code == 3, r.stdout[-2000:]
    statuses = {rec["id"]: rec["status"] for rec in r.summary["invariants"]}
    # Those that read nothing through the API pass: SCH-03 is a model of the article's tables, and
    # UPG-04 reads the serving certificate from the TLS handshake, which needs no permission. The
    # Rancher and guest-cluster checks are skipped: no such cluster was given.
    other = {i for i, s in statuses.items() if s == "skipped" and "needs the" in r.record(i)["message"]}
    assert other == {"CCR-01", "CCR-02", "IPP-05"}, statuses
    assert statuses and {i for i, s in statuses.items() if s != "broken"} - other <= {"SCH-03", "UPG-04"}, statuses
    assert statuses["KVC-02"] == "broken"
    assert "missing permission: list" in r.record("KVC-02")["message"]
    assert "Traceback" not in r.stdout + r.stderr


def test_list_profiles_and_dry_run_touch_no_cluster(tmp_path) -> None:
    profiles = run_suite(tmp_path, None, "--list-profiles")
    assert profiles.code == 0 and "certification" in profiles.stdout
    dry = run_suite(tmp_path, None, "--dry-run", "--profile", "full", "--allow-disruptive")
    assert dry.code == 0, dry.stdout[-2000:]
    assert "KVC-05" in dry.stdout and "test_deleted_certificate_is_reissued" in dry.stdout


def test_unknown_markers_are_rejected(tmp_path) -> None:
    import subprocess
    import sys

    pkg = tmp_path / "conformance"
    pkg.mkdir()
    (pkg / "test_typo.py").write_text("import pytest\n\n@pytest.mark.read_onyl\ndef test_x():\n    pass\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(pkg),
            "--dry-run",
            "-p",
            "no:cacheprovider",
            "--reports-dir",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "read_onyl" in proc.stdout + proc.stderr


def test_sigterm_during_a_run_stops_the_emulated_cluster(tmp_path) -> None:
    """A cancelled CI job (SIGTERM) leaves no emulated cluster behind."""
    import os
    import signal
    import subprocess
    import sys

    from harvester_conformance.waits import wait_for

    state_root = tmp_path / "state"
    env = {**os.environ, "HC_STATE_DIR": str(state_root), "KUBECONFIG": ""}
    cmd = [sys.executable, "-m", "harvester_conformance.cli", "run", "--reports-dir", str(tmp_path / "reports")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state_file = state_root / "default" / "state.json"
    try:
        # interrupted mid start-up, once the apiserver runs
        wait_for("control-plane-ready", lambda: state_file.exists() and "kube-apiserver" in state_file.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "stopping what was started" in err or "emulated cluster stopped" in err, err[-2000:]
    leftovers = subprocess.run(["pgrep", "-f", str(state_root)], capture_output=True, text=True).stdout.split()
    assert leftovers == []


def test_advisory_warning_exits_0_unless_strict(emulated, tmp_path) -> None:
    """An advisory check's deviation is reported as warned (with its object and remediation) and
    the run conforms; under --strict the same deviation fails the run."""
    from harvester_conformance.emulator import areas as faults
    from harvester_conformance.emulator.areas.harvester_settings import STRICT_LOCAL_CLASS

    c = emulated("v1.3.1")
    faults.inject("LHP-02", c.kubeconfig)
    try:
        lenient = run_suite(tmp_path, c.kubeconfig, "--id", "LHP-02")
        strict = run_suite(tmp_path, c.kubeconfig, "--id", "LHP-02", "--strict")
    finally:
        faults.revert("LHP-02", c.kubeconfig)
    assert lenient.code == 0 and lenient.summary["exit_code"] == 0, lenient.stdout[-2000:]
    warned = lenient.record("LHP-02")
    assert warned["status"] == "warned"
    assert f"StorageClass {STRICT_LOCAL_CLASS}" in warned["objects"] and warned["remediation"]
    assert strict.code == 1 and strict.summary["exit_code"] == 1, strict.stdout[-2000:]
    failed = strict.record("LHP-02")
    assert failed["status"] == "failed" and "--strict" in failed["message"]
    assert f"StorageClass {STRICT_LOCAL_CLASS}" in failed["objects"]
