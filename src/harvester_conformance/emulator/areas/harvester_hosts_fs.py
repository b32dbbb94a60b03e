"""Simulated hosts: the files a node probe would read on a real Harvester node, mirrored under
`<state_dir>/hosts/<node>/<real path>` (the layout is described in `hosts/README.md`, written by
`write_hosts`). The emulated cluster has no hosts; this tree is what its nodes "contain".

`read(state_dir, node, path)` is the reader contract used by the tests and by the node probe's
`simulated` backend.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization

from harvester_conformance.emulator import pki
from harvester_conformance.emulator.profiles import ProfileSpec

RKE2_TLS = "var/lib/rancher/rke2/server/tls"
RKE2_AGENT = "var/lib/rancher/rke2/agent"  # every node's kubelet and kube-proxy certificates
RKE2_LEAF_DAYS = 365  # RKE2 issues its leaf certificates for one year (facts §2.4)
RKE2_CA_DAYS = 3650
GRUB_CFG = "run/initramfs/cos-state/grub2/grub.cfg"
ISCSI_ARGS = ("rd.iscsi.firmware", "rd.iscsi.ibft")
NICS = ("eno1", "eno2", "eno3", "eno4")  # physical NICs of every simulated host
MGMT_NIC = "eno1"
VM_NET_NIC = "eno2"

# RKE2 server leaf certificates: file stem -> (CN, signer, server?, organisation)
RKE2_LEAVES = {
    "client-admin": ("system:admin", "client-ca", False, "system:masters"),
    "client-controller": ("system:kube-controller-manager", "client-ca", False, None),
    "client-scheduler": ("system:kube-scheduler", "client-ca", False, None),
    "client-kube-apiserver": ("system:apiserver", "client-ca", False, "system:masters"),
    "client-kube-proxy": ("system:kube-proxy", "client-ca", False, None),
    "client-supervisor": ("system:rke2-supervisor", "client-ca", False, "system:masters"),
    "serving-kube-apiserver": ("kube-apiserver", "server-ca", True, None),
}
# RKE2 agent leaf certificates (k3s `pkg/agent/config/config.go`, signed by the server's supervisor:
# `pkg/server/router.go`): file stem -> (CN, signer, server?, organisation); `{node}` is the node name.
RKE2_AGENT_LEAVES = {
    "client-kubelet": ("system:node:{node}", "client-ca", False, "system:nodes"),
    "serving-kubelet": ("{node}", "server-ca", True, None),
    "client-kube-proxy": ("system:kube-proxy", "client-ca", False, None),
    "client-rke2-controller": ("system:rke2-controller", "client-ca", False, None),
}
# The node the healthy seed boots from an iSCSI root disk, with the article's procedure done: iBFT
# in sysfs, both arguments on the running command line and on every menuentry of grub.cfg.
ISCSI_NODE_INDEX = 0

# Per Harvester release: harvester chart, monitoring and logging chart versions and the minimum
# version one may upgrade from. Values as in harvester-installer's release file for that tag where
# known; the chart versions are representative, not checked upstream (see README).
RELEASE_EXTRAS = {
    "v1.2.1": ("1.2.1", "102.0.0+up40.1.2", "102.0.1+up3.38.1", "v1.1.2"),
    "v1.3.1": ("1.3.1", "103.0.3+up45.31.1", "103.0.0+up4.4.0", "v1.2.2"),
    "v1.4.3": ("1.4.3", "103.1.1+up45.31.1", "103.1.0+up4.4.0", "v1.3.2"),
    "v1.5.0": ("1.5.0", "105.1.2+up61.3.2", "105.2.0+up4.10.0", "v1.4.0"),
    # Monitoring/logging charts not read upstream for these (left empty); the floors are HV
    # package/upgrade-matrix.yaml's (facts-releases R0.3).
    "v1.6.1": ("1.6.1", "", "", "v1.5.0"),
    "v1.7.3": ("1.7.3", "", "", "v1.6.0"),
    "v1.8.2": ("1.8.2", "", "", "v1.7.0"),
}

SERVICES_DEFAULT = {
    "rke2-server.service": ("enabled", "active"),
    "rancherd.service": ("enabled", "inactive"),  # oneshot bootstrap; done after install
    "rancher-system-agent.service": ("enabled", "active"),
    "containerd.service": ("disabled", "inactive"),  # RKE2 runs its own containerd
    "iscsid.service": ("enabled", "active"),  # Longhorn needs open-iscsi
    "multipathd.service": ("disabled", "inactive"),  # Harvester's default, see multipath_enabled
    "sshd.service": ("enabled", "active"),
    "wicked.service": ("enabled", "active"),
    "chronyd.service": ("enabled", "active"),
}

MODULES = (
    "kvm_intel",
    "kvm",
    "vhost_net",
    "vhost",
    "tun",
    "tap",
    "bridge",
    "br_netfilter",
    "8021q",
    "bonding",
    "overlay",
    "iscsi_tcp",
    "libiscsi",
    "dm_multipath",
    "dm_mod",
    "nvme_tcp",
    "ip_vs",
    "nf_conntrack",
)

MULTIPATH_CONF = """blacklist {
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

# The article's /oem/99_multipathd.yaml as revised on 2026-02-17 (harvesterhci.io commit 39eb0df): the
# stage is `initramfs`, one elemental runs at every boot. (The article's block still indents
# `systemctl` past `name`, which YAML refuses; the seed writes it as it must be written to parse.)
OEM_MULTIPATHD = """stages:
  initramfs:
    - name: "Setup multipathd"
      systemctl:
        enable:
          - multipathd
        start:
          - multipathd
"""
# The same file as the article gave it before the revision: stage `default`, which no boot runs.
OEM_MULTIPATHD_UNREVISED = OEM_MULTIPATHD.replace("  initramfs:", "  default:")

# Harvester's installer (harvester-installer pkg/config/cos.go `disableLonghornMultipathing`, from
# v1.5.0) writes this drop-in at every boot (the initramfs stage of /oem/90_custom.yaml): Longhorn's
# iSCSI disks (tgt's inquiry data) stay out of multipath whether or not multipathd runs.
LONGHORN_MULTIPATH_CONF = "etc/multipath/conf.d/99-longhorn.conf"
LONGHORN_MULTIPATH_BLACKLIST = """blacklist {
  device {
    vendor "IET"
    product "VIRTUAL-DISK"
  }
}"""
LONGHORN_MULTIPATH_FROM = (1, 5, 0)

# The rootfs layout harvester-installer renders into /oem/90_custom.yaml (templates/cos-rootfs.yaml at
# each release tag): Harvester's persistent paths (bind-mounted from COS_PERSISTENT at boot), the
# overlays on tmpfs, and the partitions. /etc/nvme from v1.5.0, /etc/NetworkManager and
# /var/lib/NetworkManager from v1.7.0, /lib/firmware an overlay from v1.4.0.
PERSISTENT_STATE_PATHS = (
    "/etc/systemd",
    "/etc/rancher",
    "/etc/ssh",
    "/etc/iscsi",
    "/etc/cni",
    "/etc/pki/trust/anchors",
    "/home",
    "/opt",
    "/root",
    "/usr/libexec",
    "/var/log",
    "/var/lib/rancher",
    "/var/lib/kubelet",
    "/var/lib/wicked",
    "/var/lib/cni",
    "/var/lib/third-party",
    "/var/crash",
    "/var/lib/longhorn",
)
DEFAULT_DISK_MOUNT = "/var/lib/harvester/defaultdisk"  # the HARV_LH_DEFAULT partition (Longhorn's default disk)


def _release_key(version: str) -> tuple[int, ...]:
    core = version.lstrip("v").split("-", 1)[0]
    return tuple(int(x) for x in core.split(".") if x.isdigit())


def persistent_state_paths(version: str) -> list[str]:
    key = _release_key(version)
    paths = list(PERSISTENT_STATE_PATHS)
    if key >= (1, 5, 0):
        paths.insert(paths.index("/etc/cni"), "/etc/nvme")
    if key >= (1, 7, 0):
        paths.insert(0, "/etc/NetworkManager")
        paths.insert(paths.index("/var/lib/cni"), "/var/lib/NetworkManager")
    return paths


def rw_paths(version: str) -> list[str]:
    return ["/var", "/etc", "/srv", "/boot", *(["/lib/firmware"] if _release_key(version) >= (1, 4, 0) else [])]


def oem_custom(node: str, version: str, extra_paths: Iterable[str] = (), modules: Iterable[str] = ()) -> str:
    """/oem/90_custom.yaml as the installer writes it (the parts the suite reads): the rootfs layout
    stage, and the initramfs stage with the hostname, one `modprobe` per configured module (`os.modules`)
    and, from v1.5.0, Longhorn's multipath blacklist drop-in. `extra_paths` are the configuration's
    `os.persistent_state_paths`."""
    env = {
        "VOLUMES": f"LABEL=COS_OEM:/oem LABEL=COS_PERSISTENT:/usr/local LABEL=HARV_LH_DEFAULT:{DEFAULT_DISK_MOUNT}",
        "OVERLAY": "tmpfs:25%",
        "RW_PATHS": " ".join(rw_paths(version)),
        "PERSISTENT_STATE_PATHS": " ".join([*persistent_state_paths(version), *extra_paths]),
        "PERSISTENT_STATE_BIND": "true",
    }
    initramfs: dict = {"hostname": node, "commands": [*(f"modprobe {m}" for m in modules)]}
    if _release_key(version) >= (1, 4, 0):  # cos.go removes the CPU manager state from v1.4.0
        initramfs["commands"].append("rm -f /var/lib/kubelet/cpu_manager_state")
    if not initramfs["commands"]:
        del initramfs["commands"]
    if _release_key(version) >= LONGHORN_MULTIPATH_FROM:
        initramfs["directories"] = [{"path": "/etc/multipath/conf.d", "permissions": 0o644, "owner": 0, "group": 0}]
        initramfs["files"] = [
            {
                "path": "/" + LONGHORN_MULTIPATH_CONF,
                "content": base64.b64encode(LONGHORN_MULTIPATH_BLACKLIST.encode()).decode(),
                "encoding": "base64",
                "permissions": 0o644,
                "owner": 0,
                "group": 0,
            }
        ]
    doc = {
        "name": "Harvester Configuration",
        "stages": {
            "rootfs": [
                {
                    "if": '[ ! -f "/run/cos/recovery_mode" ]',
                    "name": "Rootfs layout overwrite",
                    "environment_file": "/run/cos/cos-layout.env",
                    "environment": env,
                }
            ],
            "initramfs": [initramfs],
        },
    }
    return yaml.safe_dump(doc, sort_keys=False, width=200)


def _state_bind(path: str) -> str:
    return "/.state/" + path.strip("/").replace("/", "-") + ".bind"


def mountinfo(version: str, extra_paths: Iterable[str] = ()) -> str:
    """/proc/1/mountinfo of a running node: the OS image read-only at /, the RW_PATHS overlays on
    tmpfs, COS_OEM at /oem, COS_PERSISTENT at /usr/local, every persistent path bind-mounted from its
    `.state/<path>.bind` directory there (PERSISTENT_STATE_BIND), Longhorn's default-disk partition."""
    lines = [
        (1, "7:0", "/", "/", "ro,relatime", "ext2", "/dev/loop0", "ro"),
        (22, "0:5", "/", "/dev", "rw,nosuid", "devtmpfs", "devtmpfs", "rw,mode=755"),
        (22, "0:21", "/", "/sys", "rw,nosuid,nodev,noexec,relatime", "sysfs", "sysfs", "rw"),
        (22, "0:22", "/", "/proc", "rw,nosuid,nodev,noexec,relatime", "proc", "proc", "rw"),
        (22, "0:24", "/", "/run", "rw,nosuid,nodev", "tmpfs", "tmpfs", "rw,mode=755"),
        (26, "8:4", "/", "/run/initramfs/cos-state", "rw,relatime", "ext4", "/dev/sda4", "rw"),
        (26, "0:25", "/", "/run/overlay", "rw,relatime", "tmpfs", "tmpfs", "rw,size=25%"),
    ]
    ids: dict[str, int] = {}
    for rw in rw_paths(version):
        name = rw.strip("/").replace("/", "-")
        opts = f"rw,lowerdir={rw},upperdir=/run/overlay/{name}.overlay/upper,workdir=/run/overlay/{name}.overlay/work"
        ids[rw] = 22 + len(lines)  # the id the line gets below
        lines.append((22, f"0:{30 + len(ids)}", "/", rw, "rw,relatime", "overlay", "overlay", opts))
    lines.append((22, "8:2", "/", "/oem", "rw,relatime", "ext4", "/dev/sda2", "rw"))
    lines.append((22, "8:5", "/", "/usr/local", "rw,relatime", "ext4", "/dev/sda5", "rw"))
    for path in [*persistent_state_paths(version), *extra_paths]:
        parent = next((ids[r] for r in ids if path.startswith(r + "/")), 22)
        lines.append((parent, "8:5", _state_bind(path), path, "rw,relatime", "ext4", "/dev/sda5", "rw"))
    lines.append((ids["/var"], "8:6", "/", DEFAULT_DISK_MOUNT, "rw,relatime", "ext4", "/dev/sda6", "rw"))
    out = []
    for n, (parent, dev, root, point, opts, fstype, source, sopts) in enumerate(lines):
        out.append(f"{22 + n} {parent} {dev} {root} {point} {opts} shared:{n + 1} - {fstype} {source} {sopts}")
    return "\n".join(out) + "\n"


# Whole disks as /sys/block shows them (SCSI inquiry data blank-padded as the kernel prints it): the
# OS disk, the disk Longhorn's extra disk lives on, and one Longhorn volume attached on this node
# through Longhorn's iSCSI frontend (tgt: vendor IET, product VIRTUAL-DISK).
BLOCK_DEVICES = {
    "loop0": None,
    "sda": ("ATA", "SAMSUNG MZ7LH960"),
    "sdb": ("ATA", "SAMSUNG MZ7LH3T8"),
    "sdc": ("IET", "VIRTUAL-DISK"),
}
LONGHORN_DEVICE = "sdc"


def write_block_devices(state_dir: Path | str, node: str, maps: dict[str, tuple[str, ...]] | None = None) -> None:
    """sys/block: each disk's device/{vendor,model}; each multipath map of `maps` (name -> slaves) as
    a dm-N device with dm/{uuid,name} and slaves/<disk> (an empty file for the symlink)."""
    remove(state_dir, node, "sys/block")
    for disk, ident in BLOCK_DEVICES.items():
        write(state_dir, node, f"sys/block/{disk}/dev", f"8:{16 * list(BLOCK_DEVICES).index(disk)}\n")
        if ident:
            write(state_dir, node, f"sys/block/{disk}/device/vendor", f"{ident[0]:<8}\n")
            write(state_dir, node, f"sys/block/{disk}/device/model", f"{ident[1]:<16}\n")
    for n, (name, slaves) in enumerate(sorted((maps or {}).items())):
        write(state_dir, node, f"sys/block/dm-{n}/dm/uuid", f"mpath-{name}\n")
        write(state_dir, node, f"sys/block/dm-{n}/dm/name", f"{name}\n")
        for slave in slaves:
            write(state_dir, node, f"sys/block/dm-{n}/slaves/{slave}", "")


def host_dir(state_dir: Path, node: str) -> Path:
    return Path(state_dir) / "hosts" / node


def _rel(path: str) -> str:
    return path.lstrip("/")


def read(state_dir: Path | str, node: str, path: str) -> bytes | None:
    """The bytes of `path` on simulated host `node`, or None when the host has no such file."""
    f = host_dir(Path(state_dir), node) / _rel(path)
    try:
        return f.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def exists(state_dir: Path | str, node: str, path: str) -> bool:
    return (host_dir(Path(state_dir), node) / _rel(path)).exists()


def listdir(state_dir: Path | str, node: str, path: str) -> list[str]:
    d = host_dir(Path(state_dir), node) / _rel(path)
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def write(state_dir: Path | str, node: str, path: str, data: bytes | str, mode: int = 0o644) -> None:
    """Write one host file atomically (a reader never sees half a file), through a temporary file
    of the writer's own (`cluster up`'s seed and the simulator's controllers both write hosts)."""
    f = host_dir(Path(state_dir), node) / _rel(path)
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f".{f.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    tmp.chmod(mode)
    tmp.replace(f)


def remove(state_dir: Path | str, node: str, path: str) -> None:
    f = host_dir(Path(state_dir), node) / _rel(path)
    if f.is_dir():
        for child in sorted(f.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() else child.unlink()
        f.rmdir()
    elif f.exists():
        f.unlink()


# -- contents ---------------------------------------------------------------------------------
def kernel_cmdline(iscsi: bool = False) -> str:
    args = [
        "BOOT_IMAGE=(loop0)/boot/vmlinuz",
        "console=tty1",
        "root=LABEL=COS_STATE",
        "cos-img/filename=/cOS/active.img",
        "panic=0",
        "net.ifnames=1",
        "rd.cos.oemlabel=COS_OEM",
        "rd.cos.mount=LABEL=COS_OEM:/oem",
        "rd.cos.mount=LABEL=COS_PERSISTENT:/usr/local",
        "rd.cos.oemtimeout=10",
        "audit=1",
        "audit_backlog_limit=8192",
        "intel_iommu=on",
        "amd_iommu=on",
        "iommu=pt",
    ]
    if iscsi:
        args += list(ISCSI_ARGS)
    return " ".join(args) + "\n"


def grub_cfg(version: str, iscsi_entries: Iterable[str] = ()) -> str:
    """COS_STATE grub.cfg with several menuentry blocks; `iscsi_entries` names the entries whose
    linux line carries the iSCSI boot arguments (the KB's manual edit)."""
    marked = set(iscsi_entries)
    entries = [
        ("Harvester " + version, "active", "/cOS/active.img", ""),
        ("Harvester " + version + " (fallback)", "passive", "/cOS/passive.img", ""),
        ("Harvester " + version + " recovery", "recovery", "/cOS/recovery.squashfs", " ${extra_recovery_cmdline}"),
        ("Harvester " + version + " (debug)", "active", "/cOS/active.img", " rd.debug rd.shell"),
    ]
    out = [
        "set timeout=10",
        'set default="${saved_entry}"',
        "search --no-floppy --label --set=root COS_STATE",
        "",
    ]
    for title, label, img, extra in entries:
        iscsi = " " + " ".join(ISCSI_ARGS) if title in marked else ""
        out += [
            f'menuentry "{title}" --id {label} {{',
            f"  set label={label}",
            f"  set img={img}",
            "  loopback $loopdev /$img",
            "  source ($loopdev)/etc/cos/bootargs.cfg",
            f"  linux ($loopdev)$kernel $kernelcmd ${{extra_cmdline}}{extra}{iscsi}",
            "  initrd ($loopdev)$initramfs",
            "}",
            "",
        ]
    return "\n".join(out)


def menuentry_titles(version: str) -> list[str]:
    return [
        f"Harvester {version}",
        f"Harvester {version} (fallback)",
        f"Harvester {version} recovery",
        f"Harvester {version} (debug)",
    ]


def release_yaml(spec: ProfileSpec) -> str:
    chart, monitoring, logging, min_upgradable = RELEASE_EXTRAS.get(
        spec.harvester, (spec.harvester.lstrip("v"), "", "", "")
    )
    keys = {
        "harvester": spec.harvester,
        "harvesterChart": chart,
        "os": f"Harvester {spec.harvester}",
        "kubernetes": spec.rke2,
        "rancher": spec.rancher,
        "monitoringChart": monitoring,
        "loggingChart": logging,
        "kubevirt": spec.kubevirt,
        "minUpgradableVersion": min_upgradable,
    }
    return "".join(f"{k}: {v}\n" for k, v in keys.items())


def nics(index: int) -> list[dict]:
    """The host's links: physical NICs, the management bond/bridge and the vm-net bond/bridge."""
    out = [{"name": "lo", "index": 1, "type": "loopback", "mac": "00:00:00:00:00:00", "state": "up"}]
    for i, name in enumerate(NICS):
        master = {"eno1": "mgmt-bo", "eno2": "vm-net-bo"}.get(name)
        out.append(
            {
                "name": name,
                "index": 2 + i,
                "type": "device",
                "mac": f"52:54:00:{index // 256:02x}:{index % 256:02x}:{i + 1:02x}",
                "state": "up",
                **({"master": master} if master else {}),
            }
        )
    base = 2 + len(NICS)
    for j, (name, kind, master) in enumerate(
        (
            ("mgmt-bo", "bond", "mgmt-br"),
            ("mgmt-br", "bridge", None),
            ("vm-net-bo", "bond", "vm-net-br"),
            ("vm-net-br", "bridge", None),
        )
    ):
        out.append(
            {
                "name": name,
                "index": base + j,
                "type": kind,
                "mac": f"52:54:00:{index // 256:02x}:{index % 256:02x}:{1 if 'mgmt' in name else 2:02x}",
                "state": "up",
                **({"master": master} if master else {}),
            }
        )
    return out


def services(multipath_enabled: bool) -> dict:
    units = dict(SERVICES_DEFAULT)
    if multipath_enabled:
        units["multipathd.service"] = ("enabled", "active")
    return {
        u: {"enabled": e, "active": a, "sub": "running" if a == "active" and u != "rancherd.service" else "dead"}
        for u, (e, a) in units.items()
    }


def proc_modules(names: Iterable[str]) -> str:
    return "".join(f"{n} 65536 0 - Live 0x0000000000000000\n" for n in names)


# -- boot time, local users, NIC offloads ---------------------------------------------------
BOOTED_BEFORE_SEED = 3600  # seconds: the hosts were up an hour before the cluster was seeded
OFFLOADS = "offloads.json"  # beside services.json: each NIC's offload features (ethtool's long names)
# /etc/passwd and /etc/group of a Harvester node before any CloudInit adds users (the OS image's
# system accounts and the installer's `rancher` user, in the admin group that may SSH in and sudo).
PASSWD_BASE = (
    ("root", 0, 0, "root", "/root", "/bin/bash"),
    ("messagebus", 499, 499, "User for D-Bus", "/run/dbus", "/usr/sbin/nologin"),
    ("sshd", 498, 498, "SSH daemon", "/var/lib/sshd", "/usr/sbin/nologin"),
    ("rancher", 1000, 1000, "rancher", "/home/rancher", "/bin/bash"),
)
GROUP_BASE = (("root", 0, ()), ("users", 100, ()), ("admin", 1000, ("rancher",)))


def proc_stat(btime: int) -> str:
    """/proc/stat as the kernel prints it (proc(5)); `btime` is the boot time, epoch seconds."""
    return (
        "cpu  104829 51 58213 8841922 2711 0 1432 0 0 0\n"
        "cpu0 52411 25 29104 4420961 1355 0 716 0 0 0\n"
        "cpu1 52418 26 29109 4420961 1356 0 716 0 0 0\n"
        "intr 30219847 0 9 0 0 0 0 0 0 0 0\n"
        f"ctxt 61837229\nbtime {btime}\nprocesses 402118\nprocs_running 2\nprocs_blocked 0\n"
        "softirq 11930542 0 3215447 1 901235 0 0 4 3902461 0 3911394\n"
    )


def write_boot_time(state_dir: Path | str, node: str, btime: int) -> None:
    write(state_dir, node, "proc/stat", proc_stat(btime), 0o444)


def boot_time(state_dir: Path | str, node: str) -> int | None:
    raw = read(state_dir, node, "proc/stat")
    for line in (raw or b"").decode().splitlines():
        if line.startswith("btime "):
            return int(line.split()[1])
    return None


def write_users(state_dir: Path | str, node: str, extra: Iterable[tuple[str, Iterable[str]]] = ()) -> None:
    """/etc/passwd and /etc/group: the base accounts, then `extra` (name, groups) as useradd adds
    them (uid/gid from 1001; a named group that does not exist is created)."""
    users = [list(u) for u in PASSWD_BASE]
    groups = {g: [gid, list(members)] for g, gid, members in GROUP_BASE}
    for n, (name, member_of) in enumerate(extra):
        if any(u[0] == name for u in users):
            continue
        uid = 1001 + n
        users.append([name, uid, 100, name, f"/home/{name}", "/bin/bash"])
        for g in member_of:
            groups.setdefault(g, [2000 + len(groups), []])[1].append(name)
    write(state_dir, node, "etc/passwd", "".join(f"{u[0]}:x:{u[1]}:{u[2]}:{u[3]}:{u[4]}:{u[5]}\n" for u in users))
    write(
        state_dir,
        node,
        "etc/group",
        "".join(f"{g}:x:{gid}:{','.join(members)}\n" for g, (gid, members) in groups.items()),
    )


def user_names(state_dir: Path | str, node: str) -> list[str]:
    raw = read(state_dir, node, "etc/passwd") or b""
    return [line.split(":", 1)[0] for line in raw.decode().splitlines() if line]


def write_offloads(state_dir: Path | str, node: str, states: dict[str, dict[str, str]]) -> None:
    """offloads.json: NIC -> {feature: on|off}; a feature not listed is on (the drivers' default)."""
    write(state_dir, node, OFFLOADS, json.dumps(states, indent=2, sort_keys=True) + "\n")


def offloads(state_dir: Path | str, node: str) -> dict[str, dict[str, str]]:
    raw = read(state_dir, node, OFFLOADS)
    return json.loads(raw) if raw else {}


# -- RKE2 PKI -------------------------------------------------------------------------------
def _pem_key(pair: pki.KeyPair) -> bytes:
    return pair.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


SERVING_LEAF = "serving-kube-apiserver"


def apiserver_pki(state_dir: Path | str, name: str) -> tuple[bytes, bytes]:
    """(certificate, key) PEM of the emulated apiserver's pair `name` (`ca`, `apiserver`)."""
    pki_dir = Path(state_dir) / "pki"
    return (pki_dir / f"{name}.crt").read_bytes(), (pki_dir / f"{name}.key").read_bytes()


def rke2_cas(state_dir: Path | str) -> dict[str, pki.KeyPair]:
    """The cluster's RKE2 CAs (shared by every server through RKE2's bootstrap data). The server
    CA is the one that signed the certificate the apiserver really serves."""
    start = pki.now() - dt.timedelta(days=30)
    return {
        "server-ca": pki.load(*apiserver_pki(state_dir, "ca")),
        "client-ca": pki.make_ca(f"rke2-client-ca@{int(start.timestamp())}", dt.timedelta(days=RKE2_CA_DAYS), start),
    }


def write_apiserver_serving(state_dir: Path | str, node: str) -> None:
    """The host's serving-kube-apiserver pair is the one the apiserver serves (the emulated
    apiserver plays every server's), so a probe of the file sees what a TLS client sees."""
    cert, key = apiserver_pki(state_dir, "apiserver")
    write(state_dir, node, f"{RKE2_TLS}/{SERVING_LEAF}.crt", cert)
    write(state_dir, node, f"{RKE2_TLS}/{SERVING_LEAF}.key", key, 0o600)


def load_ca(state_dir: Path | str, node: str, name: str) -> pki.KeyPair:
    if name == "server-ca":  # the apiserver's CA: its key is not copied onto the hosts
        return pki.load(*apiserver_pki(state_dir, "ca"))
    cert, key = read(state_dir, node, f"{RKE2_TLS}/{name}.crt"), read(state_dir, node, f"{RKE2_TLS}/{name}.key")
    if cert is None or key is None:
        raise FileNotFoundError(f"{node}: {RKE2_TLS}/{name}.crt/.key missing; is the host seeded?")
    return pki.load(cert, key)


def issue_rke2_leaf(
    cas: dict[str, pki.KeyPair],
    stem: str,
    node: str,
    ip: str,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> pki.KeyPair:
    cn, signer, server, org = RKE2_LEAVES[stem]
    start = not_before or pki.now() - dt.timedelta(days=1)
    dns = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost", node) if server else ()
    ips = ("127.0.0.1", "10.53.0.1", ip) if server else ()
    return pki.issue(
        cas[signer],
        cn,
        dt.timedelta(days=RKE2_LEAF_DAYS),
        dns=dns,
        ips=ips,
        org=org,
        client=not server,
        server=server,
        not_before=start,
        not_after=not_after or start + dt.timedelta(days=RKE2_LEAF_DAYS),
    )


def write_rke2_leaf(state_dir: Path | str, node: str, stem: str, pair: pki.KeyPair) -> None:
    write(state_dir, node, f"{RKE2_TLS}/{stem}.crt", pair.cert_pem)
    write(state_dir, node, f"{RKE2_TLS}/{stem}.key", _pem_key(pair), 0o600)


def write_rke2_agent(state_dir: Path | str, node: str, ip: str, cas: dict[str, pki.KeyPair]) -> None:
    """agent/: the CAs the agent trusts and its leaves, one year from yesterday (as the server's)."""
    start = pki.now() - dt.timedelta(days=1)
    for name in ("server-ca", "client-ca"):
        write(state_dir, node, f"{RKE2_AGENT}/{name}.crt", cas[name].cert_pem)
    for stem, (cn, signer, server, org) in RKE2_AGENT_LEAVES.items():
        pair = pki.issue(
            cas[signer],
            cn.format(node=node),
            dt.timedelta(days=RKE2_LEAF_DAYS),
            dns=(node, "localhost") if server else (),
            ips=("127.0.0.1", ip) if server else (),
            org=org,
            client=not server,
            server=server,
            not_before=start,
            not_after=start + dt.timedelta(days=RKE2_LEAF_DAYS),
        )
        write(state_dir, node, f"{RKE2_AGENT}/{stem}.crt", pair.cert_pem)
        write(state_dir, node, f"{RKE2_AGENT}/{stem}.key", _pem_key(pair), 0o600)


# -- the whole tree -------------------------------------------------------------------------
def write_host(
    state_dir: Path, spec: ProfileSpec, node: str, index: int, cas: dict[str, pki.KeyPair], *, iscsi: bool = False
) -> None:
    ip = f"192.0.2.{11 + index}"
    w = lambda p, d, m=0o644: write(state_dir, node, p, d, m)  # noqa: E731 - local shorthand
    w("etc/hostname", node + "\n")
    w("proc/cmdline", kernel_cmdline(iscsi=iscsi))
    w(GRUB_CFG, grub_cfg(spec.harvester, menuentry_titles(spec.harvester) if iscsi else ()))
    w("etc/harvester-release.yaml", release_yaml(spec))
    w(
        "etc/os-release",
        f'NAME="Harvester"\nVERSION="{spec.harvester}"\nID="harvester"\nPRETTY_NAME="Harvester {spec.harvester}"\n',
    )
    w("oem/90_custom.yaml", oem_custom(node, spec.harvester), 0o600)
    w("proc/1/mountinfo", mountinfo(spec.harvester))
    # Trident is installed in this cluster, so every node has the KB's multipathd setup.
    w("oem/99_multipathd.yaml", OEM_MULTIPATHD)
    w(
        "oem/99_multipath_conf.yaml",
        "stages:\n  initramfs:\n    - name: Configure multipath blacklist and whitelist\n      files:\n"
        "        - path: /etc/multipath.conf\n          permissions: 0644\n          content: |\n"
        + "".join("            " + line + "\n" for line in MULTIPATH_CONF.splitlines()),
    )
    w("etc/multipath.conf", MULTIPATH_CONF)
    if _release_key(spec.harvester) >= LONGHORN_MULTIPATH_FROM:
        w(LONGHORN_MULTIPATH_CONF, LONGHORN_MULTIPATH_BLACKLIST + "\n")
    write_block_devices(state_dir, node)
    w("services.json", json.dumps(services(multipath_enabled=True), indent=2, sort_keys=True) + "\n")
    w("proc/modules", proc_modules(MODULES))
    write_boot_time(state_dir, node, int(pki.now().timestamp()) - BOOTED_BEFORE_SEED)
    write_users(state_dir, node)
    write_offloads(state_dir, node, {})
    write_links(state_dir, node, nics(index))
    w("etc/rancher/rke2/config.yaml", f"node-ip: {ip}\ncluster-cidr: 10.52.0.0/16\nservice-cidr: 10.53.0.0/16\n")
    for name, ca in cas.items():
        w(f"{RKE2_TLS}/{name}.crt", ca.cert_pem)
        if name != "server-ca":  # the emulated apiserver's CA key stays in its pki directory only
            w(f"{RKE2_TLS}/{name}.key", _pem_key(ca), 0o600)
    for stem in RKE2_LEAVES:
        if stem != SERVING_LEAF:
            write_rke2_leaf(state_dir, node, stem, issue_rke2_leaf(cas, stem, node, ip))
    write_apiserver_serving(state_dir, node)
    write_rke2_agent(state_dir, node, ip, cas)
    if iscsi:
        write_ibft(state_dir, node, index)


def write_links(state_dir: Path, node: str, links: list[dict]) -> None:
    """nics.json and sys/class/net, replacing what was there."""
    remove(state_dir, node, "sys/class/net")
    write(state_dir, node, "nics.json", json.dumps(links, indent=2) + "\n")
    for link in links:
        base = f"sys/class/net/{link['name']}"
        write(state_dir, node, f"{base}/address", link["mac"] + "\n")
        write(state_dir, node, f"{base}/operstate", ("unknown" if link["name"] == "lo" else link["state"]) + "\n")
        write(state_dir, node, f"{base}/ifindex", f"{link['index']}\n")
        if "master" in link:
            write(state_dir, node, f"{base}/master_name", link["master"] + "\n")


def write_ibft(state_dir: Path, node: str, index: int) -> None:
    """iSCSI Boot Firmware Table as sysfs shows it on a node booted from iSCSI."""
    w = lambda p, d: write(state_dir, node, f"sys/firmware/ibft/{p}", d)  # noqa: E731
    w("initiator/initiator-name", f"iqn.2024-02.com.example:cluster1-{node}-boot-disk\n")
    w("target0/target-name", "iqn.2024-02.com.example:storage.boot\n")
    w("target0/ip-addr", "192.0.2.250\n")
    w("target0/port", "3260\n")
    w("target0/lun", "0\n")
    w("ethernet0/mac", nics(index)[1]["mac"] + "\n")


def write_hosts(state_dir: Path, spec: ProfileSpec, nodes: list[str]) -> None:
    cas = rke2_cas(state_dir)
    for i, node in enumerate(nodes):
        write_host(state_dir, spec, node, i, cas, iscsi=i == ISCSI_NODE_INDEX)
    (Path(state_dir) / "hosts" / "README.md").write_text(README)


README = """# Simulated hosts

One directory per node, `hosts/<node>/`, holding the files a node probe reads on a real
Harvester node at the same path below `/` (so `/proc/cmdline` is `hosts/<node>/proc/cmdline`).
Written when the cluster is seeded; faults rewrite single files (each write is atomic).

- `proc/cmdline`: the running kernel command line (one line).
- `run/initramfs/cos-state/grub2/grub.cfg`: the persisted GRUB configuration (COS_STATE) with
  several `menuentry` blocks; each block's `linux` line carries the kernel arguments.
- `etc/harvester-release.yaml`: keys harvester, harvesterChart, os, kubernetes, rancher,
  monitoringChart, loggingChart, kubevirt, minUpgradableVersion.
- `etc/os-release`, `etc/hostname`: OS identity.
- `oem/*.yaml`: Elemental cloud-config stages: 90_custom.yaml as harvester-installer writes it
  (the `rootfs` layout stage with PERSISTENT_STATE_PATHS, the `initramfs` stage with the hostname
  and, from v1.5.0, Longhorn's multipath blacklist drop-in), and 99_multipathd.yaml (stage
  `initramfs`, the article as revised on 2026-02-17) and 99_multipath_conf.yaml from the NetApp
  article (Trident is installed in this cluster); from v1.3.0 also the files harvester-node-manager
  renders from CloudInit resources (`99_add_test_user.yaml`, `99_disable_offloads.yaml`, ...).
- `etc/multipath.conf`: multipath configuration (blacklists everything but NETAPP LUN);
  `etc/multipath/conf.d/99-longhorn.conf` from v1.5.0 (blacklists vendor IET product VIRTUAL-DISK).
- `proc/1/mountinfo`: the host's mounts (the OS image read-only at /, overlays on tmpfs for /var,
  /etc, /srv, /boot (and /lib/firmware from v1.4.0), each persistent path bind-mounted from
  `/.state/<path>.bind` of COS_PERSISTENT, Longhorn's default disk).
- `sys/block/<disk>/device/{vendor,model}`: whole disks as sysfs shows them (sda, sdb local disks,
  sdc a Longhorn volume: vendor IET, model VIRTUAL-DISK); a multipath map would be
  `sys/block/dm-N/dm/{uuid,name}` with `slaves/<disk>` (an empty file standing for the symlink).
  A directory of the tree is a directory on the host (the probe lists it).
- `etc/rancher/rke2/config.yaml`: RKE2 config (node-ip, cluster-cidr, service-cidr).
- `var/lib/rancher/rke2/server/tls/*.crt`: real X.509 PEM certificates: server-ca and client-ca
  (10 years, the same on every server), leaf certificates (365 days); a `.key` beside each but
  server-ca's. `serving-kube-apiserver.crt` is the certificate the emulated apiserver serves
  (server-ca is its CA), rewritten whenever that certificate changes.
- `var/lib/rancher/rke2/agent/*.crt`: every node's agent certificates as RKE2 keeps them:
  server-ca and client-ca, client-kubelet, serving-kubelet, client-kube-proxy and
  client-rke2-controller (365 days, a `.key` beside each leaf).
- `services.json` (beside the host's `/`, not a host file): systemd's unit states, what
  `systemctl show` answers on a real host,
  `{"<unit>.service": {"enabled": "enabled"|"disabled", "active": "active"|"inactive", "sub": "running"|"dead"}}`;
  a unit not listed is not-found.
- `proc/modules`: loaded kernel modules in `/proc/modules` format (first field = module name).
- `proc/stat`: the kernel's statistics with `btime`, when the host booted (an hour before the
  seed; the seed reboots the hosts once the CloudInits are rendered, see cloud_init_files.py).
- `etc/passwd`, `etc/group`: local users (root, system accounts, `rancher` in `admin`), plus the
  users the /oem cloud-config files created at the last boot.
- `offloads.json` (beside the host's `/`, not a host file): each NIC's offload features as
  `ethtool -k` reports them, `{"<nic>": {"<feature>": "on"|"off"}}` (ethtool's long names; a
  feature not listed is on), set at boot by the /oem files' `ethtool -K` commands.
- `nics.json`: links, `[{"name", "index", "type" (device|bond|bridge|loopback), "mac",
  "state" (up|down), "master"?}]`; physical NICs are eno1..eno4 (eno1 in mgmt-bo, eno2 in vm-net-bo).
- `sys/class/net/<link>/{address,operstate,ifindex,master_name}`: the same links as sysfs shows
  them (`master_name` stands for the `master` symlink).
- `sys/firmware/ibft/...`: present only on a node booted from iSCSI, with the kernel's attribute
  names (`initiator/initiator-name`, `target0/{target-name,ip-addr,port,lun}`, `ethernet0/mac`).
  The seed boots the first node from iSCSI with the article's procedure done (both
  `rd.iscsi.firmware rd.iscsi.ibft` on `proc/cmdline` and on every menuentry of grub.cfg); the
  others boot from local disks.

Absent file = absent on the host. Reader: `harvester_conformance.emulator.areas.harvester_hosts_fs.read`.
The chart versions in harvester-release.yaml (monitoringChart, loggingChart) are representative
values, not checked against harvester-installer.
"""
