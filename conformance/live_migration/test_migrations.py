"""Sections "Migration Status Reporting", "Migration Status" and "Migration Policies", exercised in
the run's own namespace with throw-away VMs: a migration of a non-migratable VMI is refused
(virt-api's migration-create admitter, KV `pkg/virt-api/webhooks/validating-webhook/admitters/
migration-create-admitter.go` isMigratable), a migratable one completes with the configuration in
force recorded, and a MigrationPolicy's values win for the VMIs it selects (KV
`pkg/virt-controller/watch/migrationpolicy.go` MatchPolicy, `migrations/v1alpha1/types.go`
@v0.54.0 … v1.4.0). Everything created is deleted by the test's collector."""

from __future__ import annotations

import pytest

from harvester_conformance import vms
from harvester_conformance.changes import RUN_LABEL, Changes, label_value
from harvester_conformance.checks import live_migration as lm
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Violation, require

from .conftest import configuration, namespace_labels

VALIDATOR = "migration-create-validator.kubevirt.io"
VALIDATOR_CONFIG = "virt-api-validator"  # where virt-operator registers it (KV components/webhooks.go)
POLICY_LABEL = "harvester-conformance.io/migration-policy"
# Values no default has, so that the record shows where each came from; allowPostCopy omitted.
POLICY_VALUES = {"bandwidthPerMigration": "128Mi", "completionTimeoutPerGiB": 123, "allowAutoConverge": True}


def _running(cl: Cluster, ns: str, name: str) -> dict:
    try:
        return vms.wait_running(cl, ns, name)
    except vms.WaitTimeout as exc:
        raise Violation(
            f"VirtualMachineInstance {ns}/{name} did not start: {exc}", [f"VirtualMachine {ns}/{name}"]
        ) from None


def _validator_configs(cl: Cluster) -> list[str]:
    """ValidatingWebhookConfigurations with a webhook on VirtualMachineInstanceMigration CREATE."""
    names = []
    for cfg in cl.list(R.VALIDATING_WEBHOOKS):
        for hook in cfg.get("webhooks") or []:
            for rule in hook.get("rules") or []:
                resources, ops = rule.get("resources") or [], rule.get("operations") or []
                if {"virtualmachineinstancemigrations", "*"} & set(resources) and {"CREATE", "*"} & set(ops):
                    names.append(cfg["metadata"]["name"])
    return sorted(set(names))


@invariant("MIG-04")
def test_migration_of_non_migratable_vmi_is_refused(hc: RunContext, changes: Changes) -> None:
    cl = hc.cluster
    ns, name = vms.create(changes, vms.vm_body("hc-mig04-bridge", bridge=True))
    vmi = _running(cl, ns, name)
    cond = lm.condition(vmi) or {}
    if cond.get("status") != "False":
        raise Violation(
            f"VirtualMachineInstance {ns}/{name}: LiveMigratable is {cond.get('status')!r}, expected False "
            "(a bridge binding on the pod network is InterfaceNotLiveMigratable)",
            [f"VirtualMachineInstance {ns}/{name}"],
        )
    try:
        created = changes.create(R.VMIMS, vms.migration_body("hc-mig04", name))
    except ApiError as exc:
        if exc.status in (400, 403, 422):
            return  # refused at admission, as upstream does
        raise
    configs = _validator_configs(cl)
    where = (
        f"the webhook registered in {', '.join(configs)} admitted it"
        if configs
        else f"no webhook validates migration creation; virt-operator registers {VALIDATOR} in {VALIDATOR_CONFIG}"
    )
    require(
        [
            Finding(
                f"VirtualMachineInstanceMigration {ns}/{created['metadata']['name']}",
                f"accepted for VMI {name}, whose LiveMigratable is False ({cond.get('reason')})",
            ),
            *(Finding(f"ValidatingWebhookConfiguration {c}", where) for c in configs or [VALIDATOR_CONFIG]),
        ],
        "a migration of a VMI that is not live-migratable was not refused",
    )


def _expected(hc: RunContext, kubevirt: lm.Version | None, vmi: dict) -> tuple[dict, str | None]:
    """(configuration, policy name) the migration of `vmi` must run with, read live."""
    cl = hc.cluster
    cfg = configuration(cl.get(R.KUBEVIRTS, "kubevirt", lm.NAMESPACE), kubevirt).plain()
    ns = vmi["metadata"]["namespace"]
    labels = namespace_labels([n for n in [cl.get(R.NAMESPACES, ns)] if n])
    policy = lm.match_policy(
        cl.list(R.MIGRATION_POLICIES), vmi["metadata"].get("labels") or {}, labels.get(ns), kubevirt
    )
    return lm.with_policy(cfg, policy), (policy or {}).get("metadata", {}).get("name")


def _migrate(hc: RunContext, changes: Changes, ns: str, vmi: dict, name: str) -> tuple[dict, dict]:
    """Migrate and wait: (final VMIM, VMI after it)."""
    cl = hc.cluster
    created = changes.create(R.VMIMS, vms.migration_body(name, vmi["metadata"]["name"]))
    ref = f"VirtualMachineInstanceMigration {ns}/{created['metadata']['name']}"
    try:
        final = vms.wait_final(cl, ns, created["metadata"]["name"])
    except vms.WaitTimeout as exc:
        raise Violation(
            f"{ref} did not finish: {exc}; the KubeVirt CR {lm.CR.split(' ', 1)[1]} sets the migration "
            "configuration and network it runs with",
            [ref, lm.CR],
        ) from None
    after = cl.get(R.VMIS, vmi["metadata"]["name"], ns) or {}
    if final["status"]["phase"] == "Failed":
        state = lm.record(final, after)
        why = state.get("failureReason") or "; ".join(
            c.get("message") or c.get("reason") or "" for c in final["status"].get("conditions") or []
        )
        raise Violation(
            f"{ref} of a live-migratable VMI failed ({why or 'no reason given'}); the KubeVirt CR "
            f"{lm.CR.split(' ', 1)[1]} sets the migration configuration and network it ran with",
            [ref, lm.CR],
        )
    return final, after


@invariant("MIG-05")
def test_migratable_vmi_migrates(hc: RunContext, changes: Changes, kubevirt: lm.Version | None) -> None:
    ns, name = vms.create(changes, vms.vm_body("hc-mig05"))
    vmi = _running(hc.cluster, ns, name)
    if (lm.condition(vmi) or {}).get("status") != "True":
        raise Violation(
            f"VirtualMachineInstance {ns}/{name} is not live-migratable", [f"VirtualMachineInstance {ns}/{name}"]
        )
    expected, policy = _expected(hc, kubevirt, vmi)
    final, after = _migrate(hc, changes, ns, vmi, "hc-mig05")
    ref = f"VirtualMachineInstanceMigration {ns}/{final['metadata']['name']}"
    require(
        [Finding(ref, p) for p in lm.check_completed(final, after, expected, kubevirt, policy)],
        "a completed migration's recorded state is inconsistent",
    )


def _policy_body(kubevirt: lm.Version | None, run: str, vmi_value: str) -> dict:
    vmi_sel, ns_sel = {POLICY_LABEL: vmi_value}, {RUN_LABEL: run}
    if kubevirt is not None and kubevirt < (1, 1):  # a metav1.LabelSelector before 1.1
        vmi_sel, ns_sel = {"matchLabels": vmi_sel}, {"matchLabels": ns_sel}
    return {
        "apiVersion": R.MIGRATION_POLICIES.api_version,
        "kind": R.MIGRATION_POLICIES.kind,
        "metadata": {"generateName": "hc-mig07-"},
        "spec": {
            "selectors": {"virtualMachineInstanceSelector": vmi_sel, "namespaceSelector": ns_sel},
            **POLICY_VALUES,
        },
    }


def _recorded_policy_findings(hc: RunContext, kubevirt: lm.Version | None) -> list[Finding]:
    """Migrations already in the cluster whose record disagrees with the policy that selects
    their VMI (as its labels are now) or its values."""
    cl = hc.cluster
    policies = cl.list(R.MIGRATION_POLICIES)
    if not policies:
        return []
    cfg = configuration(cl.get(R.KUBEVIRTS, "kubevirt", lm.NAMESPACE), kubevirt).plain()
    ns_labels = namespace_labels(cl.list(R.NAMESPACES))
    out = []
    for vmim in cl.list(R.VMIMS):
        if (vmim.get("status") or {}).get("phase") not in ("Running", "Succeeded"):
            continue
        ns = vmim["metadata"]["namespace"]
        vmi = cl.get(R.VMIS, (vmim.get("spec") or {}).get("vmiName") or "", ns)
        state = lm.record(vmim, vmi)
        if vmi is None or not state.get("migrationConfiguration"):
            continue
        policy = lm.match_policy(policies, vmi["metadata"].get("labels") or {}, ns_labels.get(ns), kubevirt)
        if policy is None:
            continue
        name = policy["metadata"]["name"]
        problems = []
        if state.get("migrationPolicyName") != name:
            problems.append(f"migrationPolicyName {state.get('migrationPolicyName')!r}, expected {name!r}")
        problems += lm.config_differences(lm.with_policy(cfg, policy), state["migrationConfiguration"])
        if problems:
            out.append(
                Finding(
                    lm.ref(vmim, "VirtualMachineInstanceMigration"),
                    f"VMI {vmi['metadata']['name']} is selected by MigrationPolicy {name}: " + ", ".join(problems),
                )
            )
    return out


@invariant("MIG-07")
def test_migration_policy_values_win(hc: RunContext, changes: Changes, kubevirt: lm.Version | None) -> None:
    cl = hc.cluster
    malformed = [
        Finding(f"MigrationPolicy {p['metadata']['name']}", problem)
        for p in cl.list(R.MIGRATION_POLICIES)
        for problem in lm.policy_problems(p, kubevirt)
    ]
    require(malformed + _recorded_policy_findings(hc, kubevirt), "MigrationPolicies malformed or not applied")
    run = label_value(hc.run_id)
    ns = changes.namespace()
    try:
        policy = changes.create(R.MIGRATION_POLICIES, _policy_body(kubevirt, run, ns))
    except ApiError as exc:
        if exc.status == 404:
            pytest.skip("not applicable: the MigrationPolicy API is not served")
        raise
    ns, name = vms.create(changes, vms.vm_body("hc-mig07", labels={POLICY_LABEL: ns}))
    vmi = _running(cl, ns, name)
    expected, chosen = _expected(hc, kubevirt, vmi)
    policy_name = policy["metadata"]["name"]
    if chosen != policy_name:
        raise Violation(
            f"MigrationPolicy {policy_name} is not the one upstream picks for VMI {ns}/{name} ({chosen!r} is)",
            [f"MigrationPolicy {policy_name}"],
        )
    final, after = _migrate(hc, changes, ns, vmi, "hc-mig07")
    state = lm.record(final, after)
    ref = f"VirtualMachineInstanceMigration {ns}/{final['metadata']['name']}"
    problems = []
    if state.get("migrationPolicyName") != policy_name:
        problems.append(f"migrationPolicyName {state.get('migrationPolicyName')!r}, expected {policy_name}")
    problems += lm.config_differences(expected, state.get("migrationConfiguration"))
    require(
        [Finding(ref, f"selected by MigrationPolicy {policy_name}: {p}") for p in problems],
        "a policy-selected migration did not run with the policy's values (and the CR's for fields it omits)",
    )
