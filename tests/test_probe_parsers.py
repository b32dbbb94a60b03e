"""The node probe's pure parts: host-file parsers on samples in the real formats, the probe
script run by a real `sh` and parsed back, the pod-status reading, and option validation."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from _pytest.config.argparsing import Parser
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harvester_conformance.probes import ProbeSettings, add_options, settings_from
from harvester_conformance.probes.base import check_paths, check_units
from harvester_conformance.probes.parsers import (
    arg_values,
    covering_mount,
    modprobe_modules,
    module_loaded,
    modules_load_conf,
    multipath_blacklisted,
    parse_cloud_config,
    parse_cmdline,
    parse_grub_menuentries,
    parse_mountinfo,
    parse_multipath_conf,
    parse_oem,
    parse_os_release,
    parse_pem_certificates,
    parse_proc_modules,
    parse_systemctl_show,
    parse_unit_state,
    require_menuentries,
    runs_at_boot,
    step_files,
    step_units,
)
from harvester_conformance.probes.pod import DEFAULT_IMAGE, pod_state, stuck_reason
from harvester_conformance.probes.script import build_script, host_read, parse_output
from harvester_conformance.probes.ssh import SshTarget, load_host_map, parse_host_map, parse_host_pairs

# -- kernel command line ------------------------------------------------------------------------
# A Harvester v1.3.x node booted from iSCSI, with a serial console added twice and two quoted
# arguments (both quoting styles the kernel accepts).
CMDLINE = (
    b"BOOT_IMAGE=(loop0)/boot/vmlinuz console=tty1 root=LABEL=COS_STATE cos-img/filename=/cOS/active.img "
    b"panic=0 net.ifnames=1 rd.cos.oemlabel=COS_OEM rd.cos.mount=LABEL=COS_OEM:/oem "
    b"rd.cos.mount=LABEL=COS_PERSISTENT:/usr/local rd.cos.oemtimeout=10 audit=1 audit_backlog_limit=8192 "
    b"intel_iommu=on amd_iommu=on iommu=pt multipath=off rd.iscsi.firmware rd.iscsi.ibft console=ttyS0,115200n8 "
    b'dyndbg="file drivers/usb/* +p" "acpi_osi=Windows 2015"\n'
)


def test_cmdline_keeps_order_repeats_and_quoted_values() -> None:
    args = parse_cmdline(CMDLINE)
    assert args[0] == ("BOOT_IMAGE", "(loop0)/boot/vmlinuz")
    assert args[2] == ("root", "LABEL=COS_STATE")  # the first '=' splits
    assert arg_values(args, "console") == ["tty1", "ttyS0,115200n8"]
    assert arg_values(args, "rd.cos.mount") == ["LABEL=COS_OEM:/oem", "LABEL=COS_PERSISTENT:/usr/local"]
    assert ("rd.iscsi.firmware", None) in args and ("rd.iscsi.ibft", None) in args
    assert arg_values(args, "dyndbg") == ["file drivers/usb/* +p"]
    assert args[-1] == ("acpi_osi", "Windows 2015")
    assert arg_values(args, "nosuch") == []
    assert len(args) == 21


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('root=LABEL=COS_STATE dyndbg="file x +p', "unterminated quote"),
        ("console=tty1 =oops", "without a name"),
        ("BOOT_IMAGE=/vmlinuz\x00root=/dev/sda", "NUL"),
        (b"root=\xff\xfe", "not UTF-8"),
    ],
)
def test_cmdline_refuses_malformed(text: str | bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cmdline(text)


# -- GRUB ------------------------------------------------------------------------------------------
# The persisted COS_STATE grub.cfg of an Elemental-based Harvester node after the iSCSI article's
# manual edit: the active and recovery entries edited, the fallback only half, the debug entry
# (in a submenu) not at all.
GRUB_CFG = r"""set timeout=10
set env_file="/grubenv"
search --no-floppy --file --set=env_blk "${env_file}"
if [ "${env_blk}" ] ; then load_env -f "(${env_blk})${env_file}" ; fi
if [ "${next_entry}" ]; then
  set default="${next_entry}"; set next_entry=
  save_env -f "(${env_blk})${env_file}" next_entry
else
  set default="${saved_entry}"
fi
# a comment with a brace } that must not close anything
function set_loopdev {
  loopback loop0 /$img
}

menuentry "Harvester v1.3.1" --id cos {
  search --no-floppy --label --set=root COS_STATE
  set img=/cOS/active.img
  set label=COS_ACTIVE
  set_loopdev
  source (loop0)/etc/cos/bootargs.cfg
  linux (loop0)$kernel $kernelcmd ${extra_cmdline} ${extra_active_cmdline} rd.iscsi.firmware rd.iscsi.ibft
  initrd (loop0)$initramfs
}

menuentry 'Harvester v1.3.1 (fallback)' --id=fallback --class os {
  search --no-floppy --label --set=root COS_STATE
  set img=/cOS/passive.img
  set label=COS_PASSIVE
  set_loopdev
  source (loop0)/etc/cos/bootargs.cfg
  linux (loop0)$kernel $kernelcmd ${extra_cmdline} \
      ${extra_passive_cmdline} rd.iscsi.firmware
  initrd (loop0)$initramfs
}

menuentry "Harvester v1.3.1 recovery" --id recovery {
  search --no-floppy --label --set=root COS_RECOVERY
  set img=/cOS/recovery.squashfs
  set recoverylabel=COS_RECOVERY
  source ($root)/etc/cos/bootargs.cfg
  if [ "${grub_platform}" = "efi" ]; then
    linuxefi ($root)/boot/vmlinuz $kernelcmd ${extra_recovery_cmdline} rd.iscsi.firmware rd.iscsi.ibft
  else
    linux ($root)/boot/vmlinuz $kernelcmd ${extra_recovery_cmdline} rd.iscsi.firmware rd.iscsi.ibft
  fi
  initrd ($root)/boot/initrd
}

submenu "Advanced options" --id advanced {
  menuentry "Harvester v1.3.1 (debug)" --id debug {
    set img=/cOS/active.img
    linux (loop0)$kernel $kernelcmd "console=ttyS0,115200 rd.debug" rd.shell
    initrd (loop0)$initramfs
  }
}
"""


def test_grub_entries_titles_ids_and_linux_arguments() -> None:
    entries = parse_grub_menuentries(GRUB_CFG)
    assert [e.title for e in entries] == [
        "Harvester v1.3.1",
        "Harvester v1.3.1 (fallback)",
        "Harvester v1.3.1 recovery",
        "Harvester v1.3.1 (debug)",
    ]
    assert [e.id for e in entries] == ["cos", "fallback", "recovery", "debug"]
    assert entries[3].submenu == ("Advanced options",)
    active = entries[0].linux[0]
    assert active.kernel == "(loop0)$kernel"
    assert active.args == (
        "$kernelcmd",
        "${extra_cmdline}",
        "${extra_active_cmdline}",
        "rd.iscsi.firmware",
        "rd.iscsi.ibft",
    )
    assert active.variables == ("$kernelcmd", "${extra_cmdline}", "${extra_active_cmdline}")
    assert entries[1].linux[0].args[-2:] == ("${extra_passive_cmdline}", "rd.iscsi.firmware")  # continued line
    assert len(entries[2].linux) == 2  # both branches of the if
    assert entries[3].linux[0].params() == [("console", "ttyS0,115200 rd.debug"), ("rd.shell", None)]


def test_grub_every_entry_check_as_the_iscsi_article_needs() -> None:
    entries = parse_grub_menuentries(GRUB_CFG)
    both = {e.title: e.has_arg("rd.iscsi.firmware") and e.has_arg("rd.iscsi.ibft") for e in entries}
    assert both == {
        "Harvester v1.3.1": True,
        "Harvester v1.3.1 (fallback)": False,
        "Harvester v1.3.1 recovery": True,
        "Harvester v1.3.1 (debug)": False,
    }


def test_grub_without_menuentry_is_empty_and_the_caller_can_refuse_it() -> None:
    chain = "search --no-floppy --label --set=root COS_STATE\nconfigfile ($root)/grub2/grub.cfg\n"
    assert parse_grub_menuentries(chain) == []
    with pytest.raises(ValueError, match="grub.cfg: no menuentry found"):
        require_menuentries(parse_grub_menuentries(chain), "node-1:/run/initramfs/cos-state/grub2/grub.cfg")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('menuentry "A" {\n  linux /vmlinuz ro\n', r"line 1: menuentry 'A' has no closing '}'"),
        ('menuentry "A" {\n  linux /vmlinuz\n}\n}\n', r"line 4: '}' without a matching '{'"),
        ('menuentry "A {\n  linux /vmlinuz\n}\n', "unterminated double quote"),
        ("menuentry --id x {\n}\n", "line 1: menuentry without a title"),
        ('menuentry "A" {\n  linux\n}\n', "line 2: 'linux' without a kernel image"),
    ],
)
def test_grub_refuses_malformed(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_grub_menuentries(text)


# -- systemd ----------------------------------------------------------------------------------------
def test_systemctl_show_one_unit() -> None:
    out = "LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n"
    unit = parse_unit_state(out)
    assert (unit.load, unit.active, unit.sub, unit.unit_file) == ("loaded", "active", "running", "enabled")
    assert unit.enabled and unit.running and unit.found


def test_systemctl_show_several_units_in_order() -> None:
    out = (
        "Id=multipathd.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n\n"
        "Id=rancherd.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=enabled\n\n"
        "Id=nosuch.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n"
    )
    units = parse_systemctl_show(out)
    assert [u.id for u in units] == ["multipathd.service", "rancherd.service", "nosuch.service"]
    assert [(u.enabled, u.running, u.found) for u in units] == [
        (False, False, True),
        (True, False, True),
        (False, False, False),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("LoadState=loaded\nSubState=running\nUnitFileState=enabled\n", "lacks ActiveState"),
        ("LoadState=loaded\nActiveState=sleepy\nSubState=running\nUnitFileState=enabled\n", "unknown ActiveState"),
        ("● multipathd.service - Device-Mapper Multipath Device Controller\n", "not KEY=value"),
    ],
)
def test_systemctl_show_refuses_malformed(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_systemctl_show(text)


def test_parse_unit_state_wants_exactly_one_unit() -> None:
    two = "LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n\n" * 2
    with pytest.raises(ValueError, match="expected one unit, found 2"):
        parse_unit_state(two)


# -- os-release -------------------------------------------------------------------------------------
OS_RELEASE = """# Harvester node (SLE Micro based)
NAME="SLE Micro"
VERSION="5.4"
VERSION_ID="5.4"
PRETTY_NAME="Harvester v1.3.1"
ID="sle-micro-rancher"
ID_LIKE="suse"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:suse:sle-micro-rancher:5.4"
VARIANT='Harvester'
VARIANT_ID=Harvester-20240613
GRUB_ENTRY_NAME="Harvester \\"v1.3.1\\""

HOME_URL=
"""


def test_os_release() -> None:
    info = parse_os_release(OS_RELEASE.encode())
    assert info["PRETTY_NAME"] == "Harvester v1.3.1"
    assert info["VARIANT"] == "Harvester" and info["VARIANT_ID"] == "Harvester-20240613"
    assert info["GRUB_ENTRY_NAME"] == 'Harvester "v1.3.1"'
    assert info["HOME_URL"] == ""
    assert len(info) == 12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NAME=SLE Micro\n", "line 1: value with unquoted blanks"),
        ('ID="sle\n', "line 1: No closing quotation"),
        ("ID=x\njust words\n", "line 2: not KEY=value"),
    ],
)
def test_os_release_refuses_malformed(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_os_release(text)


# -- /proc/modules ------------------------------------------------------------------------------------
PROC_MODULES = """rbd 126976 0 - Live 0xffffffffc0b5e000
nbd 61440 2 - Live 0xffffffffc0b4c000
libceph 544768 1 rbd, Live 0xffffffffc0ac5000
dm_multipath 45056 0 - Live 0xffffffffc0a1b000
kvm_intel 413696 12 - Live 0xffffffffc09a0000
kvm 1249280 1 kvm_intel, Live 0xffffffffc0866000
irqbypass 12288 2 kvm,vfio_pci_core, Live 0xffffffffc0860000
nvidia 56168448 0 - Loading 0xffffffffc0000000 (POE)
"""


def test_proc_modules() -> None:
    mods = parse_proc_modules(PROC_MODULES)
    assert [m.name for m in mods][:3] == ["rbd", "nbd", "libceph"]
    assert mods[2].used_by == ("rbd",) and mods[6].used_by == ("kvm", "vfio_pci_core")
    assert mods[4].refcount == 12 and mods[4].size == 413696
    assert (mods[7].state, mods[7].taints) == ("Loading", "POE")
    assert module_loaded(mods, "dm-multipath") and module_loaded(mods, "nbd")
    assert not module_loaded(mods, "iscsi_tcp")


@pytest.mark.parametrize("line", ["rbd 126976 0 -", "rbd big 0 - Live 0x0", "rbd 126976 0 - Asleep 0xffffffffc0b5e000"])
def test_proc_modules_refuses_malformed(line: str) -> None:
    with pytest.raises(ValueError, match="/proc/modules line 2"):
        parse_proc_modules("kvm 1249280 1 kvm_intel, Live 0xffffffffc0866000\n" + line + "\n")


# -- PEM ----------------------------------------------------------------------------------------------
def _cert(cn: str, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None) -> tuple[x509.Certificate, object]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_cn, issuer_key = issuer or (cn, key)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(issuer_key, hashes.SHA256())
    )
    return cert, key


def _name(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def test_pem_bundle_with_several_certificates_and_a_key() -> None:
    ca, ca_key = _cert("rke2-server-ca@1718000000")
    leaf, leaf_key = _cert("kube-apiserver", ("rke2-server-ca@1718000000", ca_key))
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    pem = (
        b"subject=CN = kube-apiserver\n"  # openssl's text before a block is allowed
        + leaf.public_bytes(serialization.Encoding.PEM)
        + key_pem
        + ca.public_bytes(serialization.Encoding.PEM)
    )
    certs = parse_pem_certificates(pem)
    assert [_name(c) for c in certs] == ["kube-apiserver", "rke2-server-ca@1718000000"]
    assert certs[0].fingerprint(hashes.SHA256()) == leaf.fingerprint(hashes.SHA256())


def test_pem_refuses_no_certificate_and_broken_block() -> None:
    with pytest.raises(ValueError, match="no CERTIFICATE block"):
        parse_pem_certificates(b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
    ca, _ = _cert("ca")
    good = ca.public_bytes(serialization.Encoding.PEM)
    broken = b"-----BEGIN CERTIFICATE-----\nMIIBnotreally\n-----END CERTIFICATE-----\n"
    with pytest.raises(ValueError, match=r"PEM block 2 \(CERTIFICATE\) does not decode"):
        parse_pem_certificates(good + broken)


# -- the probe script, run by a real sh ---------------------------------------------------------------
def test_script_round_trip_through_sh(tmp_path: Path) -> None:
    (tmp_path / "binary").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "it's a file").write_bytes(b"quoted name\n")
    (tmp_path / "dir").mkdir()
    paths = [
        "/proc/cmdline",
        str(tmp_path / "binary"),
        str(tmp_path / "empty"),
        str(tmp_path / "it's a file"),
        str(tmp_path / "dir"),
        str(tmp_path / "absent"),
    ]
    run = subprocess.run(["sh", "-c", build_script(paths)], capture_output=True, timeout=30, check=True)
    out = parse_output(run.stdout, paths)
    assert out.errors == {}
    assert out.files["/proc/cmdline"] == Path("/proc/cmdline").read_bytes()
    assert out.files[paths[1]] == bytes(range(256)) * 40
    assert out.files[paths[2]] == b""
    assert out.files[paths[3]] == b"quoted name\n"
    assert out.files[paths[4]] is None and out.files[paths[5]] is None


def test_script_reports_an_unreadable_file() -> None:
    # /proc/self/mem exists but reading it from offset 0 fails, even for root.
    paths = ["/proc/self/mem"]
    run = subprocess.run(["sh", "-c", build_script(paths)], capture_output=True, timeout=30, check=True)
    out = parse_output(run.stdout, paths)
    assert out.files == {} and out.errors == {"/proc/self/mem": "exists but could not be read"}


def test_script_output_noise_is_ignored_and_damage_refused() -> None:
    paths = ["/etc/hostname", "/nope"]
    good = "@@hc-probe begin 0\nbm9kZS0xCg==\n@@hc-probe end 0 ok\n@@hc-probe begin 1\n@@hc-probe end 1 absent\n"
    banner = "Welcome to Harvester!\n"
    out = parse_output(banner + good + "@@hc-probe done\n", paths)
    assert out.files == {"/etc/hostname": b"node-1\n", "/nope": None}
    with pytest.raises(ValueError, match="no final marker"):
        parse_output(good, paths)
    with pytest.raises(ValueError, match="no result for /nope"):
        parse_output(good.split("@@hc-probe begin 1")[0] + "@@hc-probe done\n", paths)
    with pytest.raises(ValueError, match="not base64"):
        parse_output(good.replace("bm9kZS0xCg==", "chroot: failed to run command"), paths)
    with pytest.raises(ValueError, match="output began: chroot: cannot change root directory"):
        parse_output("chroot: cannot change root directory to '/host': No such file or directory\n", paths)
    with pytest.raises(ValueError, match="repeated block 0"):
        parse_output(
            good.replace("@@hc-probe begin 1\n@@hc-probe end 1", "@@hc-probe begin 0\n@@hc-probe end 0"), paths
        )


# A stand-in for systemd's systemctl: answers `show -p ... -- UNIT` as systemd does (a unit it does
# not know is LoadState=not-found, exit 0), fails without a bus for `broken.service`, and records
# its arguments so the quoting can be checked.
FAKE_SYSTEMCTL = """#!/bin/sh
printf '%s\\n' "$*" >> "$HC_ARGS"
for last; do :; done
case "$last" in
  multipathd.service) printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nUnitFileState=enabled\\n' ;;
  broken.service) echo "Failed to connect to bus: No such file or directory" >&2; exit 1 ;;
  *) printf 'LoadState=not-found\\nActiveState=inactive\\nSubState=dead\\nUnitFileState=\\n' ;;
esac
"""


def test_script_lists_directories_and_shows_units_through_sh(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    oem = tmp_path / "oem"
    oem.mkdir()
    for name in ("99_multipathd.yaml", "90_custom.yaml", ".hidden", "it's here"):
        (oem / name).write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("not a directory")
    files, dirs = [str(oem / "99_multipathd.yaml")], [str(oem), str(tmp_path / "empty"), str(tmp_path / "file")]
    units = ["multipathd.service", "nosuch.service"]
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HC_ARGS": str(tmp_path / "args")}
    script = build_script(files, dirs, units)
    run = subprocess.run(["sh", "-c", script], capture_output=True, timeout=30, check=True, env=env)
    out = parse_output(run.stdout, files, dirs, units)
    assert out.errors == {}
    assert out.files == {files[0]: b"x"}
    assert out.dirs == {
        dirs[0]: (".hidden", "90_custom.yaml", "99_multipathd.yaml", "it's here"),
        dirs[1]: (),
        dirs[2]: None,
    }
    read = host_read(out)
    assert read.units["multipathd.service"].enabled and read.units["multipathd.service"].running
    assert not read.units["nosuch.service"].found
    args = (tmp_path / "args").read_text().splitlines()
    assert args == [f"show -p LoadState,ActiveState,SubState,UnitFileState -- {u}" for u in units]
    # systemctl failing (no systemd, no bus) is an error of that unit, not a state.
    run = subprocess.run(["sh", "-c", build_script([], [], ["broken.service"])], capture_output=True, env=env)
    out = parse_output(run.stdout, [], [], ["broken.service"])
    assert out.units == {} and "unit broken.service" in out.error_text()


def test_script_without_systemctl_reports_the_unit_as_an_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [shutil.which("sh") or "/bin/sh", "-c", build_script([], [], ["multipathd.service"])],
        capture_output=True,
        timeout=30,
        env={"PATH": str(tmp_path)},  # no systemctl (nor anything else) on the PATH
    )
    out = parse_output(run.stdout, [], [], ["multipathd.service"])
    assert list(out.errors) == ["unit multipathd.service"]


def test_script_items_are_numbered_files_then_directories_then_units() -> None:
    script = build_script(["/etc/multipath.conf"], ["/oem"], ["multipathd.service"])
    assert "hc_read 0 /etc/multipath.conf\n" in script
    assert "hc_list 1 /oem\n" in script
    assert "hc_unit 2 multipathd.service\n" in script
    body = "@@hc-probe begin 0\n@@hc-probe end 0 absent\n@@hc-probe begin 1\nOTBfY3VzdG9tLnlhbWwKYQ==\n"
    body += "@@hc-probe end 1 ok\n@@hc-probe begin 2\n@@hc-probe end 2 error\n@@hc-probe done\n"
    out = parse_output(body, ["/etc/multipath.conf"], ["/oem"], ["multipathd.service"])
    assert out.files == {"/etc/multipath.conf": None}
    assert out.dirs == {"/oem": ("90_custom.yaml", "a")}
    assert out.errors == {"unit multipathd.service": out.errors["unit multipathd.service"]}
    with pytest.raises(ValueError, match="unit nosuch.service: systemctl show output"):
        host_read(
            parse_output("@@hc-probe begin 0\nYQo=\n@@hc-probe end 0 ok\n@@hc-probe done\n", [], [], ["nosuch.service"])
        )


@pytest.mark.parametrize(
    "unit",
    ["multipathd", "multipathd.service; reboot", "-H.service", "a b.service", "$(id).service", "x\\x2d.service", ""],
)
def test_unit_names_are_checked_before_they_reach_a_shell(unit: str) -> None:
    with pytest.raises(ValueError, match="not a systemd unit name"):
        check_units([unit])
    with pytest.raises(ValueError, match="not a systemd unit name"):
        build_script([], [], [unit])


def test_plain_unit_names_pass() -> None:
    names = ["multipathd.service", "getty@tty1.service", "var-lib-rook.mount", "rke2-server.service", "sys-fs.device"]
    assert check_units(names) == names
    with pytest.raises(ValueError, match="sequence of unit names"):
        check_units("multipathd.service")


# -- elemental cloud-config (/oem) -----------------------------------------------------------------------
# The article's /oem/99_multipathd.yaml as published (in its list item's indentation removed): `systemctl`
# sits deeper than `name`, which YAML refuses.
ARTICLE_MULTIPATHD = """stages:
   initramfs:
   - name: "Setup multipathd"
      systemctl:
         enable:
         - multipathd
         start:
         - multipathd
"""
MULTIPATHD_OEM = """stages:
  initramfs:
    - name: "Setup multipathd"
      systemctl:
        enable: [multipathd]
        start: [multipathd.service]
  default:
    - systemctl:
        enable: [sshd]
"""


def test_cloud_config_stages_and_steps_in_order() -> None:
    cfg = parse_cloud_config(MULTIPATHD_OEM)
    assert [stage for stage, _ in cfg.stages] == ["initramfs", "default"]
    assert [stage for stage, _ in cfg.steps()] == ["initramfs", "default"]
    assert [stage for stage, _ in cfg.steps(boot_only=True)] == ["initramfs"]
    step = cfg.steps()[0][1]
    assert step_units(step, "enable") == ["multipathd.service"]
    assert step_units(step, "start") == ["multipathd.service"]
    assert step_units(step, "disable") == []
    assert parse_cloud_config("#cloud-config\nusers:\n- name: rancher\n").stages == ()
    assert parse_cloud_config("").stages == ()


def test_cloud_config_refuses_the_articles_indentation_naming_the_line() -> None:
    with pytest.raises(ValueError, match=r"not YAML at line 4, column 7"):
        parse_cloud_config(ARTICLE_MULTIPATHD)
    with pytest.raises(ValueError, match="`stages` must be a mapping"):
        parse_cloud_config("stages: [initramfs]\n")
    with pytest.raises(ValueError, match="stage 'initramfs' must be a list of steps"):
        parse_cloud_config("stages:\n  initramfs:\n    name: x\n")


@pytest.mark.parametrize(
    ("stage", "boot"),
    [
        ("initramfs", True),
        ("initramfs.before", True),
        ("boot.after", True),
        ("rootfs", True),
        ("network", True),
        ("fs", True),
        ("reconcile", True),
        ("default", False),
        ("after-install", False),
        ("after-upgrade", False),
        ("initramfs.during", False),
    ],
)
def test_stages_that_run_at_boot(stage: str, boot: bool) -> None:
    assert runs_at_boot(stage) is boot


def test_step_files_decode_as_yip_does() -> None:
    import base64
    import gzip

    conf = b'blacklist {\n  device {\n    vendor "IET"\n  }\n}'
    step = {
        "files": [
            {"path": "/etc/multipath.conf", "content": conf.decode()},
            {"path": "/etc/a.conf", "content": base64.b64encode(conf).decode(), "encoding": "base64"},
            {"path": "/etc/b.conf", "content": base64.b64encode(gzip.compress(conf)).decode(), "encoding": "gz+b64"},
            {"path": "/etc/c.conf", "content": "x", "encoding": "rot13"},
            {"content": "no path"},
        ]
    }
    assert step_files(step) == [
        ("/etc/multipath.conf", conf),
        ("/etc/a.conf", conf),
        ("/etc/b.conf", conf),
        ("/etc/c.conf", None),
    ]


def test_oem_files_in_elemental_order_with_the_broken_ones_apart() -> None:
    parsed, broken = parse_oem(
        {
            "/oem/99_multipathd.yaml": ARTICLE_MULTIPATHD.encode(),
            "/oem/90_custom.yaml": b"name: Harvester Configuration\nstages: {}\n",
            "/oem/98_multipath_conf.yml": MULTIPATHD_OEM.encode(),
            "/oem/gone.yaml": None,
        }
    )
    assert [p for p, _ in parsed] == ["/oem/90_custom.yaml", "/oem/98_multipath_conf.yml"]
    assert list(broken) == ["/oem/99_multipathd.yaml"]
    assert "line 4" in broken["/oem/99_multipathd.yaml"] and "multipathd" not in broken["/oem/99_multipathd.yaml"]


# -- mountinfo -------------------------------------------------------------------------------------------
MOUNTINFO = (
    "22 1 7:0 / / ro,relatime shared:1 - ext2 /dev/loop0 ro\n"
    "29 22 0:31 / /var rw,relatime shared:8 - overlay overlay rw,lowerdir=/var,upperdir=/run/overlay/var\n"
    "46 29 8:5 /.state/var-lib-rancher.bind /var/lib/rancher rw,relatime shared:25 - ext4 /dev/sda5 rw\n"
    "47 29 8:5 /.state/var-lib-rook.bind /var/lib/rook rw,relatime shared:26 master:3 - ext4 /dev/sda5 rw\n"
    "48 22 0:40 / /mnt/with\\040blank rw - tmpfs tmpfs rw\n"
)


def test_mountinfo_and_the_mount_a_path_lies_on() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert [m.mount_point for m in mounts] == ["/", "/var", "/var/lib/rancher", "/var/lib/rook", "/mnt/with blank"]
    assert mounts[3].root == "/.state/var-lib-rook.bind" and mounts[3].fstype == "ext4"
    assert covering_mount(mounts, "/var/lib/rook/rook-ceph").mount_point == "/var/lib/rook"
    assert covering_mount(mounts, "/var/lib/ceph").mount_point == "/var"
    assert covering_mount(mounts, "/var/lib/rookery").mount_point == "/var"
    assert covering_mount(mounts, "/usr/bin").mount_point == "/"
    assert covering_mount(mounts, "/mnt/with blank/x").fstype == "tmpfs"
    with pytest.raises(ValueError, match="line 1: no ' - ' separator"):
        parse_mountinfo("22 1 7:0 / / ro,relatime ext2 /dev/loop0 ro\n")


# -- multipath.conf --------------------------------------------------------------------------------------
ARTICLE_BLACKLIST = """# the article's example
blacklist {
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
defaults {
    find_multipaths strict ! a comment
}
"""
LONGHORN = ("sdc", "IET", "VIRTUAL-DISK")
NETAPP = ("sdd", "NETAPP", "LUN C-Mode")


@pytest.mark.parametrize(
    ("conf", "longhorn_out", "netapp_out"),
    [
        (ARTICLE_BLACKLIST, True, False),
        ('blacklist {\n  device {\n    vendor "IET"\n    product "VIRTUAL-DISK"\n  }\n}', True, False),
        ('blacklist {\n  devnode "^sd[a-z0-9]+"\n}\n', True, True),
        ('blacklist {\n  devnode "^sd[a-z0-9]+"\n}\nblacklist_exceptions {\n  devnode "^sdc"\n}\n', False, True),
        ('blacklist {\n  device {\n    vendor "NETAPP"\n  }\n}', False, True),
        ("defaults {\n  user_friendly_names yes\n}\n", False, False),
        ("", False, False),
    ],
)
def test_multipath_blacklist_as_libmultipath_filters(conf: str, longhorn_out: bool, netapp_out: bool) -> None:
    rules = parse_multipath_conf(conf)
    assert multipath_blacklisted(rules, *LONGHORN) is longhorn_out
    assert multipath_blacklisted(rules, *NETAPP) is netapp_out


def test_multipath_conf_refuses_unbalanced_braces() -> None:
    with pytest.raises(ValueError, match="'}' without a matching"):
        parse_multipath_conf("blacklist {\n}\n}\n")
    with pytest.raises(ValueError, match="'blacklist' has no closing"):
        parse_multipath_conf("blacklist {\n  devnode sd\n")


# -- modules configured to load -------------------------------------------------------------------------
def test_modprobe_commands_and_modules_load_files() -> None:
    assert modprobe_modules("modprobe rbd") == ["rbd"]
    assert modprobe_modules("/sbin/modprobe -a rbd nbd") == ["rbd", "nbd"]
    assert modprobe_modules("modprobe -q nbd nbds_max=16 && echo done") == ["nbd"]
    assert modprobe_modules("echo modprobe-free") == []
    assert modules_load_conf(b"# Rook\nrbd\n; nbd off\n\nnbd\n") == ["rbd", "nbd"]


@pytest.mark.parametrize("path", ["proc/cmdline", "/etc/../root/.ssh/id_rsa", "/tmp/a\nb"])
def test_paths_are_checked_before_they_reach_a_shell(path: str) -> None:
    with pytest.raises(ValueError, match="probe path"):
        check_paths([path])
    with pytest.raises(ValueError, match="sequence of paths"):
        check_paths("/proc/cmdline")


# -- pod status (the backend's reading of what the kubelet reports) ----------------------------------
def test_stuck_pod_reasons() -> None:
    pulling = {
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "probe",
                    "state": {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": 'Back-off pulling image "registry.lab/leap:15.4"',
                        }
                    },
                }
            ],
        }
    }
    assert stuck_reason(pulling) == 'cannot start: ImagePullBackOff: Back-off pulling image "registry.lab/leap:15.4"'
    assert "container waiting: ImagePullBackOff" in pod_state(pulling)
    creating = {
        "status": {
            "phase": "Pending",
            "containerStatuses": [{"name": "probe", "state": {"waiting": {"reason": "ContainerCreating"}}}],
        }
    }
    assert stuck_reason(creating) is None
    rejected = {
        "status": {
            "phase": "Failed",
            "reason": "OutOfcpu",
            "message": "Pod was rejected: Node didn't have enough resource: cpu",
        }
    }
    assert pod_state(rejected) == "phase=Failed; OutOfcpu: Pod was rejected: Node didn't have enough resource: cpu"


# -- options -------------------------------------------------------------------------------------------
def _options(**given: object):
    defaults = {
        "node_probe": "pod",
        "probe_image": DEFAULT_IMAGE,
        "ssh_user": "rancher",
        "ssh_key": None,
        "ssh_hosts": None,
        "ssh_host": [],
        "ssh_known_hosts": None,
        "ssh_insecure_host_keys": False,
        "ssh_sudo": False,
        "hosts_dir": None,
    }
    defaults.update(given)
    return defaults.__getitem__


def test_add_options_registers_every_option_on_a_pytest_parser() -> None:
    parser = Parser(_ispytest=True)
    add_options(parser.getgroup("harvester-conformance"))
    ns = parser.parse(["--node-probe", "ssh", "--ssh-host", "n1=192.0.2.11", "--ssh-host", "n2=h:2222", "--ssh-sudo"])
    assert (ns.node_probe, ns.ssh_host, ns.ssh_sudo, ns.probe_image) == (
        "ssh",
        ["n1=192.0.2.11", "n2=h:2222"],
        True,
        DEFAULT_IMAGE,
    )
    assert ns.hosts_dir is None and ns.ssh_insecure_host_keys is False


def test_settings_for_each_backend(tmp_path: Path) -> None:
    assert settings_from(_options()) == ProbeSettings()
    key = tmp_path / "id_ed25519"
    key.write_text("key")
    hosts = tmp_path / "hosts.json"
    hosts.write_text(json.dumps({"n1": "192.0.2.11", "n2": "192.0.2.12"}))
    ssh = settings_from(
        _options(node_probe="ssh", ssh_key=str(key), ssh_hosts=str(hosts), ssh_host=["n2=[fd00::2]:2222"])
    )
    assert ssh.host_map == {"n1": SshTarget("192.0.2.11"), "n2": SshTarget("fd00::2", 2222)}
    sim = settings_from(_options(node_probe="simulated", hosts_dir=str(tmp_path)))
    assert sim.hosts_dir == tmp_path


def test_default_backend_reads_an_emulated_clusters_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    state = tmp_path / "clusters" / "lab"
    (state / "hosts").mkdir(parents=True)
    (state / "hosts" / "README.md").write_text("# Simulated hosts\n\nOne directory per node\n")
    kubeconfig = str(state / "kubeconfig")
    assert settings_from(_options(node_probe=None)).backend == "pod"  # no kubeconfig option at all
    emulated = settings_from(_options(node_probe=None, kubeconfig=kubeconfig))
    assert (emulated.backend, emulated.hosts_dir) == ("simulated", state / "hosts")
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    assert settings_from(_options(node_probe=None, kubeconfig=None)).backend == "simulated"
    # Chosen explicitly, the backend is kept; a real cluster's kubeconfig directory gets the pod.
    assert settings_from(_options(node_probe="pod", kubeconfig=kubeconfig)).backend == "pod"
    (state / "hosts" / "README.md").write_text("my notes\n")
    assert settings_from(_options(node_probe=None, kubeconfig=kubeconfig)).backend == "pod"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"node_probe": "simulated"}, "needs --hosts-dir"),
        ({"node_probe": "simulated", "hosts_dir": "/nonexistent/hosts"}, "not a directory"),
        ({"node_probe": "ssh", "ssh_host": ["n1=192.0.2.11"]}, "needs --ssh-key"),
        ({"node_probe": "ssh", "ssh_host": ["n1=192.0.2.11"], "ssh_key": "/nonexistent/key"}, "no readable file"),
        ({"node_probe": "ssh", "ssh_key": "KEY"}, "needs --ssh-hosts FILE or --ssh-host"),
        ({"node_probe": "ssh", "ssh_key": "KEY", "ssh_host": ["n1"]}, "expected NODE=ADDRESS"),
        ({"node_probe": "ssh", "ssh_key": "KEY", "ssh_hosts": "/nonexistent/map.yaml"}, "cannot read SSH host map"),
        (
            {
                "node_probe": "ssh",
                "ssh_key": "KEY",
                "ssh_host": ["n1=h"],
                "ssh_known_hosts": "KEY",
                "ssh_insecure_host_keys": True,
            },
            "exclude each other",
        ),
        ({"probe_image": "leap 15.4"}, "not an image reference"),
    ],
)
def test_settings_refuse_with_one_line(tmp_path: Path, given: dict, message: str) -> None:
    key = tmp_path / "key"
    key.write_text("key")
    given = {k: (str(key) if v == "KEY" else v) for k, v in given.items()}
    with pytest.raises(ValueError, match=message) as info:
        settings_from(_options(**given))
    assert "\n" not in str(info.value)


# -- SSH host map -----------------------------------------------------------------------------------------
def test_host_map_yaml_and_json(tmp_path: Path) -> None:
    yml = "harvester-node-0: 192.0.2.11\nharvester-node-1: \"node1.lab.example:2222\"\nwitness: '[fd00::9]:22'\n"
    assert parse_host_map(yml, "hosts.yaml") == {
        "harvester-node-0": SshTarget("192.0.2.11"),
        "harvester-node-1": SshTarget("node1.lab.example", 2222),
        "witness": SshTarget("fd00::9"),
    }
    f = tmp_path / "hosts.json"
    f.write_text('{"harvester-node-0": "fd00::11"}')
    assert load_host_map(f) == {"harvester-node-0": SshTarget("fd00::11")}
    assert str(SshTarget("fd00::11", 2200)) == "[fd00::11]:2200"
    assert parse_host_pairs(["n1=192.0.2.1:2022"]) == {"n1": SshTarget("192.0.2.1", 2022)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- 192.0.2.11\n- 192.0.2.12\n", "expected a non-empty mapping of node name to address, got list"),
        ("", "got NoneType"),
        ("n1: [192.0.2.11]\n", "address of n1 must be a string"),
        ("n1: 192.0.2.11:99999\n", "bad port"),
        ("n1: 'not a host!'\n", "neither an IP address nor a host name"),
        ('{"n1": "192.0.2.11",\n  oops\n', "not YAML or JSON at line"),
    ],
)
def test_host_map_refuses_with_one_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_host_map(text, "hosts.yaml")
    assert "\n" not in str(info.value) and str(info.value).startswith("hosts.yaml")


# -- ethtool -k, /proc/stat btime, /etc/passwd ------------------------------------------------------
ETHTOOL_K = """Features for eno2:
rx-checksumming: on
tx-checksumming: on
\ttx-checksum-ipv4: off [fixed]
\ttx-checksum-ip-generic: on
scatter-gather: on
\ttx-scatter-gather: on
tcp-segmentation-offload: on
\ttx-tcp-segmentation: on
generic-segmentation-offload: off
generic-receive-offload: off
large-receive-offload: off [fixed]
rx-vlan-offload: on [requested off]
"""


def test_ethtool_features_as_ethtool_prints_them() -> None:
    from harvester_conformance.probes.parsers import parse_ethtool_features

    got = parse_ethtool_features(ETHTOOL_K.encode())
    assert not got["generic-receive-offload"].on and not got["generic-segmentation-offload"].on
    assert got["tcp-segmentation-offload"].on and got["tx-checksum-ip-generic"].on
    assert got["large-receive-offload"].fixed and not got["large-receive-offload"].on
    assert got["rx-vlan-offload"].on and not got["rx-vlan-offload"].fixed


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "does not begin"), ("rx: on\n", "does not begin"), ("Features for x:\nrx on\n", "not a 'feature")],
)
def test_ethtool_features_refuse_other_output(text: str, message: str) -> None:
    from harvester_conformance.probes.parsers import parse_ethtool_features

    with pytest.raises(ValueError, match=message):
        parse_ethtool_features(text)


def test_boot_time_from_proc_stat() -> None:
    from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs
    from harvester_conformance.probes.parsers import parse_boot_time

    assert parse_boot_time(hostfs.proc_stat(1764720000).encode()) == 1764720000
    with pytest.raises(ValueError, match="no btime"):
        parse_boot_time("cpu 1 2 3\n")
    with pytest.raises(ValueError, match="malformed btime"):
        parse_boot_time("btime soon\n")


def test_passwd_user_names() -> None:
    from harvester_conformance.probes.parsers import parse_passwd_users

    text = "root:x:0:0:root:/root:/bin/bash\n\n# comment\ntest-user:x:1001:100::/home/test-user:/bin/bash\n"
    assert parse_passwd_users(text) == ["root", "test-user"]
    with pytest.raises(ValueError, match="line 1"):
        parse_passwd_users("root:x:0\n")
