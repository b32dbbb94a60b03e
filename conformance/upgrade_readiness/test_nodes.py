"""The gate's node rules (HV pkg/webhook/resources/upgrade/validator.go `checkNodes`,
`checkDiskSpace`, v1.2.1 … v1.8.2): every node Ready and schedulable, and (used + 13 GiB) of the
kubelet's root filesystem within its imageGCHighThresholdPercent (kubelet default 85). The gate
reads /stats/summary and /configz from each kubelet; here they come through the API server's node
proxy. A node whose figures cannot be read leaves the invariant unknown (broken), never passed.
The disk rule is skipped by `harvesterhci.io/skipGarbageCollectionThresholdCheck`: on v1.5.0 on
the Version the Upgrade names (honoured when every Version carries it), from v1.5.1 on the
Upgrade itself (not visible before it is created: the finding says so).

On v1.7.x, the pre-check script's COS_STATE rule before the step to v1.8 (harvester/upgrade-helpers
pre-check/v1.x/check.sh `check_cos_state_partition_size`): COS_STATE at least 15 GB on every node,
read through the node probe (the host's mount table and /proc/partitions). Without a probe that
part is left out and the message of a failure says so."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import upgrade_readiness as ur
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.hosts import HostFiles, host_files  # noqa: F401 - the shared fixture, asked for on v1.7.x
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, require

from .conftest import KubeletDisk


def HOST_PATHS(hc: RunContext) -> list[str]:  # noqa: N802 - the name the host-file reader looks for
    """COS_STATE's size, only where the pre-check asks for it (v1.7.x)."""
    return [ur.HOST_MOUNTINFO, ur.HOST_PARTITIONS] if ur.Gate(hc.release.release.key).cos_state_size else []


def _cos_state(request: pytest.FixtureRequest) -> tuple[list[Finding | None], list[str], str]:
    """(findings, nodes whose size is unknown, a note when no probe could be had)."""
    try:
        files: HostFiles = request.getfixturevalue("host_files")
    except pytest.skip.Exception as exc:
        return [], [], f" (COS_STATE size not checked: {exc.msg})"
    findings, unknown = [], [f"Node {n} (not probed: {why})" for n, why in sorted(files.errors.items())]
    for node, read in files.readable().items():
        kib, what = ur.cos_state_kib(read.get(ur.HOST_MOUNTINFO), read.get(ur.HOST_PARTITIONS))
        if kib is None:
            unknown.append(f"Node {node} (COS_STATE size: {what})")
        else:
            findings.append(ur.check_cos_state(node, kib, what))
    return findings, unknown, ""


@invariant("UPG-02")
def test_nodes_ready_schedulable_with_disk_room(
    request: pytest.FixtureRequest, hc: RunContext, gate: ur.Gate, kubelet_disks: dict[str, KubeletDisk]
) -> None:
    nodes = hc.snapshot.list(R.NODES)
    waiver = ur.disk_rule_waiver(gate, hc.snapshot.list(R.VERSIONS, "harvester-system"))
    findings = [ur.check_node_state(n) for n in nodes]
    unknown = []
    for node in nodes:
        name = node["metadata"]["name"]
        disk = kubelet_disks.get(name)
        if waiver.applies:
            continue
        if disk is None or disk.fs is None:
            unknown.append(f"Node {name} ({disk.error if disk else 'not read'})")
            continue
        findings.append(ur.check_disk_room(name, disk.fs, disk.threshold, waiver))
    note = f" (disk rule {waiver.note})" if waiver.applies else ""
    cos_unknown: list[str] = []
    if gate.cos_state_size:
        cos, cos_unknown, cos_note = _cos_state(request)
        findings += cos
        note += cos_note
    require(findings, f"nodes the upgrade gate (or v1.7's pre-check) refuses{note}")
    if unknown:
        raise Broken(f"disk room unknown: kubelet stats not readable for {'; '.join(unknown)}", prerequisite="MET-02")
    if cos_unknown:
        raise Broken(f"COS_STATE size unknown: {'; '.join(cos_unknown)}")
