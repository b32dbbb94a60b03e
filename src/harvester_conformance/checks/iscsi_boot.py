"""Booting from an iSCSI root disk (article "Configuring Harvester to Boot from an iSCSI Root Disk
in Special Circumstances", facts.md §4): a node whose firmware booted it from iSCSI must run with
`rd.iscsi.firmware rd.iscsi.ibft` on its kernel command line (ISC-01) and keep both arguments on
the `linux` line of every `menuentry` of the persisted GRUB configuration (ISC-02), which an
upgrade rewrites without them.

Which nodes boot from iSCSI: those whose firmware published an iSCSI Boot Firmware Table, seen
in sysfs under /sys/firmware/ibft (the kernel's iscsi_ibft driver, drivers/firmware/iscsi_ibft.c,
with the attribute names of iscsi_boot_sysfs.c: `initiator/initiator-name`,
`target<n>/target-name`). Only those two names are read: the table's CHAP secrets
(`target<n>/chap-secret`) and the raw ACPI table, which holds them too, are never read. A node
without an iBFT is not concerned by either invariant. The driver creates the directory only when
it is loaded, which dracut does for `rd.iscsi.firmware`/`rd.iscsi.ibft` boots; a node booted from
iSCSI without them does not come up (the article), so it is not missed in practice.

The GRUB arguments are checked as the article writes them: literal words on each `linux` line.
Arguments a line takes from GRUB variables (`$kernelcmd`, `${extra_cmdline}`) are set outside
this file and are not expanded here.
"""

from __future__ import annotations

from harvester_conformance.checks.findings import Finding
from harvester_conformance.probes.parsers import parse_cmdline, parse_grub_menuentries

CMDLINE = "/proc/cmdline"
GRUB_CFG = "/run/initramfs/cos-state/grub2/grub.cfg"
IBFT_INITIATOR = "/sys/firmware/ibft/initiator/initiator-name"
IBFT_TARGET = "/sys/firmware/ibft/target0/target-name"
HOST_PATHS = (CMDLINE, GRUB_CFG, IBFT_INITIATOR, IBFT_TARGET)
ISCSI_ARGS = ("rd.iscsi.firmware", "rd.iscsi.ibft")
FALSE_VALUES = frozenset({"0", "no", "off"})  # dracut getargbool: these turn a flag off

Files = dict[str, bytes | None]


def _node(node: str) -> str:
    return f"Node {node}"


def has_ibft(files: Files) -> bool:
    """The firmware published an iSCSI Boot Firmware Table (the node boots from iSCSI)."""
    return any(files.get(p) is not None for p in (IBFT_INITIATOR, IBFT_TARGET))


def initiator(files: Files) -> str:
    raw = files.get(IBFT_INITIATOR)
    return raw.decode("utf-8", errors="replace").strip() if raw else ""


def iscsi_nodes(hosts: dict[str, Files]) -> list[str]:
    return sorted(n for n, files in hosts.items() if has_ibft(files))


def missing_running_args(files: Files) -> list[str] | None:
    """The iSCSI arguments the running kernel lacks (the last value of a flag counts, as in
    dracut's getarg; `=0`, `=no`, `=off` turn it off); None when /proc/cmdline is absent."""
    raw = files.get(CMDLINE)
    if raw is None:
        return None
    args = parse_cmdline(raw)
    missing = []
    for key in ISCSI_ARGS:
        values = [v for k, v in args if k == key]
        if not values or (values[-1] is not None and values[-1].lower() in FALSE_VALUES):
            missing.append(key)
    return missing


def check_running_args(node: str, files: Files) -> Finding | None:
    """ISC-01 for one iSCSI-booted node."""
    try:
        missing = missing_running_args(files)
    except ValueError as exc:
        return Finding(_node(node), f"{CMDLINE} does not parse: {exc}")
    if missing is None:
        return Finding(_node(node), f"{CMDLINE} could not be read (no such file)")
    if not missing:
        return None
    who = f" (iBFT initiator {initiator(files)})" if initiator(files) else ""
    return Finding(
        _node(node),
        f"boots from iSCSI{who} but its running kernel command line lacks {' '.join(missing)}: the "
        "boot partitions are found through the iBFT only with both arguments",
    )


def entries_without_args(files: Files) -> list[str] | str:
    """ISC-02 for one node: titles of the menu entries whose `linux` line lacks an argument, or
    a string saying why the configuration cannot be judged (absent, unparsable, no entry)."""
    raw = files.get(GRUB_CFG)
    if raw is None:
        return f"{GRUB_CFG} does not exist"
    try:
        entries = parse_grub_menuentries(raw)
    except ValueError as exc:
        return f"{GRUB_CFG} does not parse: {exc}"
    booting = [e for e in entries if e.linux]  # entries without a linux line boot no kernel
    if not booting:
        return f"{GRUB_CFG} has no menuentry with a linux line"
    bad = []
    for e in booting:
        lacks = [a for a in ISCSI_ARGS if not e.has_arg(a)]
        if lacks:
            where = " > ".join((*e.submenu, e.title))
            bad.append(f"{where!r} (line {e.line}) lacks {' '.join(lacks)}")
    return bad


def check_persisted_args(node: str, files: Files) -> Finding | None:
    """ISC-02 for one iSCSI-booted node."""
    bad = entries_without_args(files)
    if isinstance(bad, str):
        return Finding(_node(node), f"boots from iSCSI but {bad}")
    if not bad:
        return None
    return Finding(
        _node(node),
        f"boots from iSCSI but {len(bad)} menuentry(s) of {GRUB_CFG} will boot without the iSCSI arguments "
        f"(an upgrade rewrites the file): {'; '.join(bad)}",
    )


def not_concerned(hosts: dict[str, Files]) -> list[str]:
    """Nodes without an iBFT: neither invariant concerns them."""
    return sorted(n for n, files in hosts.items() if not has_ibft(files))
