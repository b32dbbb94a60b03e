"""The least-privilege roles `harvester-conformance rbac` derives from the declared reads: their
shape, the copy in `ci/` kept in sync, and a run of the `default` profile on the emulated cluster's
real RBAC as a ServiceAccount bound to exactly those roles."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from harvester_conformance import rbac
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.cluster.reads import Read
from tests import service_accounts
from tests.conftest import ROOT, run_suite

CI_RBAC = ROOT / "ci" / "in-cluster-rbac.yaml"


def test_reads_of_one_namespace_become_a_role_there() -> None:
    sel = rbac.Selection("x", ("KVC-01",), (Read(R.SECRETS, "harvester-system"), Read(R.NODES)), False)
    docs = rbac.manifests(sel, service_account="ns1/sa1")
    assert [(d["kind"], d["metadata"].get("namespace")) for d in docs] == [
        ("ClusterRole", None),
        ("ClusterRoleBinding", None),
        ("Role", "harvester-system"),
        ("RoleBinding", "harvester-system"),
    ]
    assert rbac.secret_scopes(docs) == ["harvester-system"]
    assert docs[0]["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]
    assert docs[1]["subjects"] == [{"kind": "ServiceAccount", "name": "sa1", "namespace": "ns1"}]


def test_the_pod_probe_adds_its_writes_only_for_node_checks() -> None:
    sel = rbac.Selection("x", ("ISC-01",), (Read(R.NODES),), True)
    probe_rules = rbac.manifests(sel)[0]["rules"]
    assert {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]} in probe_rules
    assert len(rbac.manifests(sel, pod_probe=False)[0]["rules"]) == 1


def test_selections_with_writes_and_bad_input_are_refused() -> None:
    with pytest.raises(rbac.NotDerivable, match="create or change objects"):
        rbac.select("nightly")
    with pytest.raises(rbac.NotDerivable, match="unknown profile"):
        rbac.select("nope")
    with pytest.raises(rbac.NotDerivable, match="NAMESPACE/NAME"):
        rbac.manifests(rbac.select("quick"), service_account="just-a-name")
    out = subprocess.run(
        [sys.executable, "-m", "harvester_conformance.cli", "rbac", "--profile", "full"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.count("\n") == 1


def test_ci_manifests_are_the_generated_ones() -> None:
    """ci/in-cluster-rbac.yaml is what the in-cluster Job's `default` run needs, regenerated with
    `harvester-conformance rbac --profile default --output ci/in-cluster-rbac.yaml`."""
    out = subprocess.run(
        [sys.executable, "-m", "harvester_conformance.cli", "rbac", "--profile", "default"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert CI_RBAC.read_text() == out.stdout, "regenerate ci/in-cluster-rbac.yaml (see this test's docstring)"
    docs = [d for d in yaml.safe_load_all(CI_RBAC.read_text()) if d]
    declared = {
        r.namespace or "*" for r in rbac.select("default").reads if r.res == R.SECRETS and r.cluster == "harvester"
    }
    assert set(rbac.secret_scopes(docs)) <= declared


def _token_kubeconfig(cl: Cluster, admin: Path, ns: str, sa: str, out: Path) -> Path:
    """A kubeconfig for the ServiceAccount: the admin's cluster entry, a TokenRequest's token."""
    cfg = yaml.safe_load(admin.read_text())
    cfg["users"][0]["user"] = {"token": service_accounts.token(cl, ns, sa)}
    out.write_text(yaml.safe_dump(cfg))
    out.chmod(0o600)
    return out


def test_default_profile_runs_with_exactly_the_generated_roles(emulated, tmp_path) -> None:
    """Complete with the generated roles; without the fleet-local Role, exactly the checks that
    read there are broken, naming the permission, and every other outcome is unchanged."""
    c = emulated("v1.3.1")
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    ns, sa = f"hc-rbac-{uuid.uuid4().hex[:6]}", "suite"
    selection = rbac.select("default")
    docs = rbac.manifests(selection, service_account=f"{ns}/{sa}", pod_probe=False)
    for d in docs:
        d["metadata"]["name"] = f"{ns}-{d['metadata']['name']}"
        if "roleRef" in d:
            d["roleRef"]["name"] = f"{ns}-{d['roleRef']['name']}"
    cl.create(R.NAMESPACES, {"metadata": {"name": ns}})
    try:
        cl.create(R.SERVICE_ACCOUNTS, {"metadata": {"name": sa}}, ns)
        service_accounts.apply(cl, docs)
        kubeconfig = _token_kubeconfig(cl, c.kubeconfig, ns, sa, tmp_path / "sa.kubeconfig")
        probe = ("--node-probe", "simulated", "--hosts-dir", str(c.kubeconfig.parent / "hosts"))
        full = run_suite(tmp_path, kubeconfig, "--profile", "default", *probe)
        statuses = {r["id"]: r["status"] for r in full.summary["invariants"]}
        assert full.code == 0, full.stdout[-3000:]
        assert "broken" not in statuses.values(), statuses
        fleet = [d for d in docs if d["metadata"].get("namespace") == "fleet-local"]
        service_accounts.remove(cl, fleet)
        docs = [d for d in docs if d not in fleet]
        less = run_suite(tmp_path, kubeconfig, "--profile", "default", *probe)
        after = {r["id"]: r["status"] for r in less.summary["invariants"]}
        changed = {i for i in statuses if after.get(i) != statuses[i]}
        assert changed == {"UPG-06"} and after["UPG-06"] == "broken", (changed, after)
        assert "missing permission: list" in less.record("UPG-06")["message"]
        assert less.code == 3 and "Traceback" not in less.stdout + less.stderr
    finally:
        service_accounts.remove(cl, docs)
        cl.delete(R.NAMESPACES, ns)
        cl.close()
