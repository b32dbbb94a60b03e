"""Malformed objects on a live cluster (issues 11, 12 and 13): each makes the check that reads it
fail with a message that names the object and says what is wrong, and leaves every other check
at its healthy outcome.

On the shared v1.3.1 emulated cluster: one suite run of the read-only checks of every proven ID
gives the healthy baseline. The cases below are seeded in batches, each batch at once: no two
cases of a batch meet in one check (the malformed migration block makes every check that needs
the configuration in force broken, pointing at MIG-01, MIG-07 among them, so it has a batch of
its own). One run per batch of the same checks (plus MIG-07 where the batch holds its case: it judges
the MigrationPolicies before it creates anything) holds each affected ID to its finding, every check that stands on one
to broken pointing at it, and every other ID to its baseline; then the batch is taken back, in
reverse order, and nothing may be left. A last run shows the baseline again.

The shapes are the ones the API admits: a write that a webhook would refuse is made while that
webhook is unregistered (an outage, as during an upgrade: `faults.webhook_down`), as the faults
do. Shapes the API refuses, or that a controller overwrites at once, are listed in UNREACHABLE,
with the reason, instead.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.faults import FAULT_ANNOTATION, REMOVED_WEBHOOK, admitted, webhook_down
from harvester_conformance.waits import wait_for

from .conftest import RunResult, run_suite
from .test_fault_matrix import ALL, FAST, MATRIX_PROFILE, _ids, _read_only, _roles, proven_on

PREFIX = "hc-malformed"
NS = "default"
LONGHORN_NS = "longhorn-system"
KUBEVIRT_NS = "harvester-system"
CREDENTIALS_NS = "cattle-global-data"
SETTING_WEBHOOK = "validator.harvesterhci.io"
LONGHORN_WEBHOOK = "validator.longhorn.io"
IPPOOL_WEBHOOK = "ippool.validator.loadbalancer.harvesterhci.io"
# The simulated virt-handler leaves a VMI with this annotation as it was written (a virt-handler
# that never reports on it).
UNREPORTED = {FAULT_ANNOTATION: "stale-virt-handler"}
# Text that betrays a crash rather than a finding.
CRASH = re.compile(r"Traceback|\b[A-Z][A-Za-z]*(Error|Exception)\b|internal error")
# MIG-07 is active, but it refuses malformed MigrationPolicies before it creates anything.
EXTRA_IDS = ("MIG-07",)

Undo = list[Callable[[Cluster], None]]


@dataclass(frozen=True)
class Case:
    """One malformed object: how it is seeded (pushing its undo), and what the checks must say:
    for each affected ID, the object it names and words its message must hold."""

    area: str
    shape: str
    seed: Callable[[Cluster, Undo], None]
    found: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    # Objects of the case that no check may name (a shape every check rightly accepts).
    unnamed: tuple[str, ...] = ()


# -- seeding helpers --------------------------------------------------------------------------
def _bypass(cl: Cluster, webhook: str, write: Callable[[], object]) -> None:
    """Write while `webhook` is unregistered (the apiserver drops it from its cache with a lag)."""
    with webhook_down(cl, webhook):
        admitted(write)


def _create(cl: Cluster, undo: Undo, res: R.Resource, body: dict, webhook: str | None = None) -> None:
    ns = body["metadata"].get("namespace")
    if webhook:
        _bypass(cl, webhook, lambda: cl.create(res, body, ns))
    else:
        cl.create(res, body, ns)
    undo.append(lambda c: _delete(c, res, body["metadata"]["name"], ns))


def _delete(cl: Cluster, res: R.Resource, name: str, ns: str | None) -> None:
    cl.delete(res, name, ns)
    wait_for("object-deleted", lambda: cl.get(res, name, ns) is None)


def _set_value(cl: Cluster, undo: Undo, res: R.Resource, name: str, ns: str | None, value: str, webhook: str) -> None:
    """Overwrite a Setting's value past its webhook; the undo writes the original back (or removes
    the value when there was none) the same way."""
    original = (cl.get(res, name, ns) or {}).get("value")
    _bypass(cl, webhook, lambda: cl.patch(res, name, {"value": value}, ns))
    undo.append(lambda c: _bypass(c, webhook, lambda: c.patch(res, name, {"value": original}, ns)))


def _vmi(name: str, status: dict | None) -> dict:
    body = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {"name": name, "namespace": NS, "annotations": dict(UNREPORTED)},
        "spec": {"domain": {"devices": {}, "resources": {"requests": {"memory": "64Mi"}}}},
    }
    return {**body, "status": status} if status is not None else body


# -- the cases ------------------------------------------------------------------------------
def _vmis(cl: Cluster, undo: Undo) -> None:
    _create(cl, undo, R.VMIS, _vmi(f"{PREFIX}-no-status", None))
    _create(cl, undo, R.VMIS, _vmi(f"{PREFIX}-running", {"phase": "Running"}))


def _migration_block(cl: Cluster, undo: Undo) -> None:
    kv = cl.get(R.KUBEVIRTS, "kubevirt", KUBEVIRT_NS)
    assert kv is not None
    original = ((kv.get("spec") or {}).get("configuration") or {}).get("migrations")
    patch = {"spec": {"configuration": {"migrations": {"bandwidthPerMigration": "-64Mi"}}}}
    cl.patch(R.KUBEVIRTS, "kubevirt", patch, KUBEVIRT_NS)

    def restore(c: Cluster) -> None:
        c.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"configuration": {"migrations": None}}}, KUBEVIRT_NS)
        if original is not None:
            c.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"configuration": {"migrations": original}}}, KUBEVIRT_NS)

    undo.append(restore)


def _policy(cl: Cluster, undo: Undo) -> None:
    body = {
        "apiVersion": "migrations.kubevirt.io/v1alpha1",
        "kind": "MigrationPolicy",
        "metadata": {"name": f"{PREFIX}-selector"},
        "spec": {
            "selectors": {"namespaceSelector": {"matchExpressions": [{"key": "tier", "operator": "Sometimes"}]}},
            "allowAutoConverge": True,
        },
    }
    _create(cl, undo, R.MIGRATION_POLICIES, body)


def _replica_count(cl: Cluster, undo: Undo) -> None:
    _set_value(cl, undo, R.LONGHORN_SETTINGS, "default-replica-count", LONGHORN_NS, "three", LONGHORN_WEBHOOK)


def _reserved_percentage(cl: Cluster, undo: Undo) -> None:
    name = "storage-reserved-percentage-for-default-disk"
    _set_value(cl, undo, R.LONGHORN_SETTINGS, name, LONGHORN_NS, "lots", LONGHORN_WEBHOOK)


def _data_locality(cl: Cluster, undo: Undo) -> None:
    _set_value(cl, undo, R.LONGHORN_SETTINGS, "default-data-locality", LONGHORN_NS, "nearby", LONGHORN_WEBHOOK)


def _longhorn_storage_network(cl: Cluster, undo: Undo) -> None:
    value = "storagenetwork-without-namespace"
    _set_value(cl, undo, R.LONGHORN_SETTINGS, "storage-network", LONGHORN_NS, value, LONGHORN_WEBHOOK)


def _csi_driver_config(cl: Cluster, undo: Undo) -> None:
    _set_value(cl, undo, R.HARVESTER_SETTINGS, "csi-driver-config", None, "[driver.longhorn.io", SETTING_WEBHOOK)


def _http_proxy(cl: Cluster, undo: Undo) -> None:
    _set_value(cl, undo, R.HARVESTER_SETTINGS, "http-proxy", None, "{httpProxy: proxy:3128", SETTING_WEBHOOK)


def _storage_network(cl: Cluster, undo: Undo) -> None:
    _set_value(
        cl, undo, R.HARVESTER_SETTINGS, "storage-network", None, '{"vlan": 2012, "clusterNetwork"', SETTING_WEBHOOK
    )


def _ssl_parameters(cl: Cluster, undo: Undo) -> None:
    value = '{"protocols":"TLSv1.2 TLSv1.3","ciphers":["ECDHE-RSA-AES128-GCM-SHA256"]}'
    _set_value(cl, undo, R.HARVESTER_SETTINGS, "ssl-parameters", None, value, SETTING_WEBHOOK)


def _ip_pool(cl: Cluster, undo: Undo) -> None:
    body = {
        "apiVersion": "loadbalancer.harvesterhci.io/v1beta1",
        "kind": "IPPool",
        "metadata": {"name": f"{PREFIX}-pool"},
        "spec": {
            # A reversed start and end is no error (LB's MakeRange swaps them); a start outside
            # the subnet is: the allocator cannot be built.
            "ranges": [{"subnet": "100.64.200.0/24", "rangeStart": "100.64.201.5", "rangeEnd": "100.64.200.10"}],
            "selector": {"scope": [{"namespace": f"{PREFIX}-none", "project": "*", "guestCluster": "*"}]},
        },
    }
    _create(cl, undo, R.IPPOOLS, body, IPPOOL_WEBHOOK)


def _cloud_credential(cl: Cluster, undo: Undo) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"{PREFIX}-credential",
            "namespace": CREDENTIALS_NS,
            "annotations": {"provisioning.cattle.io/driver": "harvester"},
        },
        "data": {"harvestercredentialConfig-kubeconfigContent": base64.b64encode(b"\xff\x00clusters: [").decode()},
    }
    _create(cl, undo, R.SECRETS, body)


CASES = (
    Case(
        "live migration",
        "VMIs that virt-handler never reported on: one without status, one Running without conditions",
        _vmis,
        {"MIG-02": (f"VirtualMachineInstance {NS}/{PREFIX}-running", ("without a LiveMigratable condition",))},
        # Within MIG-02's reconcile grace (5 minutes) a VMI without status may simply be new.
        unnamed=(f"VirtualMachineInstance {NS}/{PREFIX}-no-status",),
    ),
    Case(
        "live migration",
        "the KubeVirt CR's migrations block with a negative bandwidthPerMigration",
        _migration_block,
        {"MIG-01": (f"KubeVirt {KUBEVIRT_NS}/kubevirt", ("bandwidthPerMigration", "negative"))},
    ),
    Case(
        "live migration",
        "a MigrationPolicy whose selector is a LabelSelector with an unknown operator",
        _policy,
        {"MIG-07": (f"MigrationPolicy {PREFIX}-selector", ("namespaceSelector", "plain label map"))},
    ),
    Case(
        "storage",
        "Longhorn default-replica-count that is not a number",
        _replica_count,
        {"LHP-01": (f"Setting {LONGHORN_NS}/default-replica-count", ("'three'", "not a whole number"))},
    ),
    Case(
        "storage",
        "Longhorn storage-reserved-percentage-for-default-disk that is not a number",
        _reserved_percentage,
        {
            "MET-04": (
                f"Setting {LONGHORN_NS}/storage-reserved-percentage-for-default-disk",
                ("'lots'", "expected an integer"),
            )
        },
    ),
    Case(
        "storage",
        "Longhorn default-data-locality that is no mode Longhorn knows (LHP-02, advisory: failed under --strict)",
        _data_locality,
        {"LHP-02": (f"Setting {LONGHORN_NS}/default-data-locality", ("'nearby'", "not a data locality"))},
    ),
    Case(
        "storage",
        "Longhorn storage-network that names no NetworkAttachmentDefinition",
        _longhorn_storage_network,
        {
            "RST-04": (
                f"Setting {LONGHORN_NS}/storage-network",
                ("'storagenetwork-without-namespace'", "<namespace>/<NetworkAttachmentDefinition name>"),
            )
        },
    ),
    Case(
        "storage",
        "csi-driver-config that is not JSON",
        _csi_driver_config,
        {
            "CSI-01": ("Setting csi-driver-config", ("not JSON",)),
            "NTA-01": ("Setting csi-driver-config", ("not JSON",)),
        },
    ),
    Case(
        "storage",
        "a storage-network value that is not JSON (LHP-03, advisory: failed under --strict)",
        _storage_network,
        {"LHP-03": ("Setting storage-network", ("not JSON", "cannot decode"))},
    ),
    Case(
        "security",
        "http-proxy that is not JSON",
        _http_proxy,
        {"SEC-01": ("Setting http-proxy", ("not JSON",))},
    ),
    Case(
        "security",
        "ssl-parameters whose ciphers are a list, not the string Harvester decodes",
        _ssl_parameters,
        {"SEC-05": ("Setting ssl-parameters", ("ciphers is list",))},
    ),
    Case(
        "network",
        "an IPPool whose rangeStart lies outside its subnet",
        _ip_pool,
        {"IPP-01": (f"IPPool {PREFIX}-pool", ("rangeStart 100.64.201.5 is outside subnet 100.64.200.0/24",))},
    ),
    Case(
        "cloud credentials",
        "a Harvester cloud credential whose kubeconfig does not decode",
        _cloud_credential,
        {"CCR-01": (f"Secret {CREDENTIALS_NS}/{PREFIX}-credential", ("does not decode",))},
    ),
)

# Cases seeded together (indices into CASES): the migration block alone, as it breaks MIG-07 and
# MIG-08 through the configuration they need.
BATCHES = ((0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), (1,))

# Shapes the issues name that the cluster does not let stand, and why (no check can see them).
UNREACHABLE = {
    "KubeVirt CR migrations block of a wrong type": "the CRD types the block and its integer fields: "
    "the apiserver refuses a string there (HTTP 422), so a negative bandwidth is seeded instead",
    "Longhorn Node or disk without status": "longhorn-manager rewrites every Node's status, disks "
    "included, on its next sync (the simulated one each tick), so the shape never reaches a snapshot",
}


# -- the runs -------------------------------------------------------------------------------------
def _read_only_ids() -> list[str]:
    return _read_only(proven_on(MATRIX_PROFILE))


def _run(tmp_path, kubeconfig, ids: list[str]) -> RunResult:
    return run_suite(tmp_path, kubeconfig, *ALL, *FAST, *_roles(kubeconfig), *_ids(ids))


def _statuses(r: RunResult, ids: list[str]) -> dict[str, str | None]:
    assert r.summary is not None, r.stderr[-3000:]
    return {i: r.status(i) for i in ids}


@pytest.fixture(scope="module")
def healthy(emulated, tmp_path_factory) -> dict[str, str | None]:
    """The read-only checks' outcomes on the healthy cluster: every one passes."""
    kubeconfig = emulated(MATRIX_PROFILE).kubeconfig
    ids = _read_only_ids()
    r = _run(tmp_path_factory.mktemp("healthy"), kubeconfig, ids)
    outcome = _statuses(r, ids)
    assert r.code == 0 and set(outcome.values()) == {"passed"}, r.stdout[-3000:] + r.stderr[-2000:]
    return outcome


def _problems(r: RunResult, healthy: dict[str, str | None], cases: list[Case]) -> list[str]:
    """Where the run departs from what the cases demand."""
    found = {inv: spec for case in cases for inv, spec in case.found.items()}
    problems = []
    for inv, (obj, words) in found.items():
        rec = r.record(inv)
        msg = rec["message"]
        if rec["status"] not in ("failed", "broken"):
            problems.append(f"{inv} {rec['status']} on a malformed object: {msg[:300]}")
            continue
        if obj not in rec["objects"] or obj.split(" ", 1)[1] not in msg:
            problems.append(f"{inv} does not name {obj}: {rec['objects']} {msg[:300]}")
        if missing := [w for w in words if w not in msg]:
            problems.append(f"{inv} does not say what is wrong ({missing}): {msg[:300]}")
        if CRASH.search(msg):
            problems.append(f"{inv} crashed rather than found: {msg[:300]}")
    unnamed = [o for case in cases for o in case.unnamed]
    for inv, status in healthy.items():
        if inv in found:
            continue
        rec = r.record(inv)
        if named := [o for o in unnamed if o in rec["objects"] or o.split(" ", 1)[1] in rec["message"]]:
            problems.append(f"{inv} names {named}, which it must accept: {rec['message'][:300]}")
        if rec["status"] == "broken" and any(f"prerequisite {p}" in rec["message"] for p in found):
            continue  # it stands on an affected ID and says so
        if rec["status"] != status:
            problems.append(f"{inv} {rec['status']} (healthy: {status}): {rec['message'][:300]}")
    return problems


def _left(cl: Cluster) -> list[str]:
    """Seeded objects still present and webhooks still unregistered."""
    out = [
        f"{res.kind} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        for res in (R.VMIS, R.MIGRATION_POLICIES, R.IPPOOLS)
        for o in cl.list(res)
        if o["metadata"]["name"].startswith(PREFIX)
    ]
    out += [
        f"Secret {CREDENTIALS_NS}/{s['metadata']['name']}"
        for s in cl.list(R.SECRETS, CREDENTIALS_NS)
        if s["metadata"]["name"].startswith(PREFIX)
    ]
    for res in (R.VALIDATING_WEBHOOKS, R.MUTATING_WEBHOOKS):
        for cfg in cl.list(res):
            out += [
                f"{cfg['metadata']['name']}: {k}"
                for k in cfg["metadata"].get("annotations") or {}
                if k.startswith(REMOVED_WEBHOOK)
            ]
    return out


def _state(cl: Cluster) -> dict[str, object]:
    """The values the cases overwrite, to compare before and after."""
    kv = cl.get(R.KUBEVIRTS, "kubevirt", KUBEVIRT_NS) or {}
    return {
        "migrations": ((kv.get("spec") or {}).get("configuration") or {}).get("migrations"),
        **{
            f"longhorn {n}": (cl.get(R.LONGHORN_SETTINGS, n, LONGHORN_NS) or {}).get("value")
            for n in (
                "default-replica-count",
                "storage-reserved-percentage-for-default-disk",
                "default-data-locality",
                "storage-network",
            )
        },
        **{
            f"harvester {n}": (cl.get(R.HARVESTER_SETTINGS, n) or {}).get("value")
            for n in ("csi-driver-config", "http-proxy", "storage-network", "ssl-parameters")
        },
    }


@pytest.fixture
def client(emulated) -> Iterator[Cluster]:
    cl = Cluster.from_kubeconfig(str(emulated(MATRIX_PROFILE).kubeconfig))
    yield cl
    cl.close()


@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: "+".join(CASES[i].seed.__name__.strip("_") for i in b))
def test_malformed_objects_fail_their_check_and_no_other(
    emulated, client: Cluster, tmp_path, healthy, batch: tuple[int, ...]
) -> None:
    kubeconfig = emulated(MATRIX_PROFILE).kubeconfig
    cases = [CASES[i] for i in batch]
    before = _state(client)
    assert _left(client) == []
    undo: Undo = []
    try:
        for case in cases:
            case.seed(client, undo)
        extra = {inv for case in cases for inv in case.found if inv in EXTRA_IDS}
        r = _run(tmp_path, kubeconfig, sorted({*healthy, *extra}))
    finally:
        errors = []
        for step in reversed(undo):
            try:
                step(client)
            except (ApiError, AssertionError) as exc:  # take back the rest, then report
                errors.append(str(exc))
        assert errors == [], errors
    assert r.code == 1, r.stdout[-3000:] + r.stderr[-2000:]
    problems = _problems(r, healthy, cases)
    assert problems == [], "\n".join(problems)
    assert _left(client) == []
    assert _state(client) == before


def test_every_case_taken_back(emulated, client: Cluster, tmp_path, healthy) -> None:
    """After all the batches: nothing seeded is left and the read-only checks are at their baseline."""
    assert _left(client) == []
    kubeconfig = emulated(MATRIX_PROFILE).kubeconfig
    after = _run(tmp_path, kubeconfig, sorted(healthy))
    assert _statuses(after, sorted(healthy)) == healthy, after.stdout[-3000:]


def test_batches_hold_every_case_once_and_meet_in_no_check() -> None:
    """Each case is seeded once; within a batch no two cases are read by the same check (each
    outcome is then one case's), and every affected ID is one the runs check."""
    assert sorted(i for b in BATCHES for i in b) == list(range(len(CASES)))
    for batch in BATCHES:
        seen = [inv for i in batch for inv in CASES[i].found]
        assert len(seen) == len(set(seen)), batch
    assert {inv for c in CASES for inv in c.found} <= set(_read_only_ids()) | set(EXTRA_IDS)
