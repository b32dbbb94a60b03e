"""The certification evidence bundle: what a `--profile certification` run hands a certifier, and
the checks `verify-bundle` makes on it.

The bundle is a tar.gz holding the run's summary, junit and allure results, the catalogue version
and the entries the run selected, a redacted inventory of the cluster, the options used, and a
SHA-256 manifest of all of these. A vendor's Ed25519 key signs the manifest's bytes, so the
signature covers every file through its digest. The verifier trusts nothing the bundle says about
what is required: it derives the certification profile's invariants from its own catalogue and
refuses a bundle made with another catalogue version.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import posixpath
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harvester_conformance import __version__
from harvester_conformance.catalogue import HERE as CATALOGUE_DIR
from harvester_conformance.catalogue import entries
from harvester_conformance.reporting.redact import REDACT

FORMAT = 1
PROFILE = "certification"
NAME = "evidence.tar.gz"
MANIFEST = "MANIFEST.sha256"
SIGNATURE = "MANIFEST.sha256.sig"
REPORTS = ("summary.json", "summary.md", "junit.xml")
REQUIRED = ("bundle.json", *REPORTS, "catalogue.json", "inventory.json", "options.json")
MAX_BYTES = 1 << 30  # a bundle larger than this, unpacked, is refused unread
# The run's options (pytest dests) the bundle records; of those naming a file, only that it was given.
RECORDED_OPTIONS = (
    "profile",
    "hc_ids",
    "allow_disruptive",
    "strict",
    "timeout_scale",
    "run_timeout",
    "kubeconfig",
    "context",
    "rancher_kubeconfig",
    "guest_kubeconfig",
    "vendor_storage_class",
    "rke2_cert_margin_days",
    "credential_margin_hours",
    "max_snapshots_per_volume",
    "node_probe",
    "probe_image",
    "ssh_user",
    "ssh_key",
    "ssh_hosts",
    "ssh_known_hosts",
    "hosts_dir",
    "signing_key",
    "baseline",
)
# Options that name a file: the bundle says they were given, not where (paths hold user names).
PATH_OPTIONS = {
    "kubeconfig",
    "rancher_kubeconfig",
    "guest_kubeconfig",
    "ssh_key",
    "ssh_hosts",
    "ssh_known_hosts",
    "hosts_dir",
    "signing_key",
    "reports_dir",
    "baseline",
}


class BadKey(ValueError):
    """A signing or public key that cannot be used: the caller's input (exit code 2)."""


def catalogue_version() -> str:
    """The catalogue's data files' SHA-256 (16 hex digits): equal versions mean the same IDs,
    texts and version rules."""
    digest = hashlib.sha256()
    for name in ("invariants.yaml", "articles.yaml"):
        digest.update((CATALOGUE_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


# -- keys -------------------------------------------------------------------------------------------
def load_signing_key(path: str, passphrase: str | None = None) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadKey(f"cannot read the signing key {path}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, passphrase.encode() if passphrase else None)
    except TypeError:
        raise BadKey(
            f"the signing key {path} is encrypted: give its passphrase in $HC_SIGNING_KEY_PASSPHRASE"
        ) from None
    except ValueError:
        raise BadKey(f"the signing key {path} is not a PEM private key (or the passphrase is wrong)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadKey(f"the signing key {path} is not an Ed25519 key")
    return key


def load_public_key(path: str) -> Ed25519PublicKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadKey(f"cannot read the public key {path}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise BadKey(f"the public key {path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BadKey(f"the public key {path} is not an Ed25519 key")
    return key


# -- writing ----------------------------------------------------------------------------------------
def inventory(snapshot: dict | None, versions: dict | None) -> dict:
    """What was certified, from the run's (already sanitized) snapshot: component versions, the
    nodes, storage classes and CSI drivers, and how many objects of each declared read."""
    lists = (snapshot or {}).get("lists") or {}
    items = [i for value in lists.values() if isinstance(value, list) for i in value]

    def of(api_version: str, kind: str) -> list[dict]:
        """Objects of that type (by group too: Longhorn's Node is not Kubernetes')."""
        seen: dict[str, dict] = {}
        for i in items:
            if (i.get("apiVersion"), i.get("kind")) == (api_version, kind):
                seen.setdefault(i["metadata"].get("name", ""), i)
        return [seen[n] for n in sorted(seen)]

    return {
        "versions": versions or {},
        "nodes": [
            {
                "name": n["metadata"].get("name"),
                "roles": sorted(
                    k.removeprefix("node-role.kubernetes.io/")
                    for k in (n["metadata"].get("labels") or {})
                    if k.startswith("node-role.kubernetes.io/")
                ),
                **{
                    k: ((n.get("status") or {}).get("nodeInfo") or {}).get(k)
                    for k in ("kubeletVersion", "osImage", "kernelVersion", "containerRuntimeVersion", "architecture")
                },
            }
            for n in of("v1", "Node")
        ],
        "storage_classes": [
            {"name": s["metadata"].get("name"), "provisioner": s.get("provisioner")}
            for s in of("storage.k8s.io/v1", "StorageClass")
        ],
        "csi_drivers": [d["metadata"].get("name") for d in of("storage.k8s.io/v1", "CSIDriver")],
        "objects": {key: (len(v) if isinstance(v, list) else f"unavailable: {v}") for key, v in sorted(lists.items())},
    }


def recorded_options(options: dict[str, Any]) -> dict[str, Any]:
    """The run's options as the bundle keeps them: values, except that a file's path is only
    said to have been given."""
    out: dict[str, Any] = {}
    for name, value in sorted(options.items()):
        if name in PATH_OPTIONS:
            out[name] = value is not None and value != ""
        else:
            out[name] = value
    return json.loads(REDACT(json.dumps(out)))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(files: dict[str, bytes]) -> bytes:
    """sha256sum's format, sorted by path: `sha256sum -c` checks an unpacked bundle too."""
    return "".join(f"{_digest(data)}  {name}\n" for name, data in sorted(files.items())).encode()


def write(
    run_dir: Path,
    *,
    run_id: str,
    selected: Iterable[str],
    options: dict[str, Any],
    versions: dict | None,
    snapshot_path: Path | None,
    key: Ed25519PrivateKey | None = None,
    junit: Path | None = None,
    allure: Path | None = None,
) -> Path:
    """Pack the finished run's reports into run_dir/evidence.tar.gz (replaced whole); `junit` and
    `allure` where the run wrote them, when not in run_dir."""
    files: dict[str, bytes] = {name: (run_dir / name).read_bytes() for name in REPORTS if name != "junit.xml"}
    files["junit.xml"] = (junit or run_dir / "junit.xml").read_bytes()
    allure = allure or run_dir / "allure-results"
    for path in sorted(allure.rglob("*")) if allure.is_dir() else ():
        if path.is_file():
            files[f"allure-results/{path.relative_to(allure).as_posix()}"] = path.read_bytes()
    catalogue = entries()
    version = catalogue_version()
    chosen = sorted(set(selected))
    files["catalogue.json"] = _json(
        {
            "version": version,
            "invariants": [
                {
                    "id": i,
                    "title": catalogue[i].title,
                    "area": catalogue[i].area,
                    "article": catalogue[i].article,
                    "severity": catalogue[i].severity,
                }
                for i in chosen
            ],
        }
    )
    snapshot = json.loads(snapshot_path.read_text()) if snapshot_path and snapshot_path.exists() else None
    files["inventory.json"] = REDACT(_json(inventory(snapshot, versions)).decode()).encode()
    files["options.json"] = _json(recorded_options(options))
    files["bundle.json"] = _json(
        {
            "format": FORMAT,
            "profile": PROFILE,
            "run_id": run_id,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "catalogue_version": version,
            "suite_version": __version__,
            "signed": key is not None,
        }
    )
    files[MANIFEST] = manifest(files)
    if key is not None:
        files[SIGNATURE] = base64.b64encode(key.sign(files[MANIFEST])) + b"\n"
    target = run_dir / NAME
    partial = target.with_name(NAME + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        top = f"evidence-{run_id}"
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    partial.replace(target)
    return target


def _json(doc: object) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


# -- verifying --------------------------------------------------------------------------------------
@dataclass
class Verification:
    """What verify-bundle found: `problems` reject the bundle; `notes` only inform."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def read(path: Path) -> dict[str, bytes]:
    """The bundle's files by path below its one top folder. ValueError when it is not a bundle
    that can be read safely (not a tar.gz, links, paths leaving the folder, too large)."""
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(path, "r:gz") as tar:
            tops = set()
            for member in tar:
                name = posixpath.normpath(member.name)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise ValueError(f"{member.name}: not a regular file")
                if name.startswith(("/", "..")) or "/" not in name:
                    raise ValueError(f"{member.name}: outside the bundle's folder")
                top, rest = name.split("/", 1)
                tops.add(top)
                total += member.size
                if total > MAX_BYTES:
                    raise ValueError(f"larger than {MAX_BYTES} bytes unpacked")
                handle = tar.extractfile(member)
                files[rest] = handle.read() if handle else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"not a readable tar.gz: {exc}") from None
    if len(tops) != 1:
        raise ValueError(f"expected one top folder, found {len(tops)}")
    return files


def verify(
    files: dict[str, bytes],
    *,
    required: set[str],
    catalogue: str,
    public_key: Ed25519PublicKey | None = None,
) -> Verification:
    """A certifier's checks: complete, unaltered, signed by `public_key` (when given), made with
    this `catalogue` version, and every `required` invariant ran and passed (a skip counts only
    when the check found its subject absent from the cluster: "not applicable")."""
    v = Verification()
    missing = [n for n in (*REQUIRED, MANIFEST) if n not in files]
    if missing:
        v.problems.append(f"missing: {', '.join(missing)}")
    if MANIFEST not in files:
        return v
    listed = _parse_manifest(files[MANIFEST], v)
    content = {n: d for n, d in files.items() if n not in (MANIFEST, SIGNATURE)}
    for name in sorted(set(listed) - set(content)):
        v.problems.append(f"removed: {name} (in the manifest, not in the bundle)")
    for name in sorted(set(content) - set(listed)):
        v.problems.append(f"added: {name} (in the bundle, not in the manifest)")
    for name in sorted(set(listed) & set(content)):
        if _digest(content[name]) != listed[name]:
            v.problems.append(f"altered: {name} (its SHA-256 is not the manifest's)")
    _check_signature(files, public_key, v)
    if v.problems or missing:
        return v
    meta = _load(files, "bundle.json", v)
    summary = _load(files, "summary.json", v)
    if meta is None or summary is None:
        return v
    if meta.get("catalogue_version") != catalogue:
        v.problems.append(
            f"made with catalogue {meta.get('catalogue_version')}, this verifier has {catalogue}: "
            "verify with the suite version that made it"
        )
    if summary.get("profile") != PROFILE or meta.get("profile") != PROFILE:
        v.problems.append(f"not a certification run (profile {summary.get('profile')!r})")
    if summary.get("run_id") != meta.get("run_id"):
        v.problems.append("summary.json and bundle.json name different runs")
    if summary.get("state") != "complete":
        v.problems.append(f"the run did not complete ({summary.get('state')}: {summary.get('stopped_by')})")
    _check_invariants(summary, required, v)
    _check_junit(files["junit.xml"], v)
    if summary.get("exit_code") != 0 and not v.problems:
        v.problems.append(f"the run exited {summary.get('exit_code')}")
    return v


def _parse_manifest(data: bytes, v: Verification) -> dict[str, str]:
    listed: dict[str, str] = {}
    for n, line in enumerate(data.decode(errors="replace").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            v.problems.append(f"{MANIFEST} line {n} is malformed")
            continue
        listed[name] = digest
    return listed


def _check_signature(files: dict[str, bytes], key: Ed25519PublicKey | None, v: Verification) -> None:
    signature = files.get(SIGNATURE)
    if key is None:
        v.notes.append("signed; signature not checked: pass --public-key" if signature else "not signed")
        return
    if signature is None:
        v.problems.append("not signed, and a public key was given")
        return
    try:
        key.verify(base64.b64decode(signature.strip(), validate=True), files[MANIFEST])
    except (InvalidSignature, ValueError):
        v.problems.append("the signature does not verify with the given public key")
        return
    v.notes.append("signature verified with the given public key")


def _load(files: dict[str, bytes], name: str, v: Verification) -> dict | None:
    try:
        doc = json.loads(files[name])
    except ValueError:
        v.problems.append(f"{name} is not JSON")
        return None
    return doc if isinstance(doc, dict) else None


def _check_invariants(summary: dict, required: set[str], v: Verification) -> None:
    records = {r.get("id"): r for r in summary.get("invariants") or [] if isinstance(r, dict)}
    for inv in sorted(required):
        r = records.get(inv)
        if r is None:
            v.problems.append(f"{inv}: did not run")
        elif r.get("status") == "passed":
            v.passed.append(inv)
        elif r.get("status") == "skipped" and "not applicable" in (r.get("message") or ""):
            v.not_applicable.append(inv)
        else:
            v.problems.append(f"{inv}: {r.get('status')}: {r.get('message')}")


def _check_junit(data: bytes, v: Verification) -> None:
    try:
        root = ET.fromstring(data)  # noqa: S314 - the bundle's own junit, checked after its digest
    except ET.ParseError as exc:
        v.problems.append(f"junit.xml does not parse: {exc}")
        return
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    if bad:
        v.problems.append(f"junit.xml records {bad} failed or erroring test(s)")
