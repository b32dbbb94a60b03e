"""`harvester-conformance cluster upgrade --to VERSION`: the emulated cluster moved to a later
release as Harvester's upgrade does it, so that the regression checks have a real before and after.

What moves, in upgrade order (HV `package/upgrade/upgrade_manifests.sh`, `upgrade_node.sh`; facts.md
§16): the CRDs the target serves (new kinds, new fields); the Harvester settings (each default to
the target's; `server-version` to the target; the old default of a setting the target's upgrade
preserves written into its value, `harvester_settings.yaml` pinned_on_upgrade; values kept);
KubeVirt (virt-operator's image, the CR's observed version) and Longhorn (its version setting,
instance managers rolled); then the nodes, one at a time: cordoned, every running VMI on it
live-migrated away, its kubelet at the target's RKE2 version, uncordoned.

Realistic regressions can be injected after the roll (`--regression`): each is the fault of the
invariant that must find it, or a setting's value lost. The simulator's controllers read the
versions from the cluster, so their release-dependent behaviour follows at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from harvester_conformance.catalogue.releases import known, parse_version
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import areas, lifecycle, seed
from harvester_conformance.emulator.areas import harvester_settings
from harvester_conformance.emulator.profiles import PROFILES, ProfileSpec
from harvester_conformance.waits import wait_for

Progress = Callable[[str], None]
NS = "harvester-system"
MIGRATION_PREFIX = "upgrade-drain-"
RESET_SETTING = "ui-path"  # a value the install wrote (HARVESTER_UI_PATH); nothing reacts to it
# name -> (what it models, the invariant that must find it)
REGRESSIONS: dict[str, tuple[str, str]] = {
    "vm-stopped": ("a VM running before the upgrade is left stopped", "UPG-08"),
    "ip-not-kept": ("a load balancer re-created without its IP-pool history gets a new IP", "IPP-06"),
    "nic-renamed": ("the new kernel names a host's vm-net uplink differently", "NIC-02"),
    "setting-reset": (f"the upgrade resets the {RESET_SETTING} setting's value", "UPG-08"),
}


class BadUpgrade(ValueError):
    """An upgrade Harvester would refuse, or an unknown regression: a usage error."""


def target_of(current: str, to: str) -> ProfileSpec:
    """The target release's profile, upgraded from `current`; BadUpgrade for a path Harvester
    refuses (not a later release, or below the target's minUpgradableVersion)."""
    spec = PROFILES.get(to)
    row = known(to)
    if spec is None or row is None or spec.name != spec.harvester:
        releases = ", ".join(p.name for p in PROFILES.values() if p.name == p.harvester)
        raise BadUpgrade(f"cannot upgrade to {to!r}: the emulator has the releases {releases}")
    if parse_version(to) <= parse_version(current):
        raise BadUpgrade(f"cannot upgrade from {current} to {to}: not a later release")
    if parse_version(current) < parse_version(row.min_upgradable):
        raise BadUpgrade(f"cannot upgrade from {current} to {to}: {to} upgrades from {row.min_upgradable} on")
    return replace(spec, upgraded_from=current)


def check_regressions(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in REGRESSIONS]
    if unknown:
        raise BadUpgrade(f"unknown regression(s) {', '.join(unknown)}; known: {', '.join(REGRESSIONS)}")


def current_release(cl: Cluster) -> str:
    return (cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value") or ""


# -- the steps ------------------------------------------------------------------------------------
def _crds(cl: Cluster, st: lifecycle.State, target: ProfileSpec) -> None:
    """The target's CRDs, applied as the install applied them (conversion through the simulator)."""
    for crd in seed.crd_documents(target):
        cl.apply(R.CRDS, seed.to_simulator(crd, st), manager=seed.MANAGER)


def _settings(cl: Cluster, target: ProfileSpec) -> list[str]:
    """Defaults to the target's, server-version set, preserved old defaults pinned; values kept.
    Returns what changed, for the log."""
    changed = []
    for name, (default, value) in seed.settings_of(target).items():
        old = cl.get(R.HARVESTER_SETTINGS, name)
        if old is None:
            body = {"metadata": {"name": name}, "default": default, **({"value": value} if value else {})}
            cl.apply(R.HARVESTER_SETTINGS, body, manager=seed.MANAGER)
            changed.append(f"{name} added")
            continue
        patch: dict = {}
        if old.get("default", "") != default:
            patch["default"] = default
        if name == "server-version" or (value and not old.get("value") and name != "storage-network"):
            patch["value"] = value
        if patch:
            cl.patch(R.HARVESTER_SETTINGS, name, patch)
            changed.append(f"{name}: {', '.join(sorted(patch))}")
    return changed


def _kubevirt(cl: Cluster, target: ProfileSpec) -> None:
    cl.apply(R.DEPLOYMENTS, seed.virt_operator(target.kubevirt), manager=seed.MANAGER)
    status = {"observedKubeVirtVersion": target.kubevirt, "targetKubeVirtVersion": target.kubevirt}
    cl.patch(R.KUBEVIRTS, "kubevirt", {"status": status}, NS, sub="status")


def _vmis_on(cl: Cluster, node: str) -> list[dict]:
    return [v for v in cl.list(R.VMIS) if (v.get("status") or {}).get("nodeName") == node and _running(v)]


def _running(vmi: dict) -> bool:
    return (vmi.get("status") or {}).get("phase") == "Running" and not vmi["metadata"].get("deletionTimestamp")


def live_migratable(vmi: dict) -> bool:
    """KubeVirt's verdict on the VMI (virt-handler's LiveMigratable condition)."""
    conds = (vmi.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "LiveMigratable" and c.get("status") == "True" for c in conds)


def _drain(cl: Cluster, node: str, progress: Progress) -> None:
    """Every running VMI on `node` live-migrated elsewhere (the node is cordoned: the scheduler
    places each target pod on another one), as Harvester's pre-drain does; a VM that KubeVirt
    cannot migrate is shut down, as the pre-drain shuts it down (the upgrade documentation asks
    for such VMs to be stopped beforehand: one left running is found stopped after)."""
    started: list[tuple[str, str]] = []
    stopped: list[str] = []
    for vmi in _vmis_on(cl, node):
        ns, name = vmi["metadata"]["namespace"], vmi["metadata"]["name"]
        if not live_migratable(vmi):
            cl.patch(R.VMS, name, {"spec": {"running": False}}, ns)
            stopped.append(f"{ns}/{name}")
            continue
        mig = f"{MIGRATION_PREFIX}{name}-{int(time.time())}"
        body = {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstanceMigration",
            "metadata": {"name": mig, "namespace": ns},
            "spec": {"vmiName": name},
        }
        cl.create(R.VMIMS, body, ns)
        started.append((ns, mig))
    for ns, mig in started:
        wait_for("migration-completed", lambda ns=ns, mig=mig: _migrated(cl, ns, mig))
        cl.delete(R.VMIMS, mig, ns)
    for vm in stopped:
        ns, name = vm.split("/")
        wait_for("vmi-stopped", lambda ns=ns, name=name: cl.get(R.VMIS, name, ns) is None)
    progress(
        f"{node}: {len(started)} VMI(s) migrated away"
        + (f", {len(stopped)} not live-migratable shut down ({', '.join(stopped)})" if stopped else "")
    )


def _migrated(cl: Cluster, ns: str, mig: str) -> bool:
    phase = ((cl.get(R.VMIMS, mig, ns) or {}).get("status") or {}).get("phase")
    if phase == "Failed":
        raise RuntimeError(f"migration {ns}/{mig} failed while draining for the upgrade")
    return phase == "Succeeded"


def _roll_node(cl: Cluster, node: str, target: ProfileSpec, progress: Progress) -> None:
    cl.patch(R.NODES, node, {"spec": {"unschedulable": True}})
    try:
        _drain(cl, node, progress)
        info = {
            "kubeletVersion": target.rke2,
            "kubeProxyVersion": target.rke2,
            "osImage": f"Harvester {target.harvester}",
        }
        cl.patch(R.NODES, node, {"status": {"nodeInfo": info}}, sub="status")
    finally:
        cl.patch(R.NODES, node, {"spec": {"unschedulable": None}})
    progress(f"{node}: upgraded to RKE2 {target.rke2}, uncordoned")


def _stop_a_vm(cl: Cluster) -> list[str]:
    """The last running VM by name (one the drain migrated), left stopped."""
    vmi = max((v for v in cl.list(R.VMIS) if _running(v)), key=lambda v: v["metadata"]["name"])
    ns, name = vmi["metadata"]["namespace"], vmi["metadata"]["name"]
    cl.patch(R.VMS, name, {"spec": {"running": False}}, ns)
    wait_for("vmi-stopped", lambda: cl.get(R.VMIS, name, ns) is None)
    return [f"VirtualMachine {ns}/{name}"]


def _inject(name: str, kubeconfig: Path, cl: Cluster) -> list[str]:
    """Put regression `name` in; the objects it changed, as findings name them."""
    if name == "vm-stopped":
        return _stop_a_vm(cl)
    if name == "setting-reset":
        cl.patch(R.HARVESTER_SETTINGS, RESET_SETTING, {"value": None})
        return [f"Setting {RESET_SETTING}"]
    inv = REGRESSIONS[name][1]
    areas.inject(inv, kubeconfig)
    return list(areas.FAULTS[inv].objects)


def upgrade(st: lifecycle.State, to: str, regressions: Sequence[str] = (), progress: Progress = print) -> ProfileSpec:
    """Upgrade the running emulated cluster `st` to release `to`; BadUpgrade before anything
    changes when the path or a regression is unknown. The cluster's state records the new release."""
    check_regressions(regressions)
    kubeconfig = st.kubeconfig
    cl = Cluster.from_kubeconfig(str(kubeconfig))
    try:
        current = current_release(cl)
        target = target_of(current, to)
        progress(f"upgrading {current} to {to}")
        _crds(cl, st, target)
        for line in _settings(cl, target):
            progress(f"setting {line}")
        _kubevirt(cl, target)
        progress(f"KubeVirt {target.kubevirt}")
        harvester_settings.set_longhorn_version(cl, target.longhorn)
        progress(f"Longhorn {target.longhorn}, instance managers rolled")
        for node in sorted(n["metadata"]["name"] for n in cl.list(R.NODES)):
            _roll_node(cl, node, target, progress)
        for name in regressions:
            objects = _inject(name, kubeconfig, cl)
            what, inv = REGRESSIONS[name]
            progress(f"regression injected ({inv}): {'; '.join(objects)}: {what}")
        st.profile = to
        st.save()
        progress(f"upgraded to {to}")
        return target
    finally:
        cl.close()
