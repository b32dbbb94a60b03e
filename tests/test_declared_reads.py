"""A read-only run lists each declared type exactly once, in the controller, and reads nothing
else: no GET per object, no second LIST in a worker."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from harvester_conformance import declared
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import HARVESTER, union
from harvester_conformance.selection import PROFILES

from .conftest import run_suite

KUBELET_PATHS = ("configz", "stats/summary")


@pytest.mark.parametrize("workers", ["0", "2"])
def test_default_profile_lists_each_declared_type_once(emulated, tmp_path, workers: str) -> None:
    c = emulated("v1.3.1")
    r = run_suite(tmp_path, c.kubeconfig, "--profile", "default", "-n", workers)
    assert r.code == 0, r.stdout[-3000:] + r.stderr[-2000:]
    requests = json.loads((r.run_dir / "api-requests.json").read_text())["harvester"]
    reads = union(declared.reads_for(declared.selected_ids(PROFILES["default"][1], [])))
    lists = {k.removeprefix("LIST "): n for k, n in requests.items() if k.startswith("LIST ")}
    # One LIST per declared (type, namespace) of the Harvester cluster (no Rancher or guest
    # cluster is given here: their reads are not made); a single page each on this small cluster.
    assert lists == dict(Counter(read.res.key for read in reads if read.cluster == HARVESTER)), requests
    # The kubelets have no LIST: UPG-02 reads each node's stats/summary and configz through the
    # node proxy, once per node and path for the whole run.
    nodes = len(json.loads((r.run_dir / "snapshot.json").read_text())["lists"][f"harvester:{R.NODES.key}@*"])
    proxied = {k: n for k, n in requests.items() if k.startswith("GET nodes/proxy/")}
    assert proxied == {f"GET nodes/proxy/{path}": nodes for path in KUBELET_PATHS}, proxied
    others = {k: n for k, n in requests.items() if not k.startswith("LIST ") and k not in proxied}
    assert others == {"GET /version": 1}, others
    assert json.loads((r.run_dir / "snapshot.json").read_text())["captured_at"]
