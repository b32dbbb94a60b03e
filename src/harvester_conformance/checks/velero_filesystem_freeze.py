"""Filesystem freeze during Velero backups (article 2025-10-07): VEL-02.

The article puts Velero's backup hooks on the VM template, from where KubeVirt copies the
template's annotations onto the virt-launcher pod, where Velero runs them (Velero
pkg/podexec and internal/hook: `pre.hook.backup.velero.io/command` and `post...`; a value starting
with "[" is decoded as a JSON array, anything else is one single argument; `.../container` defaults
to the pod's first container, which in a virt-launcher pod is `compute`). The pre-hook runs
`virt-freezer --freeze --namespace <ns> --name <vm>` and the post-hook `--unfreeze` (kubevirt
cmd/virt-freezer: pflag flags, `--name=x` accepted too); without the post-hook the guest's
filesystems stay frozen until virt-freezer's own timeout (`--unfreezeTimeoutSeconds`, 300 s).
Freezing needs the QEMU guest agent: the VMI's `AgentConnected` condition is True once the agent
answers, which takes a boot; a VMI younger than the grace period is not judged on it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from harvester_conformance.checks.findings import Finding
from harvester_conformance.checks.timestamps import parse_time

PRE, POST = "pre.hook.backup.velero.io", "post.hook.backup.velero.io"
COMPUTE = "compute"
FREEZER = "virt-freezer"
AGENT_GRACE = dt.timedelta(minutes=10)
HOOK_KEYS = tuple(f"{p}/{k}" for p in (PRE, POST) for k in ("command", "container", "on-error", "timeout"))


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def template_annotations(vm: dict) -> dict:
    return ((((vm.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations")) or {}


def parse_command(text: str) -> list[str] | None:
    """Velero's reading of a hook command: a JSON array of strings, or one argument; None when a
    value meant as an array is not one."""
    text = text.strip()
    if not text.startswith("["):
        return [text]
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(x, str) for x in value) else None


def _flag(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return None


def is_freeze_hook(text: str | None) -> bool:
    """A pre-hook meant to run virt-freezer --freeze (well formed or not)."""
    return bool(text) and FREEZER in str(text) and "--freeze" in str(text)


def _hook_problems(ann: dict, prefix: str, action: str, ns: str, name: str) -> list[str]:
    text = ann.get(f"{prefix}/command")
    kind = "pre" if prefix == PRE else "post"
    if not text:
        return [f"no {kind}-hook ({prefix}/command) running {FREEZER} {action}"]
    args = parse_command(text)
    if args is None:
        return [f"{kind}-hook command {text!r} is not a well-formed JSON array of strings: Velero cannot run it"]
    problems = []
    if not args or not args[0].endswith(FREEZER) or action not in args:
        problems.append(f"{kind}-hook command {args} does not run {FREEZER} {action}")
    if _flag(args, "namespace") != ns or _flag(args, "name") != name:
        problems.append(
            f"{kind}-hook names --namespace {_flag(args, 'namespace')!r} --name {_flag(args, 'name')!r}, "
            f"not the VM's own {ns}/{name}"
        )
    container = ann.get(f"{prefix}/container")
    if container not in (None, COMPUTE):
        problems.append(f"{kind}-hook container is {container!r}, not {COMPUTE} (where {FREEZER} is)")
    return problems


def _launcher(pods: Iterable[dict], vmi: dict) -> dict | None:
    uid = _meta(vmi).get("uid")
    running = [
        p
        for p in pods
        if _meta(p).get("namespace") == _meta(vmi).get("namespace")
        and (_meta(p).get("labels") or {}).get("kubevirt.io/created-by") == uid
        and not _meta(p).get("deletionTimestamp")
    ]
    return next(
        (p for p in running if (p.get("status") or {}).get("phase") == "Running"), running[0] if running else None
    )


def _agent_connected(vmi: dict) -> bool:
    conds = (vmi.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "AgentConnected" and c.get("status") == "True" for c in conds)


def _running_since(vmi: dict) -> dt.datetime | None:
    status = vmi.get("status") or {}
    stamps = [t.get("timestamp") for t in status.get("phaseTransitionTimestamps") or [] if t.get("phase") == "Running"]
    return parse_time(stamps[-1] if stamps else None) or parse_time(_meta(vmi).get("creationTimestamp"))


def check_freeze_hooks(
    vms: Iterable[dict], vmis: Iterable[dict], pods: Iterable[dict], now: dt.datetime, grace: dt.timedelta = AGENT_GRACE
) -> list[Finding]:
    """VEL-02: freeze hooks paired, well formed, on the launcher pod, with the guest agent connected."""
    pods = list(pods)
    vmi_by = {(_meta(v).get("namespace"), _meta(v).get("name")): v for v in vmis}
    found = []
    for vm in vms:
        meta = _meta(vm)
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        ann = template_annotations(vm)
        if not is_freeze_hook(ann.get(f"{PRE}/command")):
            continue
        ref = f"VirtualMachine {ns}/{name}"
        problems = _hook_problems(ann, PRE, "--freeze", ns, name) + _hook_problems(ann, POST, "--unfreeze", ns, name)
        vmi = vmi_by.get((ns, name))
        if vmi is not None and (vmi.get("status") or {}).get("phase") == "Running":
            launcher = _launcher(pods, vmi)
            if launcher is None:
                problems.append("its VMI runs but no virt-launcher pod was found")
            else:
                pod_ann = _meta(launcher).get("annotations") or {}
                missing = [k for k in HOOK_KEYS if k in ann and pod_ann.get(k) != ann[k]]
                if missing:
                    problems.append(
                        f"launcher pod {_meta(launcher).get('name')} lacks the template's {', '.join(missing)} "
                        "(added after the VM started: restart the VM)"
                    )
            since = _running_since(vmi)
            if not _agent_connected(vmi) and since is not None and now - since > grace:
                problems.append(
                    f"VMI not AgentConnected {int((now - since).total_seconds() // 60)} min after it started: "
                    "the guest agent cannot freeze the filesystems"
                )
        if problems:
            found.append(Finding(ref, "; ".join(problems)))
    return found
