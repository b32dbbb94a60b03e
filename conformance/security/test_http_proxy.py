"""Section "HTTP Proxy": http-proxy parses and, with a proxy set, the noProxy Harvester actually
uses (the setting's entries plus the built-in ones HV pkg/util/proxy.go AddBuiltInNoProxy appends,
v1.2.1 … v1.8.2) covers every node's InternalIP, the rule of HV
pkg/webhook/resources/setting/validator.go (v1.3.1+; applied here on every release)."""

from __future__ import annotations

from harvester_conformance.checks import security as sec
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("SEC-01")
def test_http_proxy_covers_node_ips(hc: RunContext) -> None:
    snap = hc.snapshot
    findings = sec.check_http_proxy(snap.get(R.HARVESTER_SETTINGS, "http-proxy"), snap.list(R.NODES))
    require(findings, "http-proxy does not parse or its proxy would carry node-to-node traffic")
