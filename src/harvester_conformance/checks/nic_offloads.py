"""NIC offloads a CloudInit turns off (article "VM Network Slowness Due to GRO and GSO Offloading
Issue", 2025-12-08, option 2): a CloudInit whose Elemental stages run `ethtool -K <nic> gro off`
/ `gso off` at boot. After the nodes it selects rebooted, each named NIC exists and `ethtool -k`
reports those features off. A NIC the commands name but the node does not have (an upgrade can
rename NICs) makes the commands fail silently at boot: a finding.

Which commands: every `ethtool -K|--features|--offload NIC FEATURE on|off ...` in the contents'
strings (yip `stages.<stage>[].commands`, or any other string of the document), the path of the
binary being free (`/usr/sbin/ethtool` in the article). ethtool's `-K` short names map to the
names `ethtool -k` prints (ethtool `off_flag_def`: rx, tx, sg, tso, ufo, gso, gro, lro, rxvlan,
txvlan, ntuple, rxhash); a long name is taken as written. Only the features turned off are
checked, as the article asks; when the contents name one feature twice the last value counts.

A node counts once booted since the file was rendered (checks/cloud_init_files.py, "pending"
otherwise); paused CloudInits are left out (node-manager writes nothing for them).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Iterator

from harvester_conformance.checks import cloud_init_files as cif
from harvester_conformance.checks.findings import Finding
from harvester_conformance.probes.parsers import parse_ethtool_features

SHORT_NAMES = {
    "rx": "rx-checksumming",
    "tx": "tx-checksumming",
    "sg": "scatter-gather",
    "tso": "tcp-segmentation-offload",
    "ufo": "udp-fragmentation-offload",
    "gso": "generic-segmentation-offload",
    "gro": "generic-receive-offload",
    "lro": "large-receive-offload",
    "rxvlan": "rx-vlan-offload",
    "txvlan": "tx-vlan-offload",
    "ntuple": "ntuple-filters",
    "rxhash": "receive-hashing",
}
SET_OPTIONS = ("-K", "--features", "--offload")
_SEPARATORS = {";", "&&", "||", "|", "&"}
_NIC = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}")  # the names the probe accepts (base.check_nics)


def _strings(doc: object) -> Iterator[str]:
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for value in doc.values():
            yield from _strings(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _strings(value)


def _commands(text: str) -> Iterator[list[str]]:
    for line in text.splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        current: list[str] = []
        for token in tokens:
            if token in _SEPARATORS:
                if current:
                    yield current
                current = []
            else:
                current.append(token.rstrip(";"))
        if current:
            yield current


def offload_settings(contents: str) -> dict[str, dict[str, bool]]:
    """NIC -> {ethtool -k feature name: on?} that the contents' ethtool -K commands set."""
    import yaml

    from harvester_conformance import yamltext

    try:
        doc = yamltext.load(contents)
    except yaml.YAMLError:
        doc = contents
    out: dict[str, dict[str, bool]] = {}
    for text in _strings(doc):
        for cmd in _commands(text):
            for i, token in enumerate(cmd):
                if token.rsplit("/", 1)[-1] != "ethtool" or i + 2 >= len(cmd) or cmd[i + 1] not in SET_OPTIONS:
                    continue
                nic, rest = cmd[i + 2], cmd[i + 3 :]
                for name, value in zip(rest[0::2], rest[1::2], strict=False):
                    if value in ("on", "off"):
                        out.setdefault(nic, {})[SHORT_NAMES.get(name, name)] = value == "on"
                break
    return out


def turned_off(ci: dict) -> dict[str, list[str]]:
    """NIC -> the features the CloudInit turns off, for the CloudInits that turn any off."""
    settings = offload_settings(str(cif.spec_of(ci).get("contents") or ""))
    return {
        nic: sorted(f for f, on in feats.items() if not on)
        for nic, feats in settings.items()
        if any(not on for on in feats.values())
    }


def offload_cloudinits(cloudinits: Iterable[dict]) -> list[dict]:
    """The active CloudInits that turn offloads off."""
    return [ci for ci in cif.active(cloudinits) if turned_off(ci)]


def nics_to_read(cloudinits: Iterable[dict], node_labels: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """node -> the NICs to ask `ethtool -k` about (named by a CloudInit selecting the node); names
    the probe would refuse are left out here and reported by `check_node`."""
    out: dict[str, set[str]] = {}
    for ci in offload_cloudinits(cloudinits):
        for node, labels in node_labels.items():
            if cif.selects(ci, labels):
                out.setdefault(node, set()).update(n for n in turned_off(ci) if _NIC.fullmatch(n))
    return {n: sorted(v) for n, v in out.items() if v}


def nic_problems(nic: str, features: list[str], output: bytes | None) -> list[str]:
    """What is wrong with one NIC the CloudInit turns `features` off for."""
    if not _NIC.fullmatch(nic):
        return [f"names {nic!r}, which is not a network interface name"]
    if output is None:
        return [f"names NIC {nic}, which the node does not have (renamed by an upgrade?): the commands fail at boot"]
    try:
        state = parse_ethtool_features(output)
    except ValueError as exc:
        return [f"NIC {nic}: {exc}"]
    problems = []
    for feature in features:
        got = state.get(feature)
        if got is None:
            problems.append(f"NIC {nic}: ethtool -k does not list {feature}")
        elif got.on:
            fixed = " (fixed on by the driver)" if got.fixed else ""
            problems.append(f"NIC {nic}: {feature} is on{fixed}, the CloudInit turns it off")
    return problems


def check_node(ci: dict, node: str, offloads: dict[str, bytes | None]) -> list[Finding]:
    """OFF-01 for one CloudInit on one selected node booted since the render."""
    return [
        Finding(cif.ref(ci), f"on node {node}: {problem}")
        for nic, features in sorted(turned_off(ci).items())
        for problem in nic_problems(nic, features, offloads.get(nic))
    ]


def with_nodes(found: list[Finding]) -> list[Finding]:
    """The findings, then one per node they concern (so that the host is named as well)."""
    nodes: dict[str, set[str]] = {}
    for f in found:
        m = re.match(r"on node (\S+): ", f.message)
        if m and f.object.startswith("CloudInit "):
            nodes.setdefault(m.group(1), set()).add(f.object.removeprefix("CloudInit "))
    return found + [
        Finding(f"Node {node}", f"offloads not as CloudInit(s) {', '.join(sorted(names))} set them")
        for node, names in sorted(nodes.items())
    ]
