"""Faults: put the emulated cluster in a state that violates one invariant, the way real
clusters get there (a stuck controller, a wrong setting, a stale object), and undo it.

Only the cluster is changed, through its API, never the suite.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.versions import version_tuple
from harvester_conformance.waits import wait_for

NS = "harvester-system"
# The simulator's controllers read this annotation: its value names the failure an object models.
FAULT_ANNOTATION = "emulator.harvester-conformance.io/fault"
# Where a fault keeps the value it overwrote, for its revert.
ORIGINAL_ANNOTATION = "emulator.harvester-conformance.io/original"


def fault_of(obj: dict) -> str:
    """The failure `obj` models for the simulator's controllers ("" when healthy)."""
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(FAULT_ANNOTATION, "")


# Invariants whose kind admits no failing state on the emulated cluster, and why.
WITHOUT_FAULT = {
    "LPC-02": "the apiserver itself keeps system-cluster-critical: deleting it is forbidden and its value immutable",
    "SCH-03": "a unit invariant of the suite's own scheduler-score model; nothing on a cluster to break",
    "TBX-01": "guidance only; nothing to assert on a cluster",
    "SBT-01": "guidance only (the installer's boot procedure); nothing to assert on a running cluster",
}


@dataclass(frozen=True)
class Fault:
    """One invariant's failure on the emulated cluster, and its undo.

    `objects` are the objects a conformance check of the invariant must name while the fault is
    injected, spelled as findings spell them: "Kind namespace/name", or "Kind name" for
    cluster-scoped kinds (a host file counts as its Node). Declared statically, so that the tests
    can hold a check to them without reading the fault's code. `creates` are those of `objects`
    that exist only while the fault is injected (a healthy cluster has the others)."""

    id: str
    how: str
    inject: Callable[[Cluster], None]
    revert: Callable[[Cluster], None]
    objects: tuple[str, ...] = ()
    creates: tuple[str, ...] = ()
    # Objects the fault's failure depends on that its check need not name (spelled as `objects`):
    # another fault changing one of them would change this one's failure, so the release
    # profiles' batches keep the two apart.
    touches: tuple[str, ...] = ()
    # The Harvester releases the fault can be set up on: from `releases[0]` up to, not including,
    # `releases[1]` ("" = unbounded); `why_not` says why upstream admits no such failure outside.
    releases: tuple[str, str] = ("", "")
    why_not: str = ""
    # The Harvester release the cluster reports while the fault is injected, when the fault is
    # "an older release" itself: checks gated on later releases then rightly say not applicable.
    reports_release: str = ""
    # The fault changes the version a component reports (a half-finished upgrade): checks gated
    # on that component's later versions rightly say not applicable, as under `reports_release`.
    reports_component: bool = False
    # The fault changes what the apiserver admits for every object of a kind (a policy denying
    # labelled namespaces): any other fault's inject or revert may be refused while it is in.
    admission_wide: bool = False
    # Other invariants the same state violates as well, as it would on a real cluster (a NIC the
    # upgrade renamed under the networks breaks NIC-01 too): the matrix expects them to fail with it.
    also_fails: tuple[str, ...] = ()

    def applies_to(self, harvester: str | None) -> bool:
        """Whether the fault applies to a cluster running `harvester` (a server-version value; an
        unparsable one, such as "dev", reads as newer than any release)."""
        version = version_tuple(harvester)
        low, high = self.releases
        return (not low or version >= version_tuple(low)) and (not high or version < version_tuple(high))


# -- building blocks ------------------------------------------------------------------------
def edit_keeping_original(
    res: R.Resource, name: str, ns: str | None, field: str, new_value: Any
) -> tuple[Callable[[Cluster], None], Callable[[Cluster], None]]:
    """(inject, revert) of a fault that overwrites one top-level field, keeping the original in an
    annotation (a second injection keeps the first original)."""

    def inject(cl: Cluster) -> None:
        obj = cl.get(res, name, ns)
        assert obj is not None, f"{res.kind} {name} does not exist"
        saved = (obj["metadata"].get("annotations") or {}).get(ORIGINAL_ANNOTATION, json.dumps(obj.get(field)))
        cl.patch(res, name, {"metadata": {"annotations": {ORIGINAL_ANNOTATION: saved}}, field: new_value}, ns)

    def revert(cl: Cluster) -> None:
        obj = cl.get(res, name, ns) or {}
        saved = (obj.get("metadata", {}).get("annotations") or {}).get(ORIGINAL_ANNOTATION)
        if saved is None:
            return
        # Clear first: a merge patch of a dict into a dict would keep keys the fault added.
        cl.patch(res, name, {"metadata": {"annotations": {ORIGINAL_ANNOTATION: None}}, field: None}, ns)
        cl.patch(res, name, {field: json.loads(saved)}, ns)

    return inject, revert


REMOVED_WEBHOOK = "emulator.harvester-conformance.io/removed-webhook-"


def set_webhook_registered(cl: Cluster, webhook: str, present: bool) -> None:
    """Unregister one of the simulator's webhooks (as when its deployment is broken), keeping its
    registration in an annotation of its configuration so that the revert can put it back."""
    key = REMOVED_WEBHOOK + webhook
    for res, cfg_name in (
        (R.VALIDATING_WEBHOOKS, "harvester-simulator-validating"),
        (R.MUTATING_WEBHOOKS, "harvester-simulator-mutating"),
        # virt-api's, which virt-operator registers (areas/kubevirt_certificates_registrations).
        (R.VALIDATING_WEBHOOKS, "virt-api-validator"),
        (R.MUTATING_WEBHOOKS, "virt-api-mutator"),
    ):
        cfg = cl.get(res, cfg_name)
        if cfg is None:
            continue
        hooks = cfg.get("webhooks") or []
        annotations = cfg["metadata"].setdefault("annotations", {})
        mine = [h for h in hooks if h["name"] == webhook]
        if present and not mine and key in annotations:
            cfg["webhooks"] = [*hooks, json.loads(annotations.pop(key))]
        elif not present and mine:
            annotations[key] = json.dumps(mine[0])
            cfg["webhooks"] = [h for h in hooks if h["name"] != webhook]
        else:
            continue
        cl.replace(res, cfg)
        await_webhook(cl, webhook, enforced=present)
        return


SETTING_WEBHOOK = "validator.harvesterhci.io"
INVALID_OVERCOMMIT = {"value": '{"cpu":10,"memory":150,"storage":200}'}


def _setting_webhook_enforced(cl: Cluster) -> bool:
    """A dry-run write the Setting webhook must reject: admission runs, nothing is stored."""
    try:
        cl.patch(R.HARVESTER_SETTINGS, "overcommit-config", INVALID_OVERCOMMIT, dry_run=True)
    except ApiError as exc:
        return exc.status == 400
    return False


VMIM_WEBHOOK = "migration-create-validator.kubevirt.io"
PROBE_VMIM = {
    "apiVersion": "kubevirt.io/v1",
    "kind": "VirtualMachineInstanceMigration",
    "metadata": {"name": "emulator-webhook-probe", "namespace": "default"},
    "spec": {"vmiName": "emulator-no-such-vmi"},
}


def _vmim_webhook_enforced(cl: Cluster) -> bool:
    """A dry-run migration of a VMI that does not exist: the validator rejects it, nothing is stored."""
    try:
        cl.request("POST", R.VMIMS.path("default"), body=PROBE_VMIM, query={"dryRun": "All"})
    except ApiError as exc:
        return exc.status == 400
    return False


# Side-effect-free probes of whether the apiserver calls a webhook (dry-run writes it must reject).
WEBHOOK_PROBES: dict[str, Callable[[Cluster], bool]] = {
    SETTING_WEBHOOK: _setting_webhook_enforced,
    VMIM_WEBHOOK: _vmim_webhook_enforced,
}


def await_webhook(cl: Cluster, webhook: str, enforced: bool) -> None:
    """The apiserver applies webhook registrations asynchronously: wait until it acts on the change.
    Webhooks without a probe in WEBHOOK_PROBES: writes through them go through `admitted`."""
    probe = WEBHOOK_PROBES.get(webhook)
    if probe is not None:
        wait_for("webhook-registration", lambda: probe(cl) is enforced)


@contextlib.contextmanager
def webhook_down(cl: Cluster, webhook: str) -> Iterator[None]:
    """Write as if the webhook were not running (an outage, as during an upgrade)."""
    set_webhook_registered(cl, webhook, False)
    try:
        yield
    finally:
        set_webhook_registered(cl, webhook, True)


def admitted(action: Callable[[], object]) -> None:
    """Retry a write until the apiserver has dropped the unregistered webhook from its cache
    (a denial is HTTP 400 from the webhook); 409 means an earlier attempt already got through."""

    def attempt() -> bool:
        try:
            action()
        except ApiError as exc:
            if exc.status == 409:
                return True
            if exc.status == 400:
                return False
            raise
        return True

    wait_for("webhook-registration", attempt)
