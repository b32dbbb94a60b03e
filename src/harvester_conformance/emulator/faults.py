"""Faults: put the emulated cluster in a state that violates one invariant, the way real
clusters get there (a stuck controller, a wrong setting, a stale object), and undo it.

Only the cluster is changed, through its API, never the suite.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import pki
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
}


class UnknownFault(Exception):
    def __init__(self, fault_id: str) -> None:
        why = f" ({WITHOUT_FAULT[fault_id]})" if fault_id in WITHOUT_FAULT else ""
        super().__init__(f"no fault for {fault_id!r}{why}; faults exist for: {', '.join(sorted(all_faults()))}")


@dataclass(frozen=True)
class Fault:
    id: str
    how: str
    inject: Callable[[Cluster], None]
    revert: Callable[[Cluster], None]


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


def _scale_virt_operator(cl: Cluster, replicas: int) -> None:
    cl.patch(R.DEPLOYMENTS, "virt-operator", {"spec": {"replicas": replicas}}, NS)

    def settled() -> bool:
        dep = cl.get(R.DEPLOYMENTS, "virt-operator", NS) or {}
        status = dep.get("status") or {}
        available = status.get("availableReplicas") or 0
        return available == replicas and (status.get("replicas") or 0) == replicas

    wait_for("cluster-seeded", settled)


def _secret_pair(cl: Cluster, name: str) -> tuple[dict, pki.KeyPair]:
    secret = cl.get(R.SECRETS, name, NS)
    if secret is None:
        raise RuntimeError(f"Secret {NS}/{name} does not exist; is the cluster seeded?")
    data = secret["data"]
    return secret, pki.load(base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"]))


def _replace_certificate(cl: Cluster, name: str, pair: pki.KeyPair) -> None:
    secret = cl.get(R.SECRETS, name, NS)
    assert secret is not None
    secret["data"] = {
        "tls.crt": base64.b64encode(pair.cert_pem).decode(),
        "tls.key": base64.b64encode(pair.key_pem).decode(),
    }
    cl.replace(R.SECRETS, secret)


def _leaf_signed_by_current_ca(
    cl: Cluster, name: str, duration: dt.timedelta, age: dt.timedelta = dt.timedelta(0)
) -> pki.KeyPair:
    """A leaf as virt-operator would have issued it `age` ago for `duration`."""
    _, ca = _secret_pair(cl, "kubevirt-ca")
    _, old = _secret_pair(cl, name)
    cn = old.cert.subject.rfc4514_string().removeprefix("CN=")
    issued = pki.now() - age
    return pki.issue(
        ca, cn, duration, not_before=min(ca.cert.not_valid_before_utc, issued), not_after=issued + duration
    )


def _await_reissue(cl: Cluster, name: str, bad_serial: int) -> None:
    def fresh() -> bool:
        _, pair = _secret_pair(cl, name)
        return pair.cert.serial_number != bad_serial

    wait_for("certificate-reissued", fresh)


# -- per invariant --------------------------------------------------------------------------
def _kvc01(cl: Cluster) -> None:
    # Go durations have no "d" unit: writing 7d is the classic mistake.
    cl.patch(
        R.KUBEVIRTS, "kubevirt", {"spec": {"certificateRotateStrategy": {"selfSigned": {"ca": {"duration": "7d"}}}}}, NS
    )


def _kvc01_revert(cl: Cluster) -> None:
    cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"certificateRotateStrategy": {"selfSigned": None}}}, NS)


def _kvc02(cl: Cluster) -> None:
    # A stale object: a certificate restored from elsewhere, signed by the current CA and carrying
    # the right duration annotation, but issued for 48h. virt-operator only compares the
    # annotation, so it keeps it (upstream certificationNeedsRotation).
    _replace_certificate(
        cl,
        "kubevirt-controller-certs",
        _leaf_signed_by_current_ca(cl, "kubevirt-controller-certs", dt.timedelta(hours=48)),
    )


def _kvc02_revert(cl: Cluster) -> None:
    _, pair = _secret_pair(cl, "kubevirt-controller-certs")
    cl.delete(R.SECRETS, "kubevirt-controller-certs", NS)
    _await_reissue(cl, "kubevirt-controller-certs", pair.cert.serial_number)


def _kvc03(cl: Cluster) -> None:
    # virt-operator down for most of a day: a 24h server certificate issued 22h ago is inside
    # its 4.8h renewal window and nobody rotates it.
    _scale_virt_operator(cl, 0)
    _replace_certificate(
        cl,
        "kubevirt-virt-api-certs",
        _leaf_signed_by_current_ca(cl, "kubevirt-virt-api-certs", dt.timedelta(hours=24), age=dt.timedelta(hours=22)),
    )


def _kvc04(cl: Cluster) -> None:
    # virt-operator down while a certificate signed by another CA is put in place.
    _scale_virt_operator(cl, 0)
    _, old = _secret_pair(cl, "kubevirt-virt-handler-server-certs")
    foreign = pki.make_ca("kubevirt.io", dt.timedelta(hours=168))
    cn = old.cert.subject.rfc4514_string().removeprefix("CN=")
    _replace_certificate(cl, "kubevirt-virt-handler-server-certs", pki.issue(foreign, cn, dt.timedelta(hours=24)))


def _operator_stuck(cl: Cluster) -> None:
    _scale_virt_operator(cl, 0)


def _operator_back(cl: Cluster) -> None:
    _scale_virt_operator(cl, 1)


def _operator_back_and_reissued(secret: str) -> Callable[[Cluster], None]:
    def revert(cl: Cluster) -> None:
        _, pair = _secret_pair(cl, secret)
        _scale_virt_operator(cl, 1)
        _await_reissue(cl, secret, pair.cert.serial_number)

    return revert


FAULTS: dict[str, Fault] = {
    f.id: f
    for f in (
        Fault("KVC-01", "a CA duration written as 7d, which Go durations do not accept", _kvc01, _kvc01_revert),
        Fault("KVC-02", "a stale controller certificate issued for 48h with a 24h annotation", _kvc02, _kvc02_revert),
        Fault(
            "KVC-03",
            "virt-operator stuck while virt-api's certificate entered its renewal window",
            _kvc03,
            _operator_back_and_reissued("kubevirt-virt-api-certs"),
        ),
        Fault(
            "KVC-04",
            "virt-operator stuck with virt-handler's server certificate signed by a foreign CA",
            _kvc04,
            _operator_back_and_reissued("kubevirt-virt-handler-server-certs"),
        ),
        Fault(
            "KVC-05",
            "virt-operator stuck (scaled to zero): a deleted certificate is never re-issued",
            _operator_stuck,
            _operator_back,
        ),
        Fault(
            "KVC-06",
            "virt-operator stuck (scaled to zero): a foreign-signed certificate stays",
            _operator_stuck,
            _operator_back,
        ),
        Fault(
            "KVC-07",
            "virt-operator stuck (scaled to zero): a new duration is never applied",
            _operator_stuck,
            _operator_back,
        ),
    )
}


def all_faults() -> dict[str, Fault]:
    from harvester_conformance.emulator.areas import AREAS

    every = dict(FAULTS)
    for area in AREAS:
        every.update({f.id: f for f in area.FAULTS})
    return every


def _run(fault_id: str, kubeconfig: Path, revert: bool) -> str:
    every = all_faults()
    if fault_id not in every:
        raise UnknownFault(fault_id)
    fault = every[fault_id]
    cl = Cluster.from_kubeconfig(str(kubeconfig))
    try:
        (fault.revert if revert else fault.inject)(cl)
    finally:
        cl.close()
    return f"{fault_id}: {'reverted' if revert else 'injected'} ({fault.how})"


def inject(fault_id: str, kubeconfig: Path) -> str:
    return _run(fault_id, kubeconfig, revert=False)


def revert(fault_id: str, kubeconfig: Path) -> str:
    return _run(fault_id, kubeconfig, revert=True)
