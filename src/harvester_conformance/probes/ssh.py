"""The `ssh` backend: one SSH connection per node (paramiko), kept for the run; each read is one
command on it that runs the probe script (`probes.script`: the files, base64, between markers).

Host keys: an unknown or changed host key is REJECTED. The keys come from the `known_hosts`
file given (`--ssh-known-hosts`), else from the user's own `~/.ssh/known_hosts`. Only the
explicit insecure option (`--ssh-insecure-host-keys`) accepts any key, for that run only, and
never writes it anywhere: it is for throw-away labs, since it lets a man in the middle answer.

Harvester's login user is `rancher`, which cannot read root-only files (RKE2's TLS directory):
with `sudo` the script runs under `sudo -n` (passwordless sudo, as Harvester configures it).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import paramiko
import yaml

from harvester_conformance import yamltext
from harvester_conformance.probes.base import (
    HostProbe,
    HostRead,
    ProbeError,
    ProbeUnavailable,
    check_nics,
    check_paths,
    check_units,
)
from harvester_conformance.probes.script import build_script, host_read, parse_output
from harvester_conformance.waits import TIMEOUTS, timeout_scale

DEFAULT_USER = "rancher"
DEFAULT_PORT = 22
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORT else f"{host}:{self.port}"


def parse_address(text: str, where: str = "address") -> SshTarget:
    """`host`, `host:port`, an IPv6 address, or `[v6]:port`."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: empty SSH address")
    s = text.strip()
    host, port = s, str(DEFAULT_PORT)
    if s.startswith("["):
        m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", s)
        if not m:
            raise ValueError(f"{where}: bad SSH address {s!r}")
        host, port = m.group(1), m.group(2) or port
    elif s.count(":") == 1:
        host, port = s.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.fullmatch(host):
            raise ValueError(f"{where}: {host!r} is neither an IP address nor a host name") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{where}: bad port {port!r}")
    return SshTarget(host, int(port))


def parse_host_map(text: str, source: str) -> dict[str, SshTarget]:
    """A node-name -> address map, YAML or JSON (`node-1: 192.0.2.11`, `node-2: "host:2222"`)."""
    try:
        doc = yamltext.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ValueError(f"{source}: not YAML or JSON{at}") from None
    if not isinstance(doc, dict) or not doc:
        raise ValueError(f"{source}: expected a non-empty mapping of node name to address, got {type(doc).__name__}")
    out: dict[str, SshTarget] = {}
    for node, addr in doc.items():
        if not isinstance(node, str) or not node:
            raise ValueError(f"{source}: node names must be strings, got {node!r}")
        if not isinstance(addr, str):
            raise ValueError(f"{source}: address of {node} must be a string, got {type(addr).__name__}")
        out[node] = parse_address(addr, f"{source}: {node}")
    return out


def load_host_map(path: Path | str) -> dict[str, SshTarget]:
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read SSH host map {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_host_map(text, str(path))


def parse_host_pairs(items: Sequence[str]) -> dict[str, SshTarget]:
    """`NODE=ADDRESS` items (the repeatable command-line option)."""
    out: dict[str, SshTarget] = {}
    for item in items:
        node, eq, addr = item.partition("=")
        if not eq or not node.strip():
            raise ValueError(f"--ssh-host {item!r}: expected NODE=ADDRESS")
        out[node.strip()] = parse_address(addr, f"--ssh-host {node.strip()}")
    return out


class SshProbe(HostProbe):
    backend = "ssh"

    def __init__(
        self,
        hosts: Mapping[str, SshTarget],
        *,
        user: str = DEFAULT_USER,
        key_file: Path | str,
        known_hosts: Path | str | None = None,
        insecure: bool = False,
        sudo: bool = False,
    ) -> None:
        if known_hosts and insecure:
            raise ValueError("give either a known_hosts file or the insecure host-key option, not both")
        self.hosts, self.user, self.key_file = dict(hosts), user, Path(key_file)
        self.known_hosts, self.insecure, self.sudo = known_hosts, insecure, sudo
        self._clients: dict[str, paramiko.SSHClient] = {}

    def _seconds(self) -> float:
        return TIMEOUTS["node-probe"] * timeout_scale()

    def _client(self, node: str) -> paramiko.SSHClient:
        current = self._clients.get(node)
        transport = current.get_transport() if current else None
        if current and transport and transport.is_active():
            return current
        target = self.hosts.get(node)
        if target is None:
            raise ProbeUnavailable(f"no SSH address for node {node} in the host map")
        client = paramiko.SSHClient()
        if self.insecure:
            # S507: the user asked for it explicitly; the key is kept for this run only, never saved.
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
        else:
            if self.known_hosts:
                client.load_host_keys(str(self.known_hosts))
            else:
                client.load_system_host_keys()
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        where = f"{node} ({self.user}@{target})"
        try:
            client.connect(
                target.host,
                port=target.port,
                username=self.user,
                key_filename=str(self.key_file),
                look_for_keys=False,
                allow_agent=False,
                timeout=min(30.0, self._seconds()),
                banner_timeout=min(30.0, self._seconds()),
                auth_timeout=min(30.0, self._seconds()),
            )
        except paramiko.BadHostKeyException:
            client.close()
            raise ProbeError(f"{where}: host key does not match known_hosts; refusing (man in the middle?)") from None
        except paramiko.PasswordRequiredException:
            client.close()
            raise ProbeError(f"{where}: the key {self.key_file} is encrypted; give an unencrypted key") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise ProbeError(f"{where}: authentication failed: {exc}") from None
        except paramiko.SSHException as exc:
            client.close()
            hint = " (give --ssh-known-hosts FILE, or --ssh-insecure-host-keys)" if "known_hosts" in str(exc) else ""
            raise ProbeError(f"{where}: {exc}{hint}") from None
        except OSError as exc:
            client.close()
            raise ProbeError(f"{where}: cannot connect: {exc.strerror or exc}") from None
        self._clients[node] = client
        return client

    def collect(
        self,
        node: str,
        files: Sequence[str] = (),
        dirs: Sequence[str] = (),
        units: Sequence[str] = (),
        offloads: Sequence[str] = (),
    ) -> HostRead:
        wanted, listed, named, nics = check_paths(files), check_paths(dirs), check_units(units), check_nics(offloads)
        client = self._client(node)
        command = "sudo -n sh -s" if self.sudo else "sh -s"
        try:
            stdin, stdout, stderr = client.exec_command(command, timeout=self._seconds())
            stdin.write(build_script(wanted, listed, named, nics))
            stdin.channel.shutdown_write()
            out = stdout.read()
            err = stderr.read().decode("utf-8", errors="replace").strip()
            status = stdout.channel.recv_exit_status()
        except (paramiko.SSHException, OSError) as exc:
            self._drop(node)
            raise ProbeError(f"{node}: SSH command failed: {exc}") from None
        try:
            result = parse_output(out, wanted, listed, named, nics)
        except ValueError as exc:
            detail = f"; exit status {status}" + (f", stderr: {err.splitlines()[0][:200]}" if err else "")
            raise ProbeError(f"{node}: {exc}{detail}") from None
        if result.errors:
            raise ProbeError(f"{node}: " + "; ".join(f"{p} {why} as {self.user}" for p, why in result.errors.items()))
        try:
            return host_read(result)
        except ValueError as exc:
            raise ProbeError(f"{node}: {exc}") from None

    def _drop(self, node: str) -> None:
        client = self._clients.pop(node, None)
        if client:
            client.close()

    def close(self) -> None:
        for node in list(self._clients):
            self._drop(node)
