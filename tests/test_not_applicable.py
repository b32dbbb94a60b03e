"""Checks that do not apply to a cluster say so, as skips with the reason, never as passes: the
cases the healthy profiles never reach (every profile has an iSCSI-booted node)."""

from __future__ import annotations

from .conftest import run_suite


def test_iscsi_checks_are_not_applicable_without_an_iscsi_booted_node(emulated, tmp_path) -> None:
    """With no iBFT on any host (the emulated cluster's one iSCSI-booted node's table set aside, as
    on a cluster installed on local disks), ISC-01 and ISC-02 are skipped naming the reason, and a
    run of only those two evaluated nothing (exit 3, never a pass); with it back, both pass."""
    c = emulated("v1.3.1")
    tables = sorted(c.state.dir.glob("hosts/*/sys/firmware/ibft"))
    assert tables, "the emulated cluster has an iSCSI-booted node"
    aside = [t.with_name("ibft.aside") for t in tables]
    ids = ("--id", "ISC-01", "--id", "ISC-02")
    for table, moved in zip(tables, aside, strict=True):
        table.rename(moved)
    try:
        r = run_suite(tmp_path / "local-disks", c.kubeconfig, *ids)
    finally:
        for table, moved in zip(tables, aside, strict=True):
            moved.rename(table)
    assert r.code == 3, r.stdout[-2000:]
    for inv in ("ISC-01", "ISC-02"):
        record = r.record(inv)
        assert record["status"] == "skipped", record
        assert record["message"].startswith("not applicable: no node boots from iSCSI"), record
    back = run_suite(tmp_path / "iscsi", c.kubeconfig, *ids)
    assert (back.code, back.status("ISC-01"), back.status("ISC-02")) == (0, "passed", "passed"), back.stdout[-2000:]
