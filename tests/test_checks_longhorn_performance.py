"""LHP-01..04 without a cluster (longhorn-manager types/setting.go @v1.4.3 … v1.10.0: plain
`default-replica-count` "3", JSON `{"v1":"3","v2":"3"}` from 1.10.0; v1beta2 node.go fields)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import longhorn_performance as lp


def _node(name: str, allow: bool = True, schedulable: str = "True", disks: dict | None = None) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"allowScheduling": allow, "evictionRequested": False, "disks": disks or {}},
        "status": {"conditions": [{"type": "Schedulable", "status": schedulable}], "diskStatus": {}},
    }


NODES = [_node("n0"), _node("n1"), _node("n2")]


def _setting(value: str) -> dict:
    return {"metadata": {"name": "default-replica-count"}, "value": value}


@pytest.mark.parametrize(
    ("raw", "v2", "expected"),
    [
        ("3", False, {"v1": 3}),
        ('{"v1":"3","v2":"2"}', False, {"v1": 3}),
        ('{"v1":"3","v2":"2"}', True, {"v1": 3, "v2": 2}),
    ],
)
def test_engine_values_plain_and_per_engine_json(raw: str, v2: bool, expected: dict) -> None:
    assert lp.engine_values(raw, v2) == expected


@pytest.mark.parametrize("raw", ["three", '{"v1":"x"}', '{"v2":"3"}', '{"v1":'])
def test_engine_values_refuses_malformed(raw: str) -> None:
    with pytest.raises(ValueError):
        lp.engine_values(raw, False)


def test_replica_count_fails_above_schedulable_nodes_and_advises_outside_2_to_3() -> None:
    assert lp.check_replica_count(_setting("3"), NODES, False) == ([], [])
    assert lp.check_replica_count(_setting('{"v1":"2","v2":"3"}'), NODES, False) == ([], [])
    failed, _ = lp.check_replica_count(_setting("3"), [*NODES[:2], _node("n2", schedulable="False")], False)
    assert failed and failed[0].object == "Setting longhorn-system/default-replica-count"
    assert "2 schedulable" in failed[0].message and "n0, n1" in failed[0].message
    failed, _ = lp.check_replica_count(_setting('{"v1":"3","v2":"4"}'), NODES, True)
    assert len(failed) == 1 and "v2 engine" in failed[0].message
    failed, advice = lp.check_replica_count(_setting("1"), NODES, False)
    assert not failed and "recommends 2" in advice[0].message and "1 (v1 engine" in advice[0].message
    failed, _ = lp.check_replica_count(_setting("abc"), NODES, False)
    assert "not a whole number" in failed[0].message
    assert lp.check_replica_count(None, NODES, False)[0]


def _sc(name: str, params: dict, provisioner: str = lp.DRIVER) -> dict:
    return {"metadata": {"name": name}, "provisioner": provisioner, "parameters": params}


def test_strict_local_only_with_one_replica() -> None:
    assert lp.check_data_locality(_sc("a", {"dataLocality": "best-effort"}), "disabled", 3) is None
    assert lp.check_data_locality(_sc("a", {"numberOfReplicas": "3"}), "disabled", 3) is None
    assert lp.check_data_locality(_sc("a", {"dataLocality": "strict-local", "numberOfReplicas": "1"}), "", 3) is None
    found = lp.check_data_locality(_sc("sl", {"dataLocality": "strict-local", "numberOfReplicas": "3"}), "", 3)
    assert found is not None and found.object == "StorageClass sl" and "best-effort" in found.message
    assert lp.check_data_locality(_sc("d", {}), "strict-local", 2) is not None  # from the setting
    assert lp.check_data_locality(_sc("x", {"dataLocality": "strict-local"}, "other.csi"), "", 3) is None


def test_storage_network_empty_warns() -> None:
    assert lp.check_storage_network({"value": '{"vlan":100,"clusterNetwork":"storage","range":"10.0.0.0/24"}'}) is None
    found = lp.check_storage_network({"value": "", "default": ""})
    assert found is not None and found.object == "Setting storage-network"
    assert lp.check_storage_network(None) is not None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("{httpProxy: x", "not JSON"),
        ('["storage"]', "JSON list, not an object"),
        ('{"vlan":"100","clusterNetwork":"storage","range":"10.0.0.0/24"}', "vlan is '100', not a whole number"),
        ('{"vlan":70000,"clusterNetwork":"storage","range":"10.0.0.0/24"}', "outside 0..65535"),
        ('{"vlan":100,"clusterNetwork":["storage"],"range":"10.0.0.0/24"}', "clusterNetwork is ['storage']"),
        ('{"vlan":100,"clusterNetwork":"storage","range":"10.0.0.0/24","exclude":[1]}', "not strings"),
    ],
)
def test_storage_network_that_does_not_decode_warns(value: str, why: str) -> None:
    """A value the controller cannot unmarshal sets up no storage network: no silent pass."""
    found = lp.check_storage_network({"value": value})
    assert found is not None and found.object == "Setting storage-network"
    assert why in found.message and "cannot decode" in found.message


def test_storage_network_with_exclusions_decodes() -> None:
    value = '{"vlan":2012,"clusterNetwork":"vm-net","range":"10.0.12.0/24","exclude":["10.0.12.1/32"]}'
    assert lp.check_storage_network({"value": value}) is None


def _disk(path: str, allow: bool = True, evict: bool = False) -> dict:
    return {"path": path, "allowScheduling": allow, "evictionRequested": evict}


def test_dedicated_disk_schedulable_or_holding_replicas() -> None:
    root = lp.DEFAULT_DATA_PATH
    ok = _node("n0", disks={"default": _disk(root), "extra": _disk("/var/lib/harvester/extra-disks/x")})
    assert lp.check_data_disk(ok, root) is None
    retired = _node(
        "n2", disks={"default": _disk(root), "extra": _disk("/var/lib/harvester/extra-disks/x", False, True)}
    )
    found = lp.check_data_disk(retired, root)
    assert found is not None and found.object == "Node longhorn-system/n2" and "not schedulable" in found.message
    retired["status"]["diskStatus"] = {"extra": {"scheduledReplica": {"pvc-1-r-1": 1}}}
    assert lp.check_data_disk(retired, root) is None  # an eviction in progress: the data is still there
    assert lp.check_data_disk(_node("n3", disks={"default": _disk(root)}), root) is not None
    assert lp.check_data_disk(_node("w", allow=False), root) is None


# -- LHP-05: recurring backups (per release) and snapshot counts -------------------------------------
def _job(name: str, task: str = "backup", groups: list[str] | None = None) -> dict:
    return {
        "metadata": {"name": name, "namespace": "longhorn-system"},
        "spec": {"name": name, "task": task, "cron": "0 2 * * *", "retain": 7, "groups": groups or []},
    }


def _volume(name: str, labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "namespace": "longhorn-system", "labels": labels or {}}}


def test_job_volumes_default_group_job_label_and_named_group() -> None:
    plain = _volume("v-plain")
    labelled = _volume("v-job", {"recurring-job.longhorn.io/nightly": "enabled"})
    grouped = _volume("v-group", {"recurring-job-group.longhorn.io/critical": "enabled"})
    vols = [plain, labelled, grouped]
    assert lp.job_volumes(_job("daily", groups=["default"]), vols) == ["v-plain"]
    assert lp.job_volumes(_job("nightly"), vols) == ["v-job"]
    assert lp.job_volumes(_job("x", groups=["critical"]), vols) == ["v-group"]
    # a volume labelled with any job leaves the default group
    assert lp.job_volumes(_job("daily", groups=["default"]), [labelled]) == []


def test_before_v14_a_backup_job_reaching_a_volume_passes() -> None:
    assert lp.check_longhorn_backup_jobs([_job("daily-backup", groups=["default"])], [_volume("v")]) == []


def test_before_v14_no_backup_job_is_reported() -> None:
    found = lp.check_longhorn_backup_jobs([_job("snap", task="snapshot", groups=["default"])], [_volume("v")])
    assert [f.object for f in found] == ["RecurringJob longhorn-system/*"]
    assert "longhorn-system/snap (snapshot)" in found[0].message


def test_before_v14_a_backup_job_in_a_group_no_volume_joined_is_named() -> None:
    found = lp.check_longhorn_backup_jobs([_job("daily-backup", groups=["mission-critical"])], [_volume("v")])
    assert [f.object for f in found] == ["RecurringJob longhorn-system/daily-backup"]
    assert "backs up nothing" in found[0].message


def _schedule(name: str, kind: str = "backup", suspended: bool = False, reason: str = "") -> dict:
    status: dict = {"suspended": suspended}
    if suspended:
        status["conditions"] = [{"type": "BackupSuspend", "status": "True", "reason": reason, "message": "m"}]
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "cron": "0 2 * * *",
            "retain": 8,
            "maxFailure": 4,
            "suspend": suspended,
            "vmbackup": {"source": {"kind": "VirtualMachine", "name": "vm"}, "type": kind},
        },
        "status": status,
    }


def test_from_v14_an_active_or_user_suspended_backup_schedule_passes() -> None:
    assert lp.check_backup_schedules([_schedule("s")], []) == []
    assert lp.check_backup_schedules([_schedule("s", suspended=True, reason=lp.USER_SUSPEND)], []) == []


def test_from_v14_a_schedule_harvester_suspended_is_named() -> None:
    found = lp.check_backup_schedules([_schedule("s", suspended=True, reason="Reach Max Failure")], [])
    assert [f.object for f in found] == ["ScheduleVMBackup default/s"]
    assert "Reach Max Failure" in found[0].message


def test_from_v14_snapshot_schedules_only_or_none_are_reported() -> None:
    found = lp.check_backup_schedules([_schedule("snaps", kind="snapshot")], [])
    assert [f.object for f in found] == ["ScheduleVMBackup *"]
    assert "default/snaps" in found[0].message
    assert [f.object for f in lp.check_backup_schedules([], [])] == ["ScheduleVMBackup *"]


def test_from_v14_longhorn_snapshot_and_backup_jobs_are_unsupported() -> None:
    jobs = [_job("b"), _job("s", task="snapshot"), _job("c", task="snapshot-cleanup"), _job("t", "filesystem-trim")]
    found = lp.check_backup_schedules([_schedule("s")], jobs)
    assert [f.object for f in found] == ["RecurringJob longhorn-system/b", "RecurringJob longhorn-system/s"]


def _snap(name: str, volume: str, user: bool = False, removed: bool = False) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"volume": volume},
        "status": {"userCreated": user, "markRemoved": removed},
    }


def test_snapshot_count_above_the_bound_is_reported() -> None:
    snaps = [_snap(f"s{i}", "pvc-a", user=i < 2, removed=i == 3) for i in range(5)] + [_snap("volume-head", "pvc-a")]
    snaps += [_snap("t0", "pvc-b")]
    assert lp.check_snapshot_counts(snaps, 5) == []
    found = lp.check_snapshot_counts(snaps, 4)
    assert [f.object for f in found] == ["Volume longhorn-system/pvc-a"]
    assert "5 snapshots (3 system-generated, 1 marked removed); expected at most 4" in found[0].message
    full = lp.check_snapshot_counts([_snap(f"s{i}", "pvc-c") for i in range(250)], 100)
    assert "Longhorn takes no more" in full[0].message


def test_locality_setting_outside_longhorns_modes_is_named() -> None:
    for mode in ("", *lp.DATA_LOCALITIES):
        assert lp.check_locality_setting({"value": mode}) is None
    assert lp.check_locality_setting(None) is None
    found = lp.check_locality_setting({"value": "nearby"})
    assert found is not None and found.object == "Setting longhorn-system/default-data-locality"
    assert "'nearby'" in found.message and "best-effort" in found.message
