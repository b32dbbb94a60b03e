"""Section "Namespace level enablement", its note: Harvester's system namespaces are not put under
PSS (the article's exemption list; from v1.8.0 Harvester's built-in whitelist), neither by label
nor, where the article's cluster-wide configuration is used, by its default."""

from __future__ import annotations

from harvester_conformance.checks import pod_security as pss
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require

from .conftest import active_configurations


@invariant("PSS-02")
def test_system_namespaces_stay_privileged(hc: RunContext) -> None:
    namespaces = hc.snapshot.list(R.NAMESPACES)
    system = pss.system_namespaces(hc.release.release.key)
    _, unparsable = pss.cluster_wide(hc.snapshot.list(R.CLOUD_INITS))
    findings = [
        *pss.check_system_namespaces(namespaces, system),
        *(pss.check_exemptions(conf, namespaces, system) for conf in active_configurations(hc)),
        *unparsable,
    ]
    require(findings, "system namespaces under baseline or restricted enforcement")
