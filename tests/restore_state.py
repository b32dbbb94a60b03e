"""What an active or disruptive check may change on a cluster, read independently of the check's own
undo, so that a test can compare the cluster before and after a run (normal or killed), and the
helpers that kill a run mid-change and clean up after it (shared with the KubeVirt certificate test's
pattern: a run in its own process group, SIGKILLed once its change shows on the cluster)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from harvester_conformance.changes import RESTORABLE, RUN_LABEL, SAVED_ANNOTATION, SAVED_LABEL
from harvester_conformance.checks import cloud_credentials as cc
from harvester_conformance.checks import live_migration as lm
from harvester_conformance.checks import longhorn_priority_class as lpc
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.waits import Abort, WaitTimeout, wait_for

from .conftest import ROOT

LH = "longhorn-system"
# What the checks create, in the run's namespace or cluster-wide (a PV and a Longhorn volume follow
# a claim; a Rancher token comes with CCR-03): every object of these types, by namespace and name,
# is the same after a run as before. VolumeSnapshotContents apart (`snapshot_contents`): the
# emulator does not delete them yet. Attachments are held to their volume instead (`leftovers`):
# the attach flow creates them for the seeded volumes too, in its own time.
CREATED = (
    R.NAMESPACES,
    R.VMS,
    R.VMIS,
    R.VMIMS,
    R.MIGRATION_POLICIES,
    R.PVCS,
    R.PERSISTENT_VOLUMES,
    R.LOADBALANCERS,
    R.VOLUME_SNAPSHOTS,
    R.VM_BACKUPS,
    R.DATA_VOLUMES,
    R.LONGHORN_VOLUMES,
    R.RANCHER_TOKENS,
)


def _marks(obj: dict | None) -> dict[str, str]:
    """The save-and-restore record and its label, as found on an object."""
    meta = (obj or {}).get("metadata") or {}
    found = {
        "annotation": (meta.get("annotations") or {}).get(SAVED_ANNOTATION),
        "label": (meta.get("labels") or {}).get(SAVED_LABEL),
    }
    return {k: v for k, v in found.items() if v is not None}


def _names(cl: Cluster, res: R.Resource) -> list[str]:
    try:
        return sorted(f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in cl.list(res))
    except ApiError as exc:
        if exc.not_found:  # the API is not served on this release
            return []
        raise


def kubevirt_limits(cl: Cluster) -> dict:
    """MIG-06: the KubeVirt CR's migration block (where the limits are lowered up to v1.6), the
    kubevirt-migration setting (from v1.7), and the record of either."""
    kv = cl.get(R.KUBEVIRTS, "kubevirt", lm.NAMESPACE) or {}
    setting = cl.get(R.HARVESTER_SETTINGS, lm.SETTING)
    return {
        "migrations": ((kv.get("spec") or {}).get("configuration") or {}).get("migrations"),
        "kubevirt marks": _marks(kv),
        "setting": None if setting is None else {"value": setting.get("value"), "marks": _marks(setting)},
    }


def priority_class(cl: Cluster) -> dict:
    """LPC-04: the priority-class setting, its record, and the class of every component it reaches."""
    setting = cl.get(R.LONGHORN_SETTINGS, lpc.SETTING, LH) or {}
    parts = lpc.components(cl.list(R.DEPLOYMENTS, LH), cl.list(R.DAEMONSETS, LH), cl.list(R.PODS, LH))
    return {
        "value": setting.get("value"),
        "marks": _marks(setting),
        "components": {ref: cls for ref, (_, cls) in sorted(parts.items())},
    }


def disk_flags(cl: Cluster) -> dict:
    """EVI-03: each Longhorn node's disk flags, and the record on the node."""
    out = {}
    for node in cl.list(R.LONGHORN_NODES, LH):
        disks = (node.get("spec") or {}).get("disks") or {}
        out[node["metadata"]["name"]] = {
            "disks": {
                d: (spec.get("allowScheduling"), spec.get("evictionRequested")) for d, spec in sorted(disks.items())
            },
            "marks": _marks(node),
        }
    return out


def created(cl: Cluster) -> dict[str, list[str]]:
    """Every object of the types the active checks create, by namespace/name."""
    return {res.key: _names(cl, res) for res in CREATED}


def snapshot_contents(cl: Cluster) -> list[str]:
    """CSI-04: the VolumeSnapshotContents (cluster-scoped) its snapshots and VM backup bind."""
    return _names(cl, R.VOLUME_SNAPSHOT_CONTENTS)


def saved_runs(part: object) -> set[str]:
    """The run IDs of the saved originals found anywhere in a part of the state."""
    found: set[str] = set()
    if isinstance(part, dict):
        note = part.get("annotation")
        if isinstance(note, str):
            found.add(json.loads(note)["run"])
        for value in part.values():
            found |= saved_runs(value)
    return found


def load_balancer_ips(cl: Cluster) -> dict:
    """IPP-07: which address each pool has given to whom (its history keeps the test's entries by
    upstream design: the allocator consults it, nothing may remove them)."""
    return {p["metadata"]["name"]: (p.get("status") or {}).get("allocated") or {} for p in cl.list(R.IPPOOLS)}


def credentials(cl: Cluster) -> dict:
    """CCR-03: the cloud credentials on the Rancher cluster, each by a digest of its data (the
    production credential is only ever patched as a dry run)."""
    return {
        s["metadata"]["name"]: hashlib.sha256(json.dumps(s.get("data") or {}, sort_keys=True).encode()).hexdigest()
        for s in cl.list(R.SECRETS, cc.NAMESPACE)
    }


STATE: dict[str, Callable[[Cluster], object]] = {
    "kubevirt limits": kubevirt_limits,
    "priority class": priority_class,
    "disk flags": disk_flags,
    "created": created,
    "load balancer ips": load_balancer_ips,
    "credentials": credentials,
}


def state(cl: Cluster) -> dict[str, object]:
    return {name: read(cl) for name, read in STATE.items()}


def leftovers(cl: Cluster) -> list[str]:
    """Objects still labelled by a run: a saved original not put back, or something created."""
    out = []
    for res in RESTORABLE:
        out += [f"{res.kind} {n} (saved)" for n in _labelled(cl, res, SAVED_LABEL)]
    for res in (*CREATED, R.SECRETS):
        out += [f"{res.kind} {n}" for n in _labelled(cl, res, RUN_LABEL)]
    return out + orphan_attachments(cl)


def orphan_attachments(cl: Cluster) -> list[str]:
    """VolumeAttachments (Kubernetes and Longhorn) whose volume is gone: what a deleted claim's
    attachment would leave."""
    pvs = {p["metadata"]["name"] for p in cl.list(R.PERSISTENT_VOLUMES)}
    volumes = {v["metadata"]["name"] for v in cl.list(R.LONGHORN_VOLUMES, LH)}
    out = [
        f"VolumeAttachment {a['metadata']['name']}"
        for a in cl.list(R.VOLUME_ATTACHMENTS)
        if ((a.get("spec") or {}).get("source") or {}).get("persistentVolumeName") not in pvs
    ]
    try:
        lhvas = cl.list(R.LONGHORN_VOLUME_ATTACHMENTS, LH)
    except ApiError as exc:
        if not exc.not_found:
            raise
        lhvas = []
    out += [
        f"Longhorn VolumeAttachment {LH}/{a['metadata']['name']}"
        for a in lhvas
        if ((a.get("spec") or {}).get("volume") or a["metadata"]["name"]) not in volumes
    ]
    return out


def _labelled(cl: Cluster, res: R.Resource, label: str) -> list[str]:
    try:
        objs = cl.list(res, label_selector=label)
    except ApiError as exc:
        if exc.not_found:
            return []
        raise
    return [f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in objs]


def settled(cl: Cluster, before: dict[str, object]) -> dict[str, object]:
    """The state once it equals `before`, or as last read when it does not within the named timeout
    (a claim's volume, a namespace's objects go a little after the run's undo has waited for
    what it deleted): the caller compares, and the difference is in the message."""
    last: list[dict[str, object]] = [{}]

    def same() -> bool:
        last[0] = state(cl)
        return last[0] == before and not leftovers(cl)

    with contextlib.suppress(WaitTimeout):  # the comparison that follows names what differs
        wait_for("object-deleted", same, max_interval=1.0)
    return last[0]


def differences(before: dict, after: dict) -> dict[str, tuple[object, object]]:
    """The parts that differ, each as (before, after), with created-object lists reduced to what
    was added or removed."""
    out: dict[str, tuple[object, object]] = {}
    for key in before.keys() | after.keys():
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        if key == "created" and isinstance(b, dict) and isinstance(a, dict):
            for kind in b.keys() | a.keys():
                gone = sorted(set(b.get(kind, [])) - set(a.get(kind, [])))
                new = sorted(set(a.get(kind, [])) - set(b.get(kind, [])))
                if gone or new:
                    out[f"created {kind}"] = (gone, new)
            continue
        out[key] = (b, a)
    return out


# -- a run killed mid-change, and `cleanup` after it ------------------------------------------------
def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}


def kill_when_changed(
    kubeconfig: Path, args: list[str], run_id: str, log: Path, changed: Callable[[], bool], timeout: str
) -> None:
    """Start a run in its own process group and SIGKILL the group as soon as `changed()` holds (waited
    for with the named `timeout`); the run ending first is an error, with its output."""
    stop_when_changed(kubeconfig, args, run_id, log, changed, timeout, signal.SIGKILL, group=True)


def stop_when_changed(
    kubeconfig: Path,
    args: list[str],
    run_id: str,
    log: Path,
    changed: Callable[[], bool],
    timeout: str,
    sig: signal.Signals | None,
    *,
    group: bool,
    exit_within: float = 180,
    disturb: Callable[[], None] | None = None,
) -> int:
    """Start a run in its own process group; once `changed()` holds (waited for with the named
    `timeout`), call `disturb` (the cluster misbehaving mid-run), then send `sig` to the group (as a
    terminal's Ctrl-C) or to the run's process only (as a CI runner cancelling a job), or with no
    `sig` let the run end by itself or by its time limit. The run's exit code, once it has ended
    (within `exit_within` seconds; then it is killed, an error); the run ending before its change
    showed is an error too."""
    cmd = [sys.executable, "-m", "harvester_conformance.cli", "run", "--kubeconfig", str(kubeconfig)]
    cmd += [*args, "--run-id", run_id, "--reports-dir", str(log.parent)]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def probe() -> bool:
        if changed():
            return True
        if proc.poll() is not None:
            raise Abort(f"the run ended ({proc.returncode}) before its change showed: {log.read_text()[-3000:]}")
        return False

    try:
        wait_for(timeout, probe, describe=lambda: log.read_text()[-3000:], max_interval=0.3)
        if disturb is not None:
            disturb()
        if sig is not None:
            (os.killpg if group else os.kill)(proc.pid, sig)
        return proc.wait(timeout=exit_within)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def cleanup(kubeconfig: Path, run_id: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`harvester-conformance cleanup`, as a user runs it after a killed run."""
    cmd = [sys.executable, "-m", "harvester_conformance.cli", "cleanup", "--kubeconfig", str(kubeconfig)]
    cmd += ["--run-id", run_id] if run_id else []
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=timeout)
