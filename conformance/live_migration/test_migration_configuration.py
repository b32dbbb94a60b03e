"""Section "Changing Cluster Wide Migration Limits": the effective limits, from the KubeVirt CR
over the running KubeVirt's defaults (KV `pkg/virt-config/virt-config.go` @v0.54.0 … v1.4.0:
bandwidthPerMigration 0, completionTimeoutPerGiB 800 up to 1.3.x and 150 from 1.4.0)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import live_migration as lm
from harvester_conformance.checks.findings import Finding
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise, require


@invariant("MIG-01")
def test_effective_migration_configuration(
    request: pytest.FixtureRequest, kubevirt_cr: dict | None, kubevirt: lm.Version | None
) -> None:
    if kubevirt_cr is None:
        require([Finding(lm.CR, "missing: the migration configuration in force is unknown")], "KubeVirt CR")
    spec = kubevirt_cr.get("spec") or {}
    configuration = spec.get("configuration")
    shape = [] if configuration is None or isinstance(configuration, dict) else ["spec.configuration is not an object"]
    migrations = (configuration or {}).get("migrations") if not shape else None
    where = "spec.configuration.migrations"
    problems = shape + [
        f"{where} {p}" if p.startswith("is ") else f"{where}.{p}" for p in lm.config_problems(migrations)
    ]
    require(
        [Finding(lm.CR, p) for p in problems],
        "the KubeVirt CR's migration configuration is malformed: KubeVirt cannot apply it",
    )
    cfg = lm.effective(spec, kubevirt)
    advise(
        request,
        lm.deliberate(cfg),
        f"migration limits set on purpose differ from the running KubeVirt's defaults (in force: {lm.table(cfg)})",
    )
