"""Section "Changing Cluster Wide Migration Limits": the effective limits, from the KubeVirt CR
over the running KubeVirt's defaults (KV `pkg/virt-config/virt-config.go` @v0.54.0 … v1.7.4:
bandwidthPerMigration 0, completionTimeoutPerGiB 800 up to 1.3.x and 150 from 1.4.0). From
Harvester v1.7.0 the kubevirt-migration setting owns the CR's block (HV
`pkg/controller/master/setting/kubevirt_migration.go` @v1.7.3, v1.8.2): each value is traced to the
setting, to a direct edit of the CR (which Harvester overwrites) or to KubeVirt's default."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import live_migration as lm
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise, require


@invariant("MIG-01")
def test_effective_migration_configuration(
    request: pytest.FixtureRequest, hc: RunContext, kubevirt_cr: dict | None, kubevirt: lm.Version | None
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
    rules = f"rules of Harvester {hc.release.rules_from}"
    if not lm.setting_owns(hc.release.release.key):
        cfg = lm.effective(spec, kubevirt)
        advise(
            request,
            lm.deliberate(cfg),
            f"migration limits set on purpose differ from the running KubeVirt's defaults ({rules}; "
            f"in force: {lm.table(cfg)})",
        )
        return
    setting, unusable = lm.setting_values(hc.snapshot.get(R.HARVESTER_SETTINGS, lm.SETTING))
    require(
        [Finding(lm.SETTING_OBJ, p) for p in unusable],
        f"the kubevirt-migration setting that owns the KubeVirt CR's migration block is unusable ({rules})",
    )
    assert setting is not None
    cfg = lm.effective_with_setting(spec, kubevirt, setting)
    advise(
        request,
        lm.drift(cfg) + lm.deliberate(cfg),
        f"migration limits differ from the running KubeVirt's defaults or from the kubevirt-migration setting "
        f"({rules}; in force: {lm.table(cfg)}); {lm.ARTICLE_VS_RELEASE}",
    )
