"""What an upgrade must preserve, recorded before and compared after (IPP-06, NIC-02, UPG-08).

The state document is plain data, written by `harvester-conformance snapshot` and by a run given
`--record-state`, sanitized like the run's snapshot (settings keep values the cleaners keep). A
`diff` of two documents lists every change, each one either a regression or a change the target
release makes on purpose:

- VMs (UPG-08): every VM of before still exists, in the same power state (running: the VM's
  status is Running or Migrating, or it is ready; KubeVirt `status.printableStatus`).
- Load balancers and IP pools (IPP-06; the article "Upgrading guest clusters with Harvester IP
  pool compatibility"): each load balancer keeps its address (`status.address`); each pool keeps
  its allocations (`status.allocated`, IP -> "namespace/name") and its history
  (`status.allocatedHistory`). An IP whose load balancer no longer exists may move from allocated
  to history (on deletion; from v1.6.0 also by hand, through the pool annotation
  `loadbalancer.harvesterhci.io/manuallyReleaseIP`): the missing load balancer is reported instead.
- NICs (NIC-02; the article "NIC Naming Scheme"): the NIC names the networks name (VlanConfig
  uplinks; the legacy ClusterNetwork and NodeNetworks) are unchanged, and where the hosts were
  probed, every name that existed on a node before still exists there.
- Settings (UPG-08): a setting's explicit value (`value`) is unchanged, except `server-version`,
  which the upgrade itself rewrites. A changed default (`default`, with no value set) is the
  release's own change, expected; so is a setting the release adds, or removes when it had no
  value.
- Components (UPG-08): after an upgrade to a release of the version table, each component is that
  row's version (expected), and the source was at least the row's minUpgradableVersion; a version
  that changed without a Harvester upgrade, or differs from the row, is a regression.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harvester_conformance.catalogue.releases import Release, known, parse_version
from harvester_conformance.checks import nic_naming
from harvester_conformance.checks.findings import Finding

FORMAT = "harvester-conformance/upgrade-state/v1"
RUNNING = ("Running", "Migrating")
REWRITTEN_BY_UPGRADE = {"server-version": "the upgrade sets it to the new release"}
# The components the version table pins, as the state records them (`versions`).
PINNED = ("kubevirt", "longhorn", "rke2")
# Where each reports its version (cluster/versions.py), named as findings name objects.
COMPONENT_OBJECTS = {
    "kubevirt": "KubeVirt harvester-system/kubevirt",
    "longhorn": "Setting longhorn-system/current-longhorn-version",
    "rke2": "Nodes (kubeletVersion)",
}
IPP, NIC, UPG = "IPP-06", "NIC-02", "UPG-08"


class NotAState(ValueError):
    """A file that is not a state document this version reads."""


# -- recording -------------------------------------------------------------------------------------
def _name(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


def vm_power(vm: dict) -> str:
    """ "running", "stopped", or the VM's printable status when it is neither (Paused, an error)."""
    status = vm.get("status") or {}
    printable = status.get("printableStatus") or ""
    if printable in RUNNING or status.get("ready") is True:
        return "running"
    if printable in ("", "Stopped"):
        return "stopped"
    return printable


def _pool(pool: dict) -> dict:
    status = pool.get("status") or {}
    return {
        "allocated": dict(sorted((status.get("allocated") or {}).items())),
        "history": dict(sorted((status.get("allocatedHistory") or {}).items())),
    }


def _setting(setting: dict) -> dict:
    return {"value": setting.get("value") or "", "default": setting.get("default") or ""}


def record(
    *,
    taken_at: str,
    versions: Mapping[str, str | None],
    vms: Iterable[dict],
    load_balancers: Iterable[dict],
    ip_pools: Iterable[dict],
    settings: Iterable[dict],
    nic_uses: Iterable[nic_naming.NicUse],
    host_nics: Mapping[str, Iterable[str]] | None = None,
) -> dict:
    """The state document. `host_nics`: per node read by the probe, the NIC names of `nic_uses`
    that exist there (None: the hosts were not probed)."""
    return {
        "format": FORMAT,
        "taken_at": taken_at,
        "versions": dict(versions),
        "vms": {_name(v): vm_power(v) for v in sorted(vms, key=_name)},
        "load_balancers": {_name(lb): (lb.get("status") or {}).get("address") or "" for lb in load_balancers},
        "ip_pools": {_name(p): _pool(p) for p in sorted(ip_pools, key=_name)},
        "settings": {_name(s): _setting(s) for s in sorted(settings, key=_name)},
        "networks": {u.object: {"nics": list(u.nics), "nodes": list(u.nodes)} for u in nic_uses},
        "host_nics": None if host_nics is None else {n: sorted(v) for n, v in sorted(host_nics.items())},
    }


def load(doc: object) -> dict:
    """`doc` checked to be a state document of this format."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise NotAState(f"not an upgrade state document (format {found!r}, expected {FORMAT!r})")
    return doc


# -- comparing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """One difference between the two states: a regression, or the release's own change."""

    invariant: str  # IPP-06, NIC-02 or UPG-08
    object: str  # as findings spell it: "VirtualMachine ns/name", "Setting name"
    message: str
    expected: bool

    def finding(self) -> Finding:
        return Finding(self.object, self.message)


def _bad(invariant: str, obj: str, message: str) -> Change:
    return Change(invariant, obj, message, expected=False)


def _ok(invariant: str, obj: str, message: str) -> Change:
    return Change(invariant, obj, message, expected=True)


def _vms(before: dict, after: dict) -> list[Change]:
    out = []
    for name, was in before["vms"].items():
        now = after["vms"].get(name)
        obj = f"VirtualMachine {name}"
        if now is None:
            out.append(_bad(UPG, obj, f"{was} before the upgrade, gone after it"))
        elif now != was:
            out.append(_bad(UPG, obj, f"{was} before the upgrade, {now} after it"))
    return out


def _load_balancers(before: dict, after: dict) -> list[Change]:
    out = []
    for name, ip in before["load_balancers"].items():
        obj = f"LoadBalancer {name}"
        if name not in after["load_balancers"]:
            out.append(_bad(IPP, obj, f"had {ip or 'no address'} before the upgrade, gone after it"))
        elif (now := after["load_balancers"][name]) != ip:
            out.append(_bad(IPP, obj, f"address {ip or 'none'} before the upgrade, {now or 'none'} after it"))
    return out


def _pools(before: dict, after: dict) -> list[Change]:
    out = []
    for name, was in before["ip_pools"].items():
        obj = f"IPPool {name}"
        now = after["ip_pools"].get(name)
        if now is None:
            out.append(_bad(IPP, obj, "gone after the upgrade, with its allocations and history"))
            continue
        problems = []
        for ip, applicant in was["allocated"].items():
            held = now["allocated"].get(ip)
            if held == applicant:
                continue
            if held is None and now["history"].get(ip) == applicant and applicant not in after["load_balancers"]:
                continue  # released with its load balancer, which is reported missing on its own
            if held:
                problems.append(f"{ip} was allocated to {applicant}, now to {held}")
            else:
                where = "in the history only" if now["history"].get(ip) == applicant else "not allocated"
                problems.append(f"{ip} was allocated to {applicant}, now {where}")
        for ip, applicant in was["history"].items():
            if now["history"].get(ip) != applicant and now["allocated"].get(ip) != applicant:
                problems.append(f"history entry {ip} -> {applicant} lost")
        if problems:
            out.append(_bad(IPP, obj, "; ".join(problems)))
    return out


def _networks(before: dict, after: dict) -> list[Change]:
    out = []
    for name, was in before["networks"].items():
        now = after["networks"].get(name)
        if now is None:
            out.append(_bad(NIC, name, f"named NIC(s) {', '.join(was['nics'])} before the upgrade, gone after it"))
        elif now["nics"] != was["nics"]:
            nics = f"names NIC(s) {', '.join(now['nics']) or 'none'}, not {', '.join(was['nics'])}"
            out.append(_bad(NIC, name, nics + " as before the upgrade"))
    hosts_before, hosts_after = before.get("host_nics"), after.get("host_nics")
    if hosts_before and hosts_after:
        for node, nics in hosts_before.items():
            if node not in hosts_after:
                continue  # a node not read after: nothing to say of its NICs
            lost = [n for n in nics if n not in hosts_after[node]]
            if lost:
                lines = f"NIC(s) {', '.join(lost)} that the networks name existed here before the upgrade, not after"
                out.append(_bad(NIC, f"Node {node}", lines))
    return out


def _settings(before: dict, after: dict) -> list[Change]:
    out = []
    for name, was in before["settings"].items():
        obj = f"Setting {name}"
        now = after["settings"].get(name)
        if name in REWRITTEN_BY_UPGRADE:
            if now != was:
                out.append(_ok(UPG, obj, REWRITTEN_BY_UPGRADE[name]))
        elif now is None:
            if was["value"]:
                out.append(_bad(UPG, obj, f"value {was['value']!r} before the upgrade; the setting is gone"))
            else:
                out.append(_ok(UPG, obj, "removed by the release (it had no value set)"))
        elif now["value"] != was["value"]:
            out.append(_bad(UPG, obj, f"value {was['value']!r} before the upgrade, {now['value']!r} after it"))
        elif now["default"] != was["default"] and not now["value"]:
            out.append(_ok(UPG, obj, f"the release's default {was['default']!r} became {now['default']!r}"))
    for name in sorted(set(after["settings"]) - set(before["settings"])):
        out.append(_ok(UPG, f"Setting {name}", "added by the release"))
    return out


def _target(before: dict, after: dict) -> tuple[str | None, str | None, Release | None]:
    was, now = before["versions"].get("harvester"), after["versions"].get("harvester")
    return was, now, (known(now) if now else None)


def _versions(before: dict, after: dict) -> list[Change]:
    was, now, row = _target(before, after)
    out = []
    upgraded = was != now
    if upgraded and row is not None and was and parse_version(was) < parse_version(row.min_upgradable):
        step = f"{was} to {now} skips a step: {now} upgrades from {row.min_upgradable} on"
        out.append(_bad(UPG, "Setting server-version", step))
    for component in PINNED:
        a, b = before["versions"].get(component), after["versions"].get(component)
        obj = COMPONENT_OBJECTS[component]
        if upgraded and row is not None:
            pinned = row.components()[component]
            if b != pinned:
                out.append(_bad(UPG, obj, f"{b or 'unknown'} after the upgrade; Harvester {row.label} ships {pinned}"))
            elif a != b:
                out.append(_ok(UPG, obj, f"{a or 'unknown'} to {b}, as Harvester {row.label} ships"))
        elif a != b and not upgraded:
            out.append(_bad(UPG, obj, f"{a or 'unknown'} before, {b or 'unknown'} after, without a Harvester upgrade"))
        elif a != b:  # an upgrade to a release the table does not know: nothing to hold it to
            unverified = f"{a or 'unknown'} to {b or 'unknown'}; Harvester {now} is not in the version table"
            out.append(_ok(UPG, obj, unverified + ", unverified"))
    return out


def diff(before: dict, after: dict) -> list[Change]:
    """Every change from `before` to `after`, regressions and expected ones, in a stable order."""
    before, after = load(before), load(after)
    changes = [
        *_vms(before, after),
        *_load_balancers(before, after),
        *_pools(before, after),
        *_networks(before, after),
        *_settings(before, after),
        *_versions(before, after),
    ]
    return sorted(changes, key=lambda c: (c.expected, c.invariant, c.object))


def regressions(changes: Iterable[Change], invariant: str | None = None) -> list[Finding]:
    """The regressions among `changes` (of one invariant when given), as findings."""
    return [c.finding() for c in changes if not c.expected and invariant in (None, c.invariant)]
