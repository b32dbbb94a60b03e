"""The vendor certification profile end to end (issue 12): on the emulated cluster the simulated
Trident driver is certified, and without its VolumeSnapshotClass the run fails naming that class.
Each run leaves its evidence bundle (issue 17), which `verify-bundle` accepts with the vendor's
key, and rejects with another key or when a required invariant failed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas.harvester_hosts_rancher import TRIDENT, TRIDENT_CLASS
from harvester_conformance.waits import wait_for

from .conftest import ROOT, Emulated, RunResult, run_suite

# The class csi-driver-config names for Trident (both keys), as the NetApp KB installs it.
SNAPSHOT_CLASS = "trident-snapshotclass"


def _keys(folder: Path) -> tuple[Path, Path, bytes]:
    """A vendor's Ed25519 key pair as PEM files (private, public) and the private key's PEM."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    folder.mkdir(exist_ok=True)
    (folder / "vendor.pem").write_bytes(private)
    (folder / "vendor.pub").write_bytes(public)
    return folder / "vendor.pem", folder / "vendor.pub", private


def _verify(evidence: Path, public: Path | None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "harvester_conformance.cli", "verify-bundle", str(evidence)]
    cmd += ["--public-key", str(public)] if public else []
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


def _certify(tmp_path: Path, c: Emulated, *extra: str) -> RunResult:
    """`run --profile certification` the way `run` drives an emulated cluster: the same apiserver
    plays the Rancher and guest clusters and the hosts are simulated, so nothing is skipped for a
    missing input."""
    kubeconfig = str(c.kubeconfig)
    return run_suite(
        tmp_path,
        c.kubeconfig,
        "--profile",
        "certification",
        "--vendor-storage-class",
        TRIDENT_CLASS,
        "--rancher-kubeconfig",
        kubeconfig,
        "--guest-kubeconfig",
        kubeconfig,
        "--node-probe",
        "simulated",
        "--hosts-dir",
        str(c.state.dir / "hosts"),
        "--timeout-scale",
        "0.2",
        *extra,
    )


def _not_passed(r: RunResult) -> dict[str, str]:
    """Every ID that neither passed nor was skipped as not applicable, with its message."""
    out = {}
    for rec in (r.summary or {}).get("invariants", []):
        applicable = rec["status"] == "skipped" and "not applicable" in rec["message"]
        if rec["status"] != "passed" and not applicable:
            out[rec["id"]] = f"{rec['status']}: {rec['message']}"
    return out


def test_certification_passes_then_fails_naming_the_missing_snapshot_class(emulated, tmp_path) -> None:
    c = emulated("v1.3.1")
    private, public, private_pem = _keys(tmp_path / "keys")
    healthy = _certify(tmp_path, c, "--signing-key", str(private))
    assert healthy.code == 0, (_not_passed(healthy), healthy.stdout[-2000:])
    assert _not_passed(healthy) == {}
    assert healthy.status("CSI-04") == "passed", healthy.record("CSI-04")
    evidence = healthy.run_dir / "evidence.tar.gz"
    assert f"evidence bundle: {evidence} (signed)" in healthy.stdout
    verified = _verify(evidence, public)
    assert verified.returncode == 0 and "bundle verified" in verified.stdout, verified.stdout + verified.stderr
    _, other, _ = _keys(tmp_path / "other-keys")
    forged = _verify(evidence, other)
    assert forged.returncode == 1 and "signature does not verify" in forged.stdout, forged.stdout
    key_body = private_pem.decode().splitlines()[1]
    assert key_body not in healthy.stdout + healthy.stderr and key_body.encode() not in evidence.read_bytes()

    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    saved = cl.get(R.VOLUME_SNAPSHOT_CLASSES, SNAPSHOT_CLASS)
    assert saved is not None and saved["driver"] == TRIDENT
    cl.delete(R.VOLUME_SNAPSHOT_CLASSES, SNAPSHOT_CLASS)
    try:
        wait_for("cluster-seeded", lambda: cl.get(R.VOLUME_SNAPSHOT_CLASSES, SNAPSHOT_CLASS) is None)
        broken = _certify(tmp_path, c)
    finally:
        body = {k: v for k, v in saved.items() if k != "metadata"}
        body["metadata"] = {k: v for k, v in saved["metadata"].items() if k in ("name", "labels", "annotations")}
        if cl.get(R.VOLUME_SNAPSHOT_CLASSES, SNAPSHOT_CLASS) is None:
            cl.create(R.VOLUME_SNAPSHOT_CLASSES, body)
        wait_for("cluster-seeded", lambda: cl.get(R.VOLUME_SNAPSHOT_CLASSES, SNAPSHOT_CLASS) is not None)
        cl.close()

    assert broken.code == 1 and broken.summary["exit_code"] == 1, broken.stdout[-2000:]
    refused = _verify(broken.run_dir / "evidence.tar.gz", None)
    assert refused.returncode == 1 and "problem: CSI-04: failed" in refused.stdout, refused.stdout
    failed = {i: m for i, m in _not_passed(broken).items() if m.startswith("failed")}
    assert "CSI-04" in failed, _not_passed(broken)
    csi04 = broken.record("CSI-04")
    assert f"VolumeSnapshotClass {SNAPSHOT_CLASS}" in csi04["message"]
    assert "does not exist" in csi04["message"]
    assert f"VolumeSnapshotClass {SNAPSHOT_CLASS}" in csi04["objects"]
    assert csi04["remediation"]
    # What the user reads: the summary names the ID, the class and what is wrong with it.
    text = (broken.run_dir / "summary.md").read_text()
    assert "CSI-04" in text and SNAPSHOT_CLASS in text and "does not exist" in text
    assert "CSI-04" in broken.stdout and SNAPSHOT_CLASS in broken.stdout
    # Nothing else broke: only the checks that read the snapshot classes fail, each naming it.
    assert set(failed) <= {"CSI-01", "CSI-04", "NTA-01"}, failed
    for inv in failed:
        assert SNAPSHOT_CLASS in failed[inv] or TRIDENT in failed[inv], (inv, failed[inv])
        assert broken.record(inv)["remediation"], inv
