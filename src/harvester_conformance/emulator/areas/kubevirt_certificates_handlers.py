"""What virt-api and virt-operator's webhook server answer (they serve with the certificates of
kubevirt-virt-api-certs and kubevirt-operator-certs, see kubevirt_certificates_serving).

virt-api (`pkg/virt-api/api.go` @v0.54.0 and v1.1.1): `/apis`, `/apis/subresources.kubevirt.io`
and its versions' resource lists (what the aggregator's availability check and discovery read; no
authorisation needed upstream either), and the webhooks of kubevirt_certificates_registrations.
The migration-create validator is the workload area's (kubevirt_webhooks); KubeVirt's other
admission logic is not modelled: those webhooks admit unchanged. Subresource actions (console,
pause, migrate, ...) answer 501.

virt-operator (`pkg/virt-operator/webhooks`): the KubeVirt CR's create, update and delete
validators, admitted unchanged (the certificate-strategy rules of kubevirt-update-admitter.go are
not modelled, so that KVC-01 can write a malformed strategy as an older release let through).
"""

from __future__ import annotations

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import kubevirt_certificates_registrations as reg
from harvester_conformance.emulator.areas import kubevirt_webhooks
from harvester_conformance.emulator.areas.kubevirt_certificates_serving import Routes, status
from harvester_conformance.emulator.areas.kubevirt_model import version_tuple
from harvester_conformance.emulator.simulator.webhooks import Result

NS = reg.NS
_VMI = ["vnc", "console", "portforward", "pause", "unpause", "freeze", "unfreeze"]
_SEV = ["sev/fetchcertchain", "sev/querylaunchmeasurement", "sev/setupsession", "sev/injectlaunchsecret"]


def subresources(version: tuple[int, ...]) -> list[str]:
    """The APIResourceList of each subresources version (api.go `getAPISubResources`): v0.54.0;
    `expand-vm-spec`, `virtualmachines/expand-spec` and SEV from 1.0 (v1.1.1 = v1.3.1 = v1.4.0);
    `reset` from 1.5."""
    vmi = [*_VMI, *(["reset"] if version >= (1, 5) else []), "softreboot"]
    vm = ["start", "stop", "restart", "migrate", *(["expand-spec"] if version >= (1, 0) else [])]
    tail = ["guestosinfo", "userlist", "filesystemlist", "addvolume", "removevolume"]
    tail += _SEV if version >= (1, 0) else []
    names = [f"virtualmachineinstances/{n}" for n in vmi] + [f"virtualmachines/{n}" for n in vm]
    names += [f"virtualmachineinstances/{n}" for n in tail]
    return (["expand-vm-spec"] if version >= (1, 0) else []) + names


def _api_group() -> dict:
    """subresourceAPIGroup() of api.go; its name is spelled without the "s" upstream."""
    versions = [{"groupVersion": f"{reg.GROUP}/{v}", "version": v} for v in reg.GROUP_VERSIONS]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": "subresource.kubevirt.io",
        "versions": versions,
        "preferredVersion": versions[0],
    }


def discovery(cl: Cluster, path: str) -> tuple[int, dict]:
    """A GET to virt-api, as api.go answers it."""
    if path in ("/apis", "/apis/"):
        return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_api_group()]}
    if path.rstrip("/") == f"/apis/{reg.GROUP}":
        return 200, _api_group()
    for version in reg.GROUP_VERSIONS:
        if path.rstrip("/") == f"/apis/{reg.GROUP}/{version}":
            kv = cl.get(R.KUBEVIRTS, "kubevirt", NS) or {}
            ver = version_tuple((kv.get("status") or {}).get("observedKubeVirtVersion") or "v1.1.1")
            resources = [
                {"name": n, "singularName": "", "namespaced": True, "kind": "", "verbs": None}
                for n in subresources(ver)
            ]
            return 200, {
                "kind": "APIResourceList",
                "apiVersion": version,
                "groupVersion": f"{reg.GROUP}/{version}",
                "resources": resources,
            }
    if path.startswith(f"/apis/{reg.GROUP}/"):
        return 501, status(501, "NotImplemented", f"the emulated virt-api does not serve {path}")
    return 404, status(404, "NotFound", "the server could not find the requested resource")


def _admit(request: dict, cluster: Cluster) -> Result:
    return True, "", None


VIRT_API_ROUTES: Routes = dict.fromkeys(reg.VIRT_API_PATHS, _admit)
VIRT_API_ROUTES[reg.MIGRATION_CREATE.path] = kubevirt_webhooks.validate_migration
OPERATOR_ROUTES: Routes = dict.fromkeys(reg.OPERATOR_PATHS, _admit)
