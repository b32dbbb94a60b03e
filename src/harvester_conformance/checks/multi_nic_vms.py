"""Multi-NIC VMs (article multiple-nics-vm-connectivity): at most one NIC gets a default route.

Two NICs that both take DHCP (or a static gateway) give the guest two default routes, and
traffic leaves through whichever wins: the article's random connectivity loss. The network data
is cloud-init's (network config version 1 or 2), inline in the VM's cloudInitNoCloud or
cloudInitConfigDrive volume (`networkData`, `networkDataBase64`) or in the Secret named by
`networkDataSecretRef` (kubevirt `pkg/cloud-init/cloud-init.go`: keys `networkdata` or
`networkData`). The snapshot keeps only the network data of such Secrets, decoded
(`cluster/sanitize.py`); user data never reaches this module. Findings name the VM and the NICs,
never the data.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import yaml

from harvester_conformance import yamltext
from harvester_conformance.checks.findings import Finding

SOURCES = ("cloudInitNoCloud", "cloudInitConfigDrive")
SECRET_KEYS = ("networkdata", "networkData")
DHCP4 = {"dhcp", "dhcp4"}
DEFAULT_ROUTES = {"default", "0.0.0.0/0", "0.0.0.0"}  # noqa: S104 - route destinations


@dataclass(frozen=True)
class NetworkData:
    """Where a VM's network data is: inline text, or the name of a Secret in its namespace."""

    text: str | None = None
    secret: str | None = None
    problem: str | None = None


def network_data_source(vm: dict) -> NetworkData | None:
    """None when the VM has no cloud-init network data."""
    volumes = ((((vm.get("spec") or {}).get("template") or {}).get("spec") or {}).get("volumes")) or []
    for volume in volumes:
        for source in SOURCES:
            ci = volume.get(source) if isinstance(volume, dict) else None
            if not isinstance(ci, dict):
                continue
            if isinstance(ci.get("networkData"), str):
                return NetworkData(text=ci["networkData"])
            if isinstance(ci.get("networkDataBase64"), str):
                try:
                    return NetworkData(text=base64.b64decode(ci["networkDataBase64"], validate=True).decode())
                except (binascii.Error, ValueError, UnicodeDecodeError):
                    return NetworkData(problem="networkDataBase64 is not base64 text")
            ref = ci.get("networkDataSecretRef")
            if isinstance(ref, dict) and ref.get("name"):
                return NetworkData(secret=str(ref["name"]))
    return None


def secret_network_data(secret: dict | None) -> str | None:
    """The decoded network data the snapshot kept for a cloud-init Secret."""
    decoded = (secret or {}).get("decoded") or {}
    return next((decoded[k] for k in SECRET_KEYS if isinstance(decoded.get(k), str)), None)


def interfaces(vm: dict) -> list[str]:
    spec = (((vm.get("spec") or {}).get("template") or {}).get("spec") or {}).get("domain") or {}
    return [str(i.get("name")) for i in (spec.get("devices") or {}).get("interfaces") or [] if isinstance(i, dict)]


def default_route_nics(text: str) -> list[str]:
    """NICs that get a default route (DHCPv4 unless its routes are refused; a static gateway or a
    default route); ValueError when the text is not network config version 1 or 2."""
    try:
        doc = yamltext.load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"network data is not YAML ({type(exc).__name__})") from None
    if isinstance(doc, dict) and isinstance(doc.get("network"), dict):
        doc = doc["network"]
    if not isinstance(doc, dict):
        raise ValueError("network data is not a mapping")
    version = doc.get("version")
    if version == 1:
        return _v1(doc.get("config"))
    if version == 2:
        return _v2(doc)
    raise ValueError(f"network config version {version!r} is neither 1 nor 2")


def _v1(config: object) -> list[str]:
    if not isinstance(config, list):
        raise ValueError("version 1 network data without a config list")
    found = []
    for entry in config:
        if not isinstance(entry, dict) or entry.get("type") not in ("physical", "bond", "vlan", "bridge"):
            continue
        for subnet in entry.get("subnets") or []:
            if not isinstance(subnet, dict):
                continue
            routes = [r for r in subnet.get("routes") or [] if isinstance(r, dict)]
            if (
                subnet.get("type") in DHCP4
                or subnet.get("gateway")
                or any(r.get("network") in DEFAULT_ROUTES or r.get("destination") in DEFAULT_ROUTES for r in routes)
            ):
                found.append(str(entry.get("name")))
                break
    return found


def _v2(doc: dict) -> list[str]:
    found = []
    for group in ("ethernets", "bonds", "vlans", "bridges"):
        for name, nic in (doc.get(group) or {}).items():
            if not isinstance(nic, dict):
                continue
            overrides = nic.get("dhcp4-overrides") or {}
            dhcp = nic.get("dhcp4") in (True, "true", "yes") and overrides.get("use-routes", True) not in (
                False,
                "false",
            )
            routes = [r for r in nic.get("routes") or [] if isinstance(r, dict)]
            if dhcp or nic.get("gateway4") or any(r.get("to") in DEFAULT_ROUTES for r in routes):
                found.append(str(name))
    return found


def check_vm(vm: dict, secret: dict | None = None) -> Finding | None:
    """A VM with two or more NICs whose network data gives more than one of them a default route.
    `secret`: the Secret its networkDataSecretRef names (None when absent)."""
    nics = interfaces(vm)
    if len(nics) < 2:
        return None
    meta = vm.get("metadata") or {}
    ref = f"VirtualMachine {meta.get('namespace')}/{meta.get('name')}"
    source = network_data_source(vm)
    if source is None:
        return None  # no network data: the guest's own configuration is out of reach
    if source.problem:
        return Finding(ref, source.problem)
    text = source.text
    where = "inline network data"
    if source.secret is not None:
        where = f"network data of Secret {meta.get('namespace')}/{source.secret}"
        if secret is None:
            return Finding(
                ref, f"networkDataSecretRef names Secret {meta.get('namespace')}/{source.secret}, which does not exist"
            )
        text = secret_network_data(secret)
        if text is None:
            return Finding(ref, f"{where}: the Secret holds no networkdata key")
    try:
        routed = default_route_nics(text or "")
    except ValueError as exc:
        return Finding(ref, f"{where}: {exc}")
    if len(routed) <= 1:
        return None
    return Finding(
        ref,
        f"{len(nics)} NICs and {len(routed)} of them get a default route (DHCPv4 or a gateway) in its {where}: "
        f"{', '.join(routed)}; expected at most one",
    )
