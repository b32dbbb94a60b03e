"""Issue 17, item 2: the emulated cluster upgraded as Harvester upgrades (`cluster upgrade --to`),
without and with injected regressions. The state recorded before (`snapshot`), the diff after and
a post-upgrade run with `--baseline` report exactly the injected regressions, and the release's own
changes (server-version, components, defaults) as expected.

One cluster of its own, upgraded twice (v1.4.3 to v1.5.0 cleanly, then to v1.6.1 with every
regression), and stopped at the end: no other test sees an upgraded cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from harvester_conformance.emulator import manage

from .conftest import RunResult, run_cli, run_suite

REGRESSION_IDS = ("IPP-06", "NIC-02", "UPG-08")


@pytest.fixture(scope="module")
def cluster():
    name = f"pytest-{os.getpid()}-upgrade"
    st, _ = manage.up("v1.4.3", name=name)
    try:
        yield name, st.kubeconfig
    finally:
        assert manage.down(name) == []
        shutil.rmtree(st.dir, ignore_errors=True)  # PKI and logs of a throw-away cluster


def _prepare(kubeconfig: Path) -> list[str]:
    """What Harvester's upgrade documentation asks first: VMs that cannot be live-migrated are
    shut down (the upgrade would shut them down on their node's turn). Returns them."""
    from harvester_conformance.cluster import resources as R
    from harvester_conformance.cluster.client import Cluster
    from harvester_conformance.emulator.upgrade import live_migratable
    from harvester_conformance.waits import wait_for

    cl = Cluster.from_kubeconfig(str(kubeconfig))
    try:
        pinned = [v["metadata"] for v in cl.list(R.VMIS) if not live_migratable(v)]
        for meta in pinned:
            cl.patch(R.VMS, meta["name"], {"spec": {"running": False}}, meta["namespace"])
        for meta in pinned:
            wait_for("vmi-stopped", lambda m=meta: cl.get(R.VMIS, m["name"], m["namespace"]) is None)
        return [f"{m['namespace']}/{m['name']}" for m in pinned]
    finally:
        cl.close()


def _snapshot(path: Path, kubeconfig: Path) -> Path:
    r = run_cli("snapshot", str(path), "--kubeconfig", str(kubeconfig))
    assert r.returncode == 0, r.stdout + r.stderr
    return path


def _diff(before: Path, after: Path) -> tuple[int, list[dict]]:
    r = run_cli("diff", str(before), str(after), "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)["changes"]


def _regression_run(tmp_path: Path, kubeconfig: Path, before: Path) -> RunResult:
    ids = [a for i in REGRESSION_IDS for a in ("--id", i)]
    return run_suite(tmp_path, kubeconfig, "--profile", "post-upgrade", "--baseline", str(before), *ids)


def test_a_clean_upgrade_changes_only_what_the_release_changes(cluster, tmp_path: Path) -> None:
    name, kubeconfig = cluster
    _prepare(kubeconfig)
    before = _snapshot(tmp_path / "before.json", kubeconfig)
    up = run_cli("cluster", "upgrade", "--to", "v1.5.0", "--name", name)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    assert "harvester-node-2: upgraded to RKE2 v1.32.3+rke2r1" in up.stdout
    code, changes = _diff(before, _snapshot(tmp_path / "after.json", kubeconfig))
    assert code == 0 and [c for c in changes if not c["expected"]] == [], changes
    objects = {c["object"] for c in changes}
    assert {
        "Setting server-version",
        "KubeVirt harvester-system/kubevirt",
        "Setting longhorn-system/current-longhorn-version",
        "Nodes (kubeletVersion)",
    } <= objects, objects
    r = _regression_run(tmp_path, kubeconfig, before)
    assert r.code == 0 and {i: r.status(i) for i in REGRESSION_IDS} == dict.fromkeys(REGRESSION_IDS, "passed"), (
        r.stdout[-3000:]
    )
    # A baseline taken without reading the hosts cannot tell whether their NICs survived.
    unprobed = json.loads(before.read_text()) | {"host_nics": None}
    (tmp_path / "unprobed.json").write_text(json.dumps(unprobed))
    r = run_suite(
        tmp_path,
        kubeconfig,
        "--profile",
        "post-upgrade",
        "--baseline",
        str(tmp_path / "unprobed.json"),
        "--id",
        "NIC-02",
    )
    assert r.code == 3 and r.status("NIC-02") == "broken", r.stdout[-3000:]
    assert "the baseline recorded no host NICs" in r.record("NIC-02")["message"]


def test_an_upgrade_with_regressions_is_found_exactly(cluster, tmp_path: Path) -> None:
    name, kubeconfig = cluster
    assert _prepare(kubeconfig) == []  # the earlier upgrade's preparation holds
    before = _snapshot(tmp_path / "before.json", kubeconfig)
    regressions = ("vm-stopped", "ip-not-kept", "nic-renamed", "setting-reset")
    up = run_cli(
        "cluster", "upgrade", "--to", "v1.6.1", "--name", name, *(a for r in regressions for a in ("--regression", r))
    )
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    code, changes = _diff(before, _snapshot(tmp_path / "after.json", kubeconfig))
    found = {(c["invariant"], c["object"]) for c in changes if not c["expected"]}
    # What the upgrade says it broke, and the pool whose allocation moved with the load balancer.
    said = re.findall(r"^\[upgrade\] regression injected \((\S+)\): (.+): ", up.stdout, re.M)
    injected = {(inv, o) for inv, objects in said for o in objects.split("; ")} | {("IPP-06", "IPPool default-pool")}
    assert len(said) == len(regressions) and code == 1 and found == injected, (found ^ injected, said)
    r = _regression_run(tmp_path, kubeconfig, before)
    assert r.code == 1 and {i: r.status(i) for i in REGRESSION_IDS} == dict.fromkeys(REGRESSION_IDS, "failed"), (
        r.stdout[-3000:]
    )
    assert {o for inv, o in injected if inv == "UPG-08"} == set(r.record("UPG-08")["objects"])


def test_an_upgrade_harvester_refuses_changes_nothing(cluster) -> None:
    name, _ = cluster
    for args, reason in (
        (("--to", "v1.2.1"), "not a later release"),
        (("--to", "v9.9.9"), "cannot upgrade to 'v9.9.9'"),
        (("--to", "v1.8.2"), "v1.8.2 upgrades from v1.7.0 on"),
        (("--to", "v1.7.3", "--regression", "everything-broken"), "unknown regression"),
    ):
        r = run_cli("cluster", "upgrade", "--name", name, *args)
        assert r.returncode == 2 and reason in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_the_paths_harvester_admits() -> None:
    """Pure: a later release whose minUpgradableVersion the source meets (releases.yaml)."""
    from harvester_conformance.emulator import upgrade

    assert upgrade.target_of("v1.4.3", "v1.5.0").upgraded_from == "v1.4.3"
    assert upgrade.target_of("v1.7.3", "v1.8.2").kubevirt == "1.7.4-150700.3.24.2"
    for current, to in (("v1.5.0", "v1.5.0"), ("v1.3.1", "v1.5.0"), ("v1.4.3", "scale")):
        with pytest.raises(upgrade.BadUpgrade):
            upgrade.target_of(current, to)
    with pytest.raises(upgrade.BadUpgrade, match="known: vm-stopped"):
        upgrade.check_regressions(["vm-stopped", "nope"])
