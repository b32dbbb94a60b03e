"""CIN-01/02 without a cluster: CloudInit rollouts against host files, the users a CloudInit
creates, and "pending" for nodes not booted since the file was rendered."""

from __future__ import annotations

import datetime as dt
import hashlib

from harvester_conformance.checks import cloud_init_files as cif
from harvester_conformance.emulator.areas import cloud_init_files as area
from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs

RENDERED = "2026-01-10T10:00:00Z"
BOOTED_AFTER = int(dt.datetime(2026, 1, 10, 11, 0, tzinfo=dt.UTC).timestamp())
BOOTED_BEFORE = int(dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC).timestamp())
IN_SYNC = [
    {"type": "Applicable", "status": "True", "reason": "CloudInitApplicable", "lastTransitionTime": RENDERED},
    {"type": "OutOfSync", "status": "False", "reason": "CloudInitChecksumMatch", "lastTransitionTime": RENDERED},
    {"type": "Present", "status": "True", "reason": "CloudInitPresentOnDisk", "lastTransitionTime": RENDERED},
]


def ci(name: str = "add-test-user", contents: str = area.USER_CONTENTS, selector: dict | None = None, **spec) -> dict:
    return {
        "metadata": {
            "name": name,
            "annotations": {cif.HASH_ANNOTATION: hashlib.sha256(contents.encode()).hexdigest()},
        },
        "spec": {"matchSelector": selector or {}, "filename": "99_add_test_user.yaml", "contents": contents, **spec},
        "status": {"rollouts": {n: {"conditions": IN_SYNC} for n in ("n0", "n1")}},
    }


def files(contents: str | None = area.USER_CONTENTS, btime: int = BOOTED_AFTER, users: tuple = ("test-user",)) -> dict:
    passwd = "".join(f"{u}:x:1:1::/home/{u}:/bin/bash\n" for u in ("root", "rancher", *users))
    return {
        "/oem/99_add_test_user.yaml": contents.encode() if contents is not None else None,
        cif.PROC_STAT: hostfs.proc_stat(btime).encode(),
        cif.USERS_FILE: passwd.encode(),
    }


LABELS = {"n0": {"kubernetes.io/hostname": "n0"}, "n1": {"kubernetes.io/hostname": "n1"}}


def test_rendered_on_every_selected_node_passes() -> None:
    assert cif.check_rollouts([ci()], LABELS, {"n0": files(), "n1": files()}) == []


def test_missing_file_names_the_cloudinit_and_the_node() -> None:
    found = cif.check_rollouts([ci()], LABELS, {"n0": files(), "n1": files(None)})
    assert [f.object for f in found] == ["CloudInit add-test-user", "Node n1"]
    assert "missing although matchSelector selects the node" in found[0].message


def test_stale_contents_and_status_out_of_sync_are_found() -> None:
    obj = ci()
    obj["status"]["rollouts"]["n0"] = {
        "conditions": [{**c, "status": "True"} if c["type"] == "OutOfSync" else c for c in IN_SYNC]
    }
    found = cif.check_rollouts([obj], LABELS, {"n0": files(), "n1": files("#cloud-config\nusers: []\n")})
    messages = " | ".join(f.message for f in found)
    assert "on node n0: status.rollouts reports Present=True OutOfSync=True" in messages
    assert "on node n1: /oem/99_add_test_user.yaml differs from spec.contents" in messages


def test_file_left_on_a_node_the_selector_does_not_select() -> None:
    obj = ci(selector={"kubernetes.io/hostname": "n0"})
    found = cif.check_rollouts([obj], LABELS, {"n0": files(), "n1": files()})
    assert [f.object for f in found] == ["CloudInit add-test-user", "Node n1"]
    assert "does not select the node" in found[0].message
    assert cif.check_rollouts([obj], LABELS, {"n0": files(), "n1": files(None)}) == []


def test_paused_cloudinits_are_left_alone() -> None:
    assert cif.check_rollouts([ci(paused=True)], LABELS, {"n0": files(None), "n1": files(None)}) == []


def test_missing_rollout_is_reported_and_unsafe_filenames_are_not_read() -> None:
    obj = ci()
    obj["status"] = {}
    found = cif.check_rollouts([obj], {"n0": {}}, {"n0": files()})
    assert "node-manager has not reported" in found[0].message
    assert cif.oem_paths([ci(), {"metadata": {"name": "x"}, "spec": {"filename": "../etc/shadow"}}]) == [
        "/oem/99_add_test_user.yaml"
    ]


def test_hash_falls_back_to_the_contents_before_the_controller_annotates() -> None:
    obj = ci()
    del obj["metadata"]["annotations"]
    assert cif.expected_hash(obj) == hashlib.sha256(area.USER_CONTENTS.encode()).hexdigest()


def test_the_articles_user_cloudinit_is_valid() -> None:
    assert cif.check_user_contents(ci()) == []
    assert [u.name for u in cif.users_of(ci())] == ["test-user"]


def test_users_outside_admin_or_without_cloud_config_header() -> None:
    no_admin = ci(contents=area.USER_CONTENTS.replace("[users, admin]", "users"))
    assert "not in the 'admin' group" in cif.check_user_contents(no_admin)[0].message
    no_header = ci(contents=area.USER_CONTENTS.replace("#cloud-config\n", ""))
    assert "does not start with '#cloud-config'" in cif.check_user_contents(no_header)[0].message
    comma = ci(contents="#cloud-config\nusers:\n  - name: a\n    groups: users, admin\n  - default\n")
    assert cif.check_user_contents(comma) == []
    yip = ci(contents="stages:\n  initramfs:\n    - users:\n        ops:\n          groups: [users]\n")
    assert [f.message for f in cif.check_user_contents(yip)] == ["user(s) ops not in the 'admin' group"]
    assert not cif.creates_users(ci(contents=area.OFFLOAD_CONTENTS))


def test_user_exists_only_judged_after_a_reboot() -> None:
    obj = ci()
    booted = cif.boot_of(obj, "n0", files(btime=BOOTED_AFTER))
    assert booted.since_render
    assert cif.check_users_exist(obj, "n0", files(users=())).object == "Node n0"
    assert cif.check_users_exist(obj, "n0", files()) is None
    pending = cif.boot_of(obj, "n0", files(btime=BOOTED_BEFORE))
    assert not pending.since_render and "n0 (booted 2026-01-10T09:00:00Z" in pending.pending_note(obj)


def test_selected_nodes_split_into_rebooted_and_pending() -> None:
    obj = ci(selector={"kubernetes.io/hostname": "n0"})
    hosts = {"n0": files(btime=BOOTED_AFTER), "n1": files(btime=BOOTED_AFTER)}
    assert cif.booted_since_render(obj, hosts, LABELS) == (["n0"], [])
    judged, pending = cif.booted_since_render(ci(), {**hosts, "n1": files(btime=BOOTED_BEFORE)}, LABELS)
    assert judged == ["n0"] and len(pending) == 1 and pending[0].startswith("n1 (booted")
    unreadable = {"n0": {**files(), cif.PROC_STAT: b"no btime here\n"}}
    judged, pending = cif.booted_since_render(ci(), unreadable, LABELS)
    assert judged == [] and pending[0].startswith("n0 (")


def test_overwrite_event_moves_the_render_time() -> None:
    obj = ci()
    event = {"metadata": {"name": "cloudinit-overwrite-add-test-user.n0"}, "lastTimestamp": "2026-01-10T12:00:00Z"}
    assert cif.rendered_at(obj, "n0", [event]) == dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)
    assert not cif.boot_of(obj, "n0", files(btime=BOOTED_AFTER), [event]).since_render
    no_rollout = ci()
    no_rollout["status"] = {}
    assert cif.rendered_at(no_rollout, "n0") is None
    assert "no rollout reported" in cif.boot_of(no_rollout, "n0", files()).pending_note(no_rollout)
