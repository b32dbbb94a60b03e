"""NTA-01..03 without a cluster (the article's storage.yaml and authorize_trident.yaml; RBAC
wildcards as kubernetes pkg/apis/rbac/v1/evaluation_helpers.go; the article's /oem files, its
multipath.conf example and harvester-installer's Longhorn blacklist for NTA-03)."""

from __future__ import annotations

import base64
import json

from harvester_conformance.checks import netapp_trident as nt
from harvester_conformance.probes.parsers import UnitState

SC = [{"metadata": {"name": "ontap-san-economy"}, "provisioner": nt.DRIVER}]
VSC = [{"metadata": {"name": "csi-snapclass"}, "driver": nt.DRIVER}]
ENTRY = {nt.DRIVER: {"volumeSnapshotClassName": "csi-snapclass", "backupVolumeSnapshotClassName": "csi-snapclass"}}
SETTING = {"metadata": {"name": "csi-driver-config"}, "value": json.dumps(ENTRY)}


def test_installed_evidence() -> None:
    assert nt.installed_evidence([], [], [], {"value": "{}"}) == []
    assert nt.installed_evidence([{"metadata": {"name": nt.DRIVER}}], [], [], None) == [f"CSIDriver {nt.DRIVER}"]


def test_classes_and_config() -> None:
    assert nt.check_classes(SC, VSC, SETTING) == []
    found = nt.check_classes([], VSC, SETTING)
    assert [f.object for f in found] == ["StorageClass ontap-san-economy"]
    found = nt.check_classes(SC, [], SETTING)
    assert [f.object for f in found] == [
        "VolumeSnapshotClass csi-snapclass",
        "Setting csi-driver-config",
        "Setting csi-driver-config",
    ]
    assert "no entry" in nt.check_classes(SC, VSC, {"value": "{}"})[0].message


def _role(verbs: list[str], groups: list[str] | None = None) -> dict:
    rule = {"apiGroups": groups or ["management.cattle.io"], "resources": ["projects"], "verbs": verbs}
    return {"metadata": {"name": nt.PSA_ROLE}, "rules": [rule]}


BINDING = {
    "metadata": {"name": nt.PSA_ROLE},
    "roleRef": {"kind": "ClusterRole", "name": nt.PSA_ROLE},
    "subjects": [{"kind": "ServiceAccount", "name": "trident-operator", "namespace": "trident"}],
}
SA = [{"metadata": {"name": "trident-operator", "namespace": "trident"}}]


def test_psa_role_and_binding() -> None:
    assert nt.check_psa_role(_role(["updatepsa"]), [BINDING], SA) == []
    assert nt.check_psa_role(_role(["*"], ["*"]), [BINDING], SA) == []
    found = nt.check_psa_role(_role(["get", "list"]), [BINDING], SA)
    assert found[0].object == "ClusterRole trident-operator-psa" and "get, list" in found[0].message
    found = nt.check_psa_role(_role(["updatepsa"]), [BINDING], [])
    assert found[0].object == "ClusterRoleBinding trident-operator-psa"
    assert nt.check_psa_role(None, [BINDING], SA)[0].object == "ClusterRole trident-operator-psa"


# -- NTA-03: multipathd on every host (the article's "Enable multipathd", revised 2026-02-17) --------------
RUNNING = UnitState("loaded", "active", "running", "enabled")
OEM_REVISED = b"""stages:
  initramfs:
    - name: "Setup multipathd"
      systemctl:
        enable: [multipathd]
        start: [multipathd]
"""
# The article's second /oem file, regenerating /etc/multipath.conf at every boot.
BLACKLIST = b"""blacklist {
    device {
        vendor "!NETAPP"
        product "!LUN"
    }
}
blacklist_exceptions {
    device {
        vendor "NETAPP"
        product "LUN"
    }
}
"""
OEM_CONF = (
    b"stages:\n  initramfs:\n    - files:\n        - path: /etc/multipath.conf\n          content: |\n"
    + b"".join(b"            " + line + b"\n" for line in BLACKLIST.splitlines())
)
# What harvester-installer writes from v1.5.0 (pkg/config/cos.go disableLonghornMultipathing).
LONGHORN_DROPIN = b'blacklist {\n  device {\n    vendor "IET"\n    product "VIRTUAL-DISK"\n  }\n}'
OEM_INSTALLER = (
    b"name: Harvester Configuration\nstages:\n  initramfs:\n    - hostname: node-1\n      files:\n"
    b"        - path: /etc/multipath/conf.d/99-longhorn.conf\n          encoding: base64\n"
    b"          content: " + base64.b64encode(LONGHORN_DROPIN) + b"\n"
)
DISKS = (nt.ScsiDisk("sda", "ATA", "SAMSUNG MZ7LH960"), nt.ScsiDisk("sdc", "IET", "VIRTUAL-DISK"))
NETAPP_MAP = nt.MultipathMap("dm-0", "3600a098038303053453f4a4f4b6e7a31", ("sdd", "sde"))


def _host(**change: object) -> nt.MultipathHost:
    base: dict = {
        "node": "node-1",
        "unit": RUNNING,
        "oem": {"/oem/99_multipathd.yaml": OEM_REVISED, "/oem/99_multipath_conf.yaml": OEM_CONF},
        "config": {nt.MULTIPATH_CONF: BLACKLIST},
        "maps": (NETAPP_MAP,),
        "disks": (*DISKS, nt.ScsiDisk("sdd", "NETAPP", "LUN C-Mode"), nt.ScsiDisk("sde", "NETAPP", "LUN C-Mode")),
    }
    return nt.MultipathHost(**{**base, **change})


def test_multipath_host_as_the_revised_article_sets_it_up() -> None:
    assert nt.check_multipath_host(_host()) is None


def test_multipath_unit_must_be_enabled_and_running() -> None:
    found = nt.check_multipath_host(_host(unit=UnitState("loaded", "inactive", "dead", "disabled")))
    assert found is not None and found.object == "Node node-1"
    assert "multipathd.service is disabled; expected enabled" in found.message
    assert "multipathd.service is inactive (dead); expected active (running)" in found.message
    found = nt.check_multipath_host(_host(unit=UnitState("not-found", "inactive", "dead", "")))
    assert found is not None and "multipathd.service is not installed" in found.message


def test_multipath_stage_default_never_runs() -> None:
    unrevised = OEM_REVISED.replace(b"initramfs:", b"default:")
    found = nt.check_multipath_host(_host(oem={"/oem/99_multipathd.yaml": unrevised, "/oem/99_c.yaml": OEM_CONF}))
    assert found is not None
    assert "no /oem file enables multipathd in a stage that runs at boot" in found.message
    assert "/oem/99_multipathd.yaml (stage default) never runs at boot" in found.message


def test_multipath_oem_file_that_does_not_parse_is_named() -> None:
    # The article's block: `systemctl` indented past `name`.
    article = (
        b'stages:\n   initramfs:\n   - name: "Setup multipathd"\n      systemctl:\n         enable: [multipathd]\n'
    )
    found = nt.check_multipath_host(_host(oem={"/oem/99_multipathd.yaml": article, "/oem/99_c.yaml": OEM_CONF}))
    assert found is not None
    assert "/oem/99_multipathd.yaml does not parse (not YAML at line 4" in found.message
    assert "skipped at boot" in found.message


def test_multipath_disabled_at_boot_by_another_oem_file() -> None:
    mask = b"stages:\n  boot:\n    - systemctl:\n        mask: [multipathd.service]\n"
    found = nt.check_multipath_host(_host(oem={**_host().oem, "/oem/99_zz.yaml": mask}))
    assert found is not None and "/oem/99_zz.yaml (stage boot) disables or masks multipathd" in found.message


def test_multipath_installer_enablement_and_longhorn_dropin_suffice() -> None:
    # Harvester's own external-storage setup enables multipathd in initramfs (no start: enabled, it
    # starts at boot) and, from v1.5.0, blacklists Longhorn's disks in a conf.d drop-in.
    enable = b"stages:\n  initramfs:\n    - systemctl:\n        enable: [multipathd]\n"
    host = _host(
        oem={"/oem/90_custom.yaml": OEM_INSTALLER, "/oem/91_storage.yaml": enable},
        config={nt.MULTIPATH_CONF: None, f"{nt.MULTIPATH_CONF_DIR}/99-longhorn.conf": LONGHORN_DROPIN},
    )
    assert nt.check_multipath_host(host) is None


def test_multipath_without_a_blacklist_for_longhorn() -> None:
    found = nt.check_multipath_host(_host(config={nt.MULTIPATH_CONF: b"defaults {\n  user_friendly_names yes\n}\n"}))
    assert found is not None
    assert (
        "Longhorn's disks (vendor IET, product VIRTUAL-DISK) are not blacklisted (/etc/multipath.conf)" in found.message
    )
    assert 'blacklists everything but vendor "NETAPP" product "LUN"' in found.message
    found = nt.check_multipath_host(_host(config={nt.MULTIPATH_CONF: None}))
    assert found is not None and "not blacklisted (no multipath configuration)" in found.message


def test_multipath_blacklist_only_in_etc_is_lost_at_reboot() -> None:
    found = nt.check_multipath_host(_host(oem={"/oem/99_multipathd.yaml": OEM_REVISED}))
    assert found is not None
    assert "not written by an /oem boot stage, so a reboot loses it" in found.message


def test_multipath_map_on_a_longhorn_disk() -> None:
    taken = nt.MultipathMap("dm-1", "mpathb", ("sdc",))
    found = nt.check_multipath_host(_host(maps=(NETAPP_MAP, taken)))
    assert found is not None
    assert (
        found.message
        == "multipath map mpathb (dm-1) holds Longhorn disk(s) sdc: Longhorn cannot use a disk multipathd has taken"
    )
