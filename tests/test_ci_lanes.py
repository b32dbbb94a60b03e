"""The lanes in `ci/` that users copy, validated as far as this machine allows (issue 17, item 6):
the GitHub Actions workflow by actionlint and the GitHub workflow schema, the GitLab job by the
GitLab CI schema (both schemas as check-jsonschema vendors them: nothing is fetched), and the
in-cluster Job with its generated roles by the emulated apiserver in a server-side dry run. Each
validator is shown to refuse a broken copy, so a pass means something."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import versions
from harvester_conformance.waits import wait_for

from . import service_accounts
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


def _delete_namespace(cl: Cluster, name: str) -> None:
    """Deleted and gone (the namespace controller empties it first): the next test creates it anew."""
    cl.delete(R.NAMESPACES, name)
    wait_for("namespace-deleted", lambda: cl.get(R.NAMESPACES, name) is None)


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
        _delete_namespace(cl, namespace["metadata"]["name"])
        cl.close()


SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"  # where the kubelet mounts the pod's token


def _pod_command(job: dict, volumes: dict[str, Path]) -> tuple[list[str], dict[str, str]]:
    """The Job's container command and environment, each volume's mount path mapped to a folder
    of this test."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container.get("volumeMounts", [])}
    cmd = [str(mounts.get(arg, arg)) for arg in container["command"]]
    return cmd, {e["name"]: str(mounts.get(e["value"], e["value"])) for e in container.get("env", [])}


def _in_pod(cmd: list[str], secrets: Path | None, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`cmd` in a mount namespace of its own where `secrets` is the pod's service-account folder
    (a fresh /run hides the host's; None: no token mounted)."""
    mount = f"mkdir -p {SA_DIR} && mount --bind {secrets} {SA_DIR} && " if secrets else ""
    script = f'mount -t tmpfs tmpfs /run && {mount}exec "$@"'
    wrapped = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *cmd]
    return subprocess.run(wrapped, env=env, capture_output=True, text=True, timeout=900, cwd=env["HOME"])


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"),
    reason="mounting the pod's service-account folder needs root and unshare (CI runs as root)",
)
def test_the_jobs_pod_spec_runs_the_suite_with_in_cluster_configuration(emulated, tmp_path) -> None:
    """The Job's command, as its pod would run it: no kubeconfig anywhere, the ServiceAccount's
    token, the cluster's CA and namespace where the kubelet mounts them, KUBERNETES_SERVICE_HOST and
    _PORT set, the reports volume a folder. The ci/ manifests are applied as they are (the account,
    the generated roles), so the run also proves those roles suffice on real RBAC. Only the node
    probe is the emulated cluster's (its kwok nodes have no hosts a probe pod could read)."""
    c = emulated("v1.3.1")
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    docs = _documents("in-cluster-job.yaml", "in-cluster-rbac.yaml")
    namespace, account, job = (next(d for d in docs if d["kind"] == k) for k in ("Namespace", "ServiceAccount", "Job"))
    roles = [d for d in docs if d["kind"] in service_accounts.KINDS]
    ns, sa = account["metadata"]["namespace"], account["metadata"]["name"]
    assert cl.get(R.NAMESPACES, ns) is None
    cl.create(R.NAMESPACES, namespace)
    try:
        cl.create(R.SERVICE_ACCOUNTS, account, ns)
        service_accounts.apply(cl, roles)
        secrets = tmp_path / "serviceaccount"
        secrets.mkdir()
        (secrets / "token").write_text(service_accounts.token(cl, ns, sa))
        entry = yaml.safe_load(c.kubeconfig.read_text())["clusters"][0]["cluster"]
        (secrets / "ca.crt").write_bytes(Path(entry["certificate-authority"]).read_bytes())
        (secrets / "namespace").write_text(ns)
        volumes = {"reports": tmp_path / "reports", "tmp": tmp_path / "tmp"}
        for folder in volumes.values():
            folder.mkdir()
        cmd, pod_env = _pod_command(job, volumes)
        server = urlsplit(entry["server"])
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "TMPDIR": str(volumes["tmp"]),
            **pod_env,  # HOME: the reports volume, so no ~/.kube/config of this machine is found
            "KUBERNETES_SERVICE_HOST": str(server.hostname),
            "KUBERNETES_SERVICE_PORT": str(server.port),
        }
        assert env["HOME"] == str(volumes["reports"]), pod_env
        cmd += ["--node-probe", "simulated", "--hosts-dir", str(c.kubeconfig.parent / "hosts")]
        ran = _in_pod(cmd, secrets, env)
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
        summary = json.loads(next(volumes["reports"].glob("*/summary.json")).read_text())
        statuses = {r["id"]: r["status"] for r in summary["invariants"]}
        assert summary["profile"] == "default" and statuses and "broken" not in statuses.values(), statuses
        # Without the token the pod has no configuration at all: a usage error, said in one line.
        bare = _in_pod(cmd, None, env)
        assert bare.returncode == 2 and "Traceback" not in bare.stdout + bare.stderr, bare.stdout + bare.stderr
    finally:
        service_accounts.remove(cl, roles)
        _delete_namespace(cl, ns)
        cl.close()


def test_the_image_definition_fits_the_job() -> None:
    """ci/Containerfile (no engine here to build it): it installs this repository, whose entry point
    the Job's command names, runs as the user the Job's pod runs as, and its default command is the
    Job's. Its ignore file keeps the local virtualenv and reports out of the build context."""
    lines = [ln.strip() for ln in (CI / "Containerfile").read_text().splitlines() if ln.strip()[:1] not in ("", "#")]
    steps = {ln.split(" ", 1)[0]: ln.split(" ", 1)[1] for ln in lines if ln.split(" ", 1)[0].isupper()}
    job = next(d for d in _documents("in-cluster-job.yaml") if d["kind"] == "Job")
    pod = job["spec"]["template"]["spec"]
    command = pod["containers"][0]["command"]
    assert steps["USER"] == f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    assert yaml.safe_load(steps["CMD"]) == command
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert command[0] in scripts and "pip install --no-cache-dir /tmp/harvester-conformance" in steps["RUN"]
    ignored = (CI / "Containerfile.dockerignore").read_text().split()
    assert {".venv", "reports", ".git"} <= set(ignored)
