"""Section "Configure PriorityClass on Longhorn System Components": the setting cannot be changed
under attached volumes. Disruptive: the test sets `priority-class` to the other built-in critical
class while volumes are attached and expects Longhorn <= 1.5 to refuse it and Longhorn >= 1.6 to
defer it (no workload template changed, no manager pod deleted or recreated; from 1.7
`status.applied` false), then puts the original value back (facts.md §17.3; sources in
checks/longhorn_priority_class.py)."""

from __future__ import annotations

from harvester_conformance import vms
from harvester_conformance.changes import Changes
from harvester_conformance.checks import longhorn_priority_class as lpc
from harvester_conformance.checks.findings import Finding
from harvester_conformance.checks.vm_scheduling import version_tuple
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, require
from harvester_conformance.waits import WaitTimeout, wait_for

NS = lpc.NAMESPACE
WINDOW = "setting-applied"  # how long the manager gets to (wrongly) apply the change
CLASS = "harvester-longhorn"  # Harvester's default Longhorn StorageClass (HV chart), for our own volume


def _components(cl: Cluster) -> dict[str, tuple[str, str]]:
    return lpc.components(cl.list(R.DEPLOYMENTS, NS), cl.list(R.DAEMONSETS, NS), cl.list(R.PODS, NS))


def _attached(cl: Cluster) -> list[str]:
    return sorted(
        v["metadata"]["name"]
        for v in cl.list(R.LONGHORN_VOLUMES, NS)
        if (v.get("status") or {}).get("state") == "attached"
    )


def _attach_own_volume(cl: Cluster, changes: Changes) -> list[str]:
    """No volume attached: a throw-away VM in the run's namespace with a blank Longhorn data volume
    (no boot disk needed: KubeVirt runs the domain, and Longhorn attaches the volume to its node)."""
    pvc = changes.create(
        R.PVCS,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"generateName": "hc-lpc04-"},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "volumeMode": "Block",
                "storageClassName": CLASS,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    ns, claim = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
    body = vms.vm_body("hc-lpc04")
    template = body["spec"]["template"]["spec"]
    template["domain"]["devices"]["disks"] = [{"name": "data", "disk": {"bus": "virtio"}}]
    template["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    _, name = vms.create(changes, body)
    try:
        vms.wait_running(cl, ns, name)

        def attached() -> str | None:
            volume = ((cl.get(R.PVCS, claim, ns) or {}).get("spec") or {}).get("volumeName")
            state = (
                ((cl.get(R.LONGHORN_VOLUMES, volume, NS) or {}).get("status") or {}).get("state") if volume else None
            )
            return volume if state == "attached" else None

        return [wait_for("volume-attached", attached)]
    except WaitTimeout as exc:
        raise Broken(
            f"no Longhorn volume is attached, and the test's own (PVC {ns}/{claim}) did not attach: {exc}"
        ) from None


def _value(cl: Cluster) -> str | None:
    setting = cl.get(R.LONGHORN_SETTINGS, lpc.SETTING, NS)
    return None if setting is None else str(setting.get("value") or "")


def _refusal(exc: ApiError) -> str | None:
    """The admission webhook's message when `exc` is its refusal (not RBAC, not the apiserver)."""
    if exc.status in (400, 422) or (exc.status == 403 and "admission webhook" in exc.message):
        return exc.message or exc.reason
    return None


def _restored(cl: Cluster, value: str, before: dict[str, tuple[str, str]]) -> bool:
    """The original value back, and every component Longhorn manages with its class of before."""
    now = _components(cl)
    return _value(cl) == value and all(now.get(ref, ("", cls))[1] == cls for ref, (_, cls) in before.items())


def _change(cl: Cluster, changes: Changes, current: str, new: str, before: dict[str, tuple[str, str]]) -> str | None:
    """Set the value; the refusal's message, or None when accepted. The original is recorded on the
    Setting first, for `cleanup`; up to Longhorn 1.5 even that write is refused while volumes are
    attached, and then only an accepted change gets an undo (without a record)."""
    try:
        changes.save(R.LONGHORN_SETTINGS, lpc.SETTING, NS, ("value",), lambda: _restored(cl, current, before))
        recorded = True
    except ApiError as exc:
        if _refusal(exc) is None:
            raise
        recorded = False
    try:
        cl.patch(R.LONGHORN_SETTINGS, lpc.SETTING, {"value": new}, NS)
    except ApiError as exc:
        refused = _refusal(exc)
        if refused is None:
            raise
        return refused
    if not recorded:
        changes.involve(R.LONGHORN_SETTINGS, lpc.SETTING, NS)
        changes.defer(
            f"restore Setting {NS}/{lpc.SETTING} value",
            lambda: cl.patch(R.LONGHORN_SETTINGS, lpc.SETTING, {"value": current}, NS),
            lambda: _restored(cl, current, before),
        )
    return None


def _applied(cl: Cluster) -> bool | None:
    """From Longhorn 1.7: wait until the setting reads not applied (the deferral); its last value."""
    seen: list[bool | None] = [None]

    def deferred() -> bool:
        seen[0] = ((cl.get(R.LONGHORN_SETTINGS, lpc.SETTING, NS) or {}).get("status") or {}).get("applied")
        return seen[0] is False

    try:
        wait_for(WINDOW, deferred)
    except WaitTimeout:
        pass
    return seen[0]


def _reached(cl: Cluster, before: dict[str, tuple[str, str]], new: str) -> list[Finding]:
    """Watch the components for the window: what the change reached, as soon as anything is."""
    try:
        return wait_for(WINDOW, lambda: lpc.reached(before, _components(cl), new) or None)
    except WaitTimeout:
        return []


@invariant("LPC-04")
def test_priority_class_change_with_volumes_attached(hc: RunContext, changes: Changes) -> None:
    cl = hc.cluster
    longhorn = version_tuple(hc.versions.get("longhorn")) or version_tuple(hc.release.release.longhorn)
    current = _value(cl)
    if current is None:
        raise Broken(f"Setting {NS}/{lpc.SETTING} does not exist", prerequisite="LPC-01")
    new = lpc.change_to(current)
    if cl.get(R.PRIORITY_CLASSES, new) is None:
        raise Broken(f"PriorityClass {new} does not exist: no other valid value to try")
    attached = _attached(cl) or _attach_own_volume(cl, changes)
    before = _components(cl)
    refused = _change(cl, changes, current, new, before)
    applied = _applied(cl) if refused is None and longhorn >= lpc.APPLIED_FROM else None
    reached = _reached(cl, before, new) if refused is None else lpc.reached(before, _components(cl), new)
    if reached and not _attached(cl):
        raise Broken("every volume detached during the test: applying the change was then correct")
    require(
        lpc.check_change(longhorn, refused, attached, new, reached, applied),
        "a priority-class change reached Longhorn's system components while volumes were attached",
    )
