"""VEL-02 without a cluster: the article's freeze and thaw hooks on VM templates, their copy on
the launcher pod, and the guest agent (KubeVirt and Velero shapes)."""

from __future__ import annotations

import datetime as dt
import json

from harvester_conformance.checks import velero_filesystem_freeze as vff

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def _cmd(action: str, ns: str = "demo", name: str = "vm-nfs") -> str:
    return json.dumps(["/usr/bin/virt-freezer", action, "--namespace", ns, "--name", name])


def hooks(pre: str | None = None, post: str | None = None, container: str = "compute") -> dict:
    ann = {"pre.hook.backup.velero.io/command": pre if pre is not None else _cmd("--freeze")}
    ann["pre.hook.backup.velero.io/container"] = container
    if post != "":
        ann["post.hook.backup.velero.io/command"] = post if post is not None else _cmd("--unfreeze")
        ann["post.hook.backup.velero.io/container"] = container
    return ann


def vm(ann: dict, name: str = "vm-nfs") -> dict:
    return {"metadata": {"name": name, "namespace": "demo"}, "spec": {"template": {"metadata": {"annotations": ann}}}}


def vmi(agent: bool = True, minutes: int = 30, name: str = "vm-nfs") -> dict:
    started = (NOW - dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    conds = [{"type": "AgentConnected", "status": "True"}] if agent else []
    status = {
        "phase": "Running",
        "conditions": conds,
        "phaseTransitionTimestamps": [{"phase": "Running", "timestamp": started}],
    }  # noqa: E501
    return {"metadata": {"name": name, "namespace": "demo", "uid": "u1"}, "status": status}


def launcher(ann: dict) -> dict:
    meta = {"name": "virt-launcher-vm-nfs-abcde", "namespace": "demo", "labels": {"kubevirt.io/created-by": "u1"}}
    return {"metadata": {**meta, "annotations": ann}, "status": {"phase": "Running"}}


def test_article_hooks_on_a_running_vm_pass() -> None:
    ann = hooks()
    assert vff.check_freeze_hooks([vm(ann)], [vmi()], [launcher(ann)], NOW) == []


def test_vm_without_freeze_hook_is_not_judged() -> None:
    assert (
        vff.check_freeze_hooks([vm({}), vm({"pre.hook.backup.velero.io/command": '["/bin/sync"]'})], [], [], NOW) == []
    )


def test_article_typo_is_not_a_json_array() -> None:
    pre = '["/usr/bin/virt-freezer", "--freeze", "--namespace", "demo", "--name", "vm-nfs"\']'
    found = vff.check_freeze_hooks([vm(hooks(pre=pre))], [], [], NOW)
    assert [f.object for f in found] == ["VirtualMachine demo/vm-nfs"]
    assert "not a well-formed JSON array" in found[0].message


def test_missing_unfreeze_wrong_target_and_container() -> None:
    found = vff.check_freeze_hooks([vm(hooks(post=""))], [], [], NOW)
    assert "no post-hook" in found[0].message
    found = vff.check_freeze_hooks([vm(hooks(pre=_cmd("--freeze", name="other-vm")))], [], [], NOW)
    assert "not the VM's own demo/vm-nfs" in found[0].message
    assert "not compute" in vff.check_freeze_hooks([vm(hooks(container="debugger"))], [], [], NOW)[0].message
    eq_form = json.dumps(["/usr/bin/virt-freezer", "--freeze", "--namespace=demo", "--name=vm-nfs"])
    assert vff.check_freeze_hooks([vm(hooks(pre=eq_form))], [], [], NOW) == []


def test_hooks_missing_on_launcher_and_agent_after_grace() -> None:
    found = vff.check_freeze_hooks([vm(hooks())], [vmi()], [launcher({})], NOW)
    assert "restart the VM" in found[0].message
    found = vff.check_freeze_hooks([vm(hooks())], [vmi(agent=False)], [launcher(hooks())], NOW)
    assert "AgentConnected" in found[0].message
    young = vff.check_freeze_hooks([vm(hooks())], [vmi(agent=False, minutes=2)], [launcher(hooks())], NOW)
    assert young == []
