"""Sections "Check the VIP" and "5.3 Enable Addons": after the restart the VIP answers (it is the
load-balancer address of the ingress Service), the addons disabled for the shutdown deploy again,
and the Longhorn pods on the storage network have their second address."""

from __future__ import annotations

from harvester_conformance.checks import cluster_restart as rst
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("RST-02")
def test_vip_is_served(hc: RunContext) -> None:
    snap = hc.snapshot
    services = {n: snap.get(R.SERVICES, n, rst.INGRESS_NS) for n in (rst.INGRESS_EXPOSE, rst.TRAEFIK)}
    require(rst.check_vip(snap.get(R.CONFIGMAPS, rst.VIP_CM, rst.VIP_NS), services), "the cluster VIP is not served")


@invariant("RST-04")
def test_enabled_addons_deployed(hc: RunContext) -> None:
    require(rst.check_addons(hc.snapshot.list(R.ADDONS)), "enabled addons not deployed after the restart")


@invariant("RST-04")
def test_storage_network_pods_have_their_address(hc: RunContext) -> None:
    snap = hc.snapshot
    setting = snap.get(R.LONGHORN_SETTINGS, "storage-network", rst.LONGHORN_NS) or {}
    require(
        rst.check_storage_network_pods(str(setting.get("value") or ""), snap.list(R.PODS)),
        "Longhorn pods without their storage-network address",
    )
