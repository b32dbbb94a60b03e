"""ISC-01/02 without a cluster: the iSCSI boot checks on host files in their real formats (the
article's GRUB entries, the emulator's hosts), and the shared host reader the node checks use."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import iscsi_boot as isc
from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs
from harvester_conformance.hosts import HostFiles, declared_paths, read_nodes
from harvester_conformance.probes import NodeProbe, ProbeError, ProbeUnavailable
from harvester_conformance.verdict import Broken, Violation

IQN = b"iqn.2024-02.com.example:cluster1-node0-boot-disk\n"


def host(iscsi: bool, *, args: bool = True, grub_entries: tuple[str, ...] | None = None) -> dict:
    """A node's files: iBFT when `iscsi`; the running arguments when `args`; GRUB entries
    carrying them (all of them by default when `args`)."""
    titles = hostfs.menuentry_titles("v1.3.1")
    marked = titles if grub_entries is None and args else (grub_entries or ())
    return {
        isc.CMDLINE: hostfs.kernel_cmdline(iscsi=iscsi and args).encode(),
        isc.GRUB_CFG: hostfs.grub_cfg("v1.3.1", marked).encode(),
        isc.IBFT_INITIATOR: IQN if iscsi else None,
        isc.IBFT_TARGET: b"iqn.2024-02.com.example:storage.boot\n" if iscsi else None,
    }


def test_ibft_marks_the_iscsi_booted_nodes() -> None:
    hosts = {"n0": host(True), "n1": host(False), "n2": {**host(False), isc.IBFT_TARGET: b"iqn.x\n"}}
    assert isc.iscsi_nodes(hosts) == ["n0", "n2"]
    assert isc.not_concerned(hosts) == ["n1"]
    assert isc.initiator(hosts["n0"]) == IQN.decode().strip()


def test_node_running_with_both_arguments_passes() -> None:
    assert isc.check_running_args("n0", host(True)) is None


def test_node_running_without_the_arguments_is_found() -> None:
    """The ISC-01 fault: iBFT present, /proc/cmdline without the arguments."""
    found = isc.check_running_args("harvester-node-2", host(True, args=False))
    assert found is not None and found.object == "Node harvester-node-2"
    assert "rd.iscsi.firmware rd.iscsi.ibft" in found.message and "iqn.2024-02" in found.message


@pytest.mark.parametrize(
    ("cmdline", "missing"),
    [
        (b"root=LABEL=COS_STATE rd.iscsi.firmware rd.iscsi.ibft\n", []),
        (b"root=LABEL=COS_STATE rd.iscsi.firmware=1 rd.iscsi.ibft=yes\n", []),
        (b"root=LABEL=COS_STATE rd.iscsi.firmware\n", ["rd.iscsi.ibft"]),
        (b"rd.iscsi.firmware rd.iscsi.ibft rd.iscsi.ibft=0\n", ["rd.iscsi.ibft"]),  # the last one wins
        (b"rd.iscsi.firmware=off rd.iscsi.ibft=no\n", ["rd.iscsi.firmware", "rd.iscsi.ibft"]),
        (b"rd.iscsi.firmwarex rd.iscsi.ibft\n", ["rd.iscsi.firmware"]),  # a longer name is another argument
    ],
)
def test_running_arguments_are_read_as_dracut_reads_them(cmdline: bytes, missing: list[str]) -> None:
    assert isc.missing_running_args({isc.CMDLINE: cmdline}) == missing


def test_unreadable_cmdline_is_a_finding_not_a_pass() -> None:
    assert "could not be read" in isc.check_running_args("n0", {isc.IBFT_INITIATOR: IQN}).message
    bad = isc.check_running_args("n0", {isc.IBFT_INITIATOR: IQN, isc.CMDLINE: b'rd.iscsi.firmware "x\n'})
    assert "does not parse" in bad.message


def test_every_entry_with_both_arguments_passes() -> None:
    assert isc.check_persisted_args("n0", host(True)) is None


def test_entries_an_upgrade_rewrote_are_named() -> None:
    """The ISC-02 fault: running with the arguments, grub.cfg without them in any entry."""
    found = isc.check_persisted_args("harvester-node-1", host(True, grub_entries=()))
    assert found is not None and found.object == "Node harvester-node-1"
    assert "4 menuentry(s)" in found.message and "Harvester v1.3.1 recovery" in found.message
    one = isc.check_persisted_args("n0", host(True, grub_entries=tuple(hostfs.menuentry_titles("v1.3.1")[:3])))
    assert "1 menuentry(s)" in one.message and "(debug)" in one.message


ARTICLE_GRUB = """set timeout=10
menuentry "Harvester v1.3.0" --id cos {
  set label=${active_label}
  set img=/cOS/active.img
  loopback $loopdev /$img
  source ($loopdev)/etc/cos/bootargs.cfg
  linux ($loopdev)$kernel $kernelcmd ${extra_cmdline} ${extra_active_cmdline} rd.iscsi.firmware rd.iscsi.ibft
  initrd ($loopdev)$initramfs
}
submenu "More" {
  menuentry "Harvester v1.3.0 (fallback)" --id fallback {
    linux ($loopdev)$kernel $kernelcmd ${extra_cmdline} ${extra_passive_cmdline}
    initrd ($loopdev)$initramfs
  }
}
menuentry "UEFI Firmware Settings" --id uefi-firmware {
  fwsetup
}
"""


def test_the_article_layout_submenus_and_entries_without_kernel() -> None:
    files = {isc.GRUB_CFG: ARTICLE_GRUB.encode()}
    bad = isc.entries_without_args(files)
    assert bad == ["'More > Harvester v1.3.0 (fallback)' (line 11) lacks rd.iscsi.firmware rd.iscsi.ibft"]


@pytest.mark.parametrize(
    ("grub", "why"),
    [
        (None, "does not exist"),
        (b'menuentry "x" {\n linux /k\n', "does not parse"),
        (b'menuentry "x" {\n fwsetup\n}\n', "no menuentry with a linux line"),
    ],
)
def test_grub_that_cannot_be_judged_is_a_finding(grub: bytes | None, why: str) -> None:
    found = isc.check_persisted_args("n0", {isc.IBFT_INITIATOR: IQN, isc.GRUB_CFG: grub})
    assert found is not None and why in found.message


def test_the_emulator_writes_what_the_article_asks_on_its_iscsi_node(tmp_path) -> None:
    """The seed's iSCSI node: the checks pass on it; its siblings are not concerned."""
    from harvester_conformance.emulator import controlplane
    from harvester_conformance.emulator.profiles import PROFILES

    controlplane.write_pki(tmp_path / "pki")
    hostfs.write_hosts(tmp_path, PROFILES["v1.3.1"], ["n0", "n1"])
    hosts = {n: {p: hostfs.read(tmp_path, n, p) for p in isc.HOST_PATHS} for n in ("n0", "n1")}
    assert isc.iscsi_nodes(hosts) == ["n0"]
    assert isc.check_running_args("n0", hosts["n0"]) is None
    assert isc.check_persisted_args("n0", hosts["n0"]) is None


# -- the shared host reader (harvester_conformance.hosts) ---------------------------------------------
class FakeProbe(NodeProbe):
    backend = "fake"

    def __init__(self, hosts: dict[str, dict[str, bytes]], broken: dict[str, Exception] | None = None) -> None:
        self.hosts, self.broken, self.calls = hosts, broken or {}, []

    def read(self, node, paths):
        self.calls.append((node, tuple(paths)))
        if node in self.broken:
            raise self.broken[node]
        return {p: self.hosts[node].get(p) for p in paths}


def test_one_read_per_node_with_every_path() -> None:
    probe = FakeProbe({"n0": host(True), "n1": host(False)})
    got = read_nodes(probe, ["n0", "n1"], list(isc.HOST_PATHS))
    assert sorted(n for n, _ in probe.calls) == ["n0", "n1"]
    assert all(paths == isc.HOST_PATHS for _, paths in probe.calls)
    assert got.get("n0", isc.IBFT_INITIATOR) == IQN and got.get("n1", isc.IBFT_INITIATOR) is None
    with pytest.raises(KeyError, match="declare it in HOST_PATHS"):
        got.get("n0", "/etc/hostname")


def test_unread_node_makes_a_passing_verdict_broken_but_not_a_failing_one() -> None:
    probe = FakeProbe({"n0": host(True)}, {"n1": ProbeError("n1: probe pod did not finish")})
    got = read_nodes(probe, ["n0", "n1"], list(isc.HOST_PATHS))
    assert list(got.readable()) == ["n0"] and "did not finish" in got.errors["n1"]
    with pytest.raises(Broken, match="n1"):
        got.judge([None], "what")
    finding = isc.check_running_args("n0", host(True, args=False))
    with pytest.raises(Violation, match=r"not read: n1"):
        got.judge([finding], "what")


def test_no_probe_for_any_node_is_unavailable_for_some_an_unread_node() -> None:
    nobody = FakeProbe({}, {n: ProbeUnavailable("no SSH address") for n in ("n0", "n1")})
    with pytest.raises(ProbeUnavailable, match="no SSH address"):
        read_nodes(nobody, ["n0", "n1"], ["/proc/cmdline"])
    some = read_nodes(FakeProbe({"n0": {}}, {"n1": ProbeUnavailable("no SSH address")}), ["n0", "n1"], ["/x"])
    assert some.errors == {"n1": "no probe for this node: no SSH address"}
    assert HostFiles(("/x",), {"n0": {"/x": None}}).nodes == ["n0"]


def test_declared_paths_come_from_modules_and_their_packages() -> None:
    import types

    import conformance.iscsi_boot.test_first_boot as first
    import conformance.nic_naming.test_vlan_network as nic_test

    plain = types.ModuleType("plain")
    plain.HOST_PATHS = ("/etc/hostname", "/proc/cmdline")

    def failing(hc):
        raise Broken("could not list vlanconfigs")

    dynamic = types.ModuleType("dynamic")
    dynamic.HOST_PATHS = failing
    paths = declared_paths([first, plain, dynamic], hc=None)
    assert paths == sorted({*isc.HOST_PATHS, "/etc/hostname"})
    assert nic_test.__package__ == "conformance.nic_naming"
    bad = types.ModuleType("bad")
    bad.HOST_PATHS = ("relative/path",)
    with pytest.raises(ValueError, match="absolute"):
        declared_paths([bad], hc=None)
