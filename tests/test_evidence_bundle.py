"""The certification evidence bundle, made and checked without a cluster (issue 17, item 3): a
fresh bundle verifies; one with a file altered, removed or added, a wrong or missing signature, a
required invariant not passed, or another catalogue's version, is rejected naming why. The run
that writes a real one, and `verify-bundle` on it, are in test_certification_profile."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harvester_conformance.reporting import bundle

REQUIRED = {"CSI-04", "KVC-01", "VEL-01"}
NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "n0", "labels": {"node-role.kubernetes.io/control-plane": "true"}},
    "status": {"nodeInfo": {"kubeletVersion": "v1.29.9+rke2r1", "kernelVersion": "5.14.21"}},
}


def _run_dir(tmp_path: Path, records: list[dict] | None = None) -> Path:
    run = tmp_path / "run"
    (run / "allure-results").mkdir(parents=True)
    records = records or [
        {"id": "CSI-04", "status": "passed", "message": ""},
        {"id": "KVC-01", "status": "passed", "message": ""},
        {"id": "VEL-01", "status": "skipped", "message": "not applicable: Velero is not installed"},
    ]
    doc = {"run_id": "cert", "profile": "certification", "state": "complete", "exit_code": 0, "invariants": records}
    (run / "summary.json").write_text(json.dumps(doc))
    (run / "summary.md").write_text("# summary\n")
    (run / "junit.xml").write_text('<testsuites><testsuite name="pytest" failures="0" errors="0"/></testsuites>')
    (run / "allure-results" / "a-result.json").write_text("{}")
    longhorn_node = {"apiVersion": "longhorn.io/v1beta2", "kind": "Node", "metadata": {"name": "n0"}}
    lists = {"harvester:nodes.longhorn.io": [longhorn_node], "harvester:nodes": [NODE], "harvester:x": "HTTP 500"}
    snapshot = {"format": 1, "lists": lists}
    (run / "snapshot.json").write_text(json.dumps(snapshot))
    return run


def _write(run: Path, key: Ed25519PrivateKey | None = None, **options: object) -> dict[str, bytes]:
    path = bundle.write(
        run,
        run_id="cert",
        selected=REQUIRED,
        options={"profile": "certification", "kubeconfig": "/home/alice/.kube/lab.yaml", **options},
        versions={"harvester": "v1.5.0"},
        snapshot_path=run / "snapshot.json",
        key=key,
    )
    return bundle.read(path)


def _verify(files: dict[str, bytes], key: Ed25519PrivateKey | None = None) -> bundle.Verification:
    public = key.public_key() if key else None
    return bundle.verify(files, required=REQUIRED, catalogue=bundle.catalogue_version(), public_key=public)


def test_a_fresh_signed_bundle_verifies_and_says_what_it_holds(tmp_path) -> None:
    key = Ed25519PrivateKey.generate()
    files = _write(_run_dir(tmp_path), key)
    v = _verify(files, key)
    assert v.ok, v.problems
    assert v.passed == ["CSI-04", "KVC-01"] and v.not_applicable == ["VEL-01"]
    assert "signature verified with the given public key" in v.notes
    inventory = json.loads(files["inventory.json"])
    assert inventory["nodes"] == [
        {
            "name": "n0",
            "roles": ["control-plane"],
            "kubeletVersion": "v1.29.9+rke2r1",
            "osImage": None,
            "kernelVersion": "5.14.21",
            "containerRuntimeVersion": None,
            "architecture": None,
        }
    ]
    assert inventory["objects"] == {
        "harvester:nodes": 1,
        "harvester:nodes.longhorn.io": 1,
        "harvester:x": "unavailable: HTTP 500",
    }
    options = json.loads(files["options.json"])
    assert options["kubeconfig"] is True and b"alice" not in files["options.json"]  # a path is only "given"
    assert {i["id"] for i in json.loads(files["catalogue.json"])["invariants"]} == REQUIRED
    # The manifest is sha256sum's format over every other file.
    assert files[bundle.MANIFEST] == bundle.manifest(
        {n: d for n, d in files.items() if n not in (bundle.MANIFEST, bundle.SIGNATURE)}
    )


def _repack(files: dict[str, bytes], tmp_path: Path) -> dict[str, bytes]:
    """Through a tar again, as a bundle someone edited would come back."""
    path = tmp_path / "edited.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"evidence-cert/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return bundle.read(path)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda f: f.update({"junit.xml": f["junit.xml"] + b" "}), "altered: junit.xml"),
        (lambda f: f.pop("allure-results/a-result.json"), "removed: allure-results/a-result.json"),
        (lambda f: f.update({"extra.txt": b"x"}), "added: extra.txt"),
        (lambda f: f.pop("summary.json"), "missing: summary.json"),
        (lambda f: f.pop(bundle.SIGNATURE), "not signed, and a public key was given"),
    ],
    ids=["altered", "removed", "added", "missing-required", "unsigned"],
)
def test_an_edited_bundle_is_rejected_naming_the_edit(tmp_path, edit, problem) -> None:
    key = Ed25519PrivateKey.generate()
    files = _write(_run_dir(tmp_path), key)
    edit(files)
    v = _verify(_repack(files, tmp_path), key)
    assert not v.ok and any(p.startswith(problem) for p in v.problems), v.problems


def test_a_signature_by_another_key_is_rejected(tmp_path) -> None:
    files = _write(_run_dir(tmp_path), Ed25519PrivateKey.generate())
    v = _verify(files, Ed25519PrivateKey.generate())
    assert v.problems == ["the signature does not verify with the given public key"]


def test_a_resigned_manifest_over_altered_content_still_fails_the_digests(tmp_path) -> None:
    """Whoever alters a report and re-signs must also rewrite the manifest: then the vendor's key
    no longer verifies it."""
    key = Ed25519PrivateKey.generate()
    files = _write(_run_dir(tmp_path), key)
    doc = json.loads(files["summary.json"])
    doc["invariants"][0]["status"] = "passed"
    files["summary.json"] = json.dumps(doc).encode() + b"\n"
    files[bundle.MANIFEST] = bundle.manifest(
        {n: d for n, d in files.items() if n not in (bundle.MANIFEST, bundle.SIGNATURE)}
    )
    v = _verify(files, key)
    assert v.problems == ["the signature does not verify with the given public key"]


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"id": "VEL-01", "status": "skipped", "message": "needs --vendor-storage-class"}, "VEL-01: skipped"),
        ({"id": "VEL-01", "status": "broken", "message": "missing permission: list"}, "VEL-01: broken"),
        ({"id": "VEL-01", "status": "warned", "message": "advisory"}, "VEL-01: warned"),
        (None, "VEL-01: did not run"),
    ],
    ids=["skipped-for-input", "broken", "warned", "absent"],
)
def test_a_required_invariant_not_passed_is_rejected(tmp_path, record, problem) -> None:
    records = [{"id": "CSI-04", "status": "passed"}, {"id": "KVC-01", "status": "passed"}]
    files = _write(_run_dir(tmp_path, [*records, *([record] if record else [])]))
    v = _verify(files)
    assert not v.ok and any(p.startswith(problem) for p in v.problems), v.problems
    assert "not signed" in v.notes


def test_another_catalogue_version_is_refused(tmp_path) -> None:
    files = _write(_run_dir(tmp_path))
    v = bundle.verify(files, required=REQUIRED, catalogue="0" * 16)
    assert any(p.startswith("made with catalogue") for p in v.problems), v.problems


def test_what_is_not_a_bundle_is_refused_unread(tmp_path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="not a readable tar.gz"):
        bundle.read(junk)
    escaping = tmp_path / "escaping.tar.gz"
    with tarfile.open(escaping, "w:gz") as tar:
        info = tarfile.TarInfo("../../etc/evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="outside the bundle's folder"):
        bundle.read(escaping)


def test_keys_that_cannot_sign_are_a_usage_error(tmp_path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other = tmp_path / "ec.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(bundle.BadKey, match="not an Ed25519 key"):
        bundle.load_signing_key(str(other))
    locked = tmp_path / "locked.pem"
    locked.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    with pytest.raises(bundle.BadKey, match="HC_SIGNING_KEY_PASSPHRASE"):
        bundle.load_signing_key(str(locked))
    assert isinstance(bundle.load_signing_key(str(locked), "s3cret"), Ed25519PrivateKey)
    with pytest.raises(bundle.BadKey, match="cannot read"):
        bundle.load_public_key(str(tmp_path / "absent.pem"))
