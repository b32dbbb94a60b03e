"""The lanes in `ci/` that users copy, validated as far as this machine allows (issue 17, item 6):
the GitHub Actions workflow by actionlint and the GitHub workflow schema, the GitLab job by the
GitLab CI schema (both schemas as check-jsonschema vendors them: nothing is fetched), and the
in-cluster Job with its generated roles by the emulated apiserver in a server-side dry run. Each
validator is shown to refuse a broken copy, so a pass means something."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import versions

from .conftest import ROOT

CI = ROOT / "ci"
ACTIONLINT = "v1.7.12"  # github.com/rhysd/actionlint, built from its Go module (cached outside the clone)
JOBS = R.Resource("batch", "v1", "jobs", "Job", True)  # the suite itself never reads Jobs
SCHEMAS = {"github-actions-lab.yml": "vendor.github-workflows", "gitlab-nightly.yml": "vendor.gitlab-ci"}


def _actionlint() -> Path:
    """actionlint, built once into the project's cache (a lock keeps two workers from racing)."""
    folder = versions.cache_root() / "tools" / f"actionlint-{ACTIONLINT}"
    exe = folder / "actionlint"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / ".actionlint.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.access(exe, os.X_OK):
            env = {**os.environ, "GOBIN": str(folder), "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOWORK": "off"}
            cmd = ["go", "install", f"github.com/rhysd/actionlint/cmd/actionlint@{ACTIONLINT}"]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, f"building actionlint failed: {done.stderr[-2000:]}"
    return exe


def _schema(name: str, path: Path) -> subprocess.CompletedProcess[str]:
    cmd = [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema", SCHEMAS[name], str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _broken(tmp_path: Path, name: str) -> Path:
    """A copy with a mistake users make: a key misspelt where the schema allows no other."""
    doc = yaml.safe_load((CI / name).read_text())
    if name.startswith("github"):
        job = doc["jobs"]["conformance"]
        job["runs_on"] = job.pop("runs-on")
    else:
        doc["harvester-conformance"]["artifact"] = doc["harvester-conformance"].pop("artifacts")
    out = tmp_path / name
    out.write_text(yaml.safe_dump(doc))
    return out


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_lane_fits_its_ci_schema(tmp_path, name: str) -> None:
    ok = _schema(name, CI / name)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    refused = _schema(name, _broken(tmp_path, name))
    assert refused.returncode == 1 and "validation errors" in refused.stdout + refused.stderr, refused.stdout


def test_github_lane_passes_actionlint(tmp_path) -> None:
    exe = [str(_actionlint()), "-no-color", "-config-file", str(CI / "actionlint.yaml")]
    ok = subprocess.run([*exe, str(CI / "github-actions-lab.yml")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # An expression injected into a shell script is what actionlint exists to catch.
    text = (
        (CI / "github-actions-lab.yml")
        .read_text()
        .replace("--run-id", "--run-id ${{ github.event.head_commit.message }}")
    )
    bad = tmp_path / "workflow.yml"
    bad.write_text(text)
    refused = subprocess.run([*exe, str(bad)], capture_output=True, text=True)
    assert refused.returncode == 1 and "potentially untrusted" in refused.stdout, refused.stdout


def _documents(*names: str) -> list[dict]:
    return [d for n in names for d in yaml.safe_load_all((CI / n).read_text()) if d]


def _resource(doc: dict) -> R.Resource:
    known = [*vars(R).values(), JOBS]
    found = [
        r for r in known if isinstance(r, R.Resource) and (r.api_version, r.kind) == (doc["apiVersion"], doc["kind"])
    ]
    assert found, f"no resource for {doc['apiVersion']} {doc['kind']}"
    return found[0]


def test_in_cluster_job_and_its_roles_are_accepted_by_the_apiserver(emulated) -> None:
    """Server-side dry run of every document (the Job's namespace created for it, then removed):
    the apiserver's schema, RBAC and admission accept them as a user's `kubectl apply` would."""
    cl = Cluster.from_kubeconfig(str(emulated("v1.3.1").kubeconfig))
    docs = _documents("in-cluster-job.yaml", "in-cluster-rbac.yaml")
    namespace = next(d for d in docs if d["kind"] == "Namespace")
    job = next(d for d in docs if d["kind"] == "Job")
    # The Job runs as the ServiceAccount the generated bindings name, with in-cluster configuration.
    subjects = {(s["namespace"], s["name"]) for d in docs if d["kind"].endswith("Binding") for s in d["subjects"]}
    account = (job["metadata"]["namespace"], job["spec"]["template"]["spec"]["serviceAccountName"])
    assert subjects == {account}, subjects
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][:2] == ["harvester-conformance", "run"]
    assert cl.get(R.NAMESPACES, namespace["metadata"]["name"]) is None
    cl.create(R.NAMESPACES, namespace)
    try:
        for doc in docs:
            if doc is namespace:
                continue
            res = _resource(doc)
            ns = doc["metadata"].get("namespace")
            try:
                cl.request("POST", res.path(ns), body=doc, query={"dryRun": "All", "fieldValidation": "Strict"})
            except ApiError as exc:
                pytest.fail(f"{doc['kind']} {ns}/{doc['metadata']['name']} refused: {exc}")
        with pytest.raises(ApiError, match="unknown field"):
            bad = {**job, "spec": {**job["spec"], "backofLimit": 1}}
            cl.request("POST", JOBS.path(account[0]), body=bad, query={"dryRun": "All", "fieldValidation": "Strict"})
    finally:
        cl.delete(R.NAMESPACES, namespace["metadata"]["name"])
        cl.close()
