"""The node probe's command-line options and their validated form.

`add_options` fills a pytest option group; `settings_from(config.getoption)` turns the values
into a frozen ProbeSettings, refusing inconsistent ones with a one-line ValueError (a usage
error: exit code 2), before any test runs.

Without `--node-probe`, the backend is `pod`, except against an emulated cluster: its nodes are
kwok's, where no pod ever runs, and its hosts are the files of `hosts/` beside its kubeconfig
(the state directory; the emulator writes `hosts/README.md` there). A run given that kubeconfig
reads those, as `harvester-conformance run` does when it starts the cluster itself. Only the
directory is looked at: the suite never imports the emulator.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harvester_conformance.probes.pod import DEFAULT_IMAGE
from harvester_conformance.probes.ssh import DEFAULT_USER, SshTarget, load_host_map, parse_host_pairs

BACKENDS = ("pod", "ssh", "simulated")


def add_options(group: Any) -> None:
    """Add the probe options to a pytest OptionGroup (anything with argparse's `addoption`)."""
    group.addoption(
        "--node-probe",
        choices=BACKENDS,
        default=None,
        help="how host facts are read (default: pod; simulated against an emulated cluster's kubeconfig)",
    )
    group.addoption(
        "--probe-image",
        default=DEFAULT_IMAGE,
        help=f"image of the pod probe; it only needs `chroot` (default: {DEFAULT_IMAGE})",
    )
    group.addoption("--ssh-user", default=DEFAULT_USER, help=f"SSH probe: login user (default: {DEFAULT_USER})")
    group.addoption("--ssh-key", metavar="FILE", help="SSH probe: private key file (unencrypted)")
    group.addoption("--ssh-hosts", metavar="FILE", help="SSH probe: YAML/JSON map of node name to address[:port]")
    group.addoption(
        "--ssh-host",
        action="append",
        default=[],
        metavar="NODE=ADDRESS",
        help="SSH probe: one node's address (repeatable; overrides --ssh-hosts)",
    )
    group.addoption(
        "--ssh-known-hosts", metavar="FILE", help="SSH probe: known_hosts file (default: ~/.ssh/known_hosts)"
    )
    group.addoption(
        "--ssh-insecure-host-keys",
        action="store_true",
        help="SSH probe: accept any host key (throw-away labs only)",
    )
    group.addoption("--ssh-sudo", action="store_true", help="SSH probe: read files through `sudo -n` (non-root user)")
    group.addoption("--hosts-dir", metavar="DIR", help="simulated probe: the emulated cluster's hosts directory")


@dataclass(frozen=True)
class ProbeSettings:
    """What `make_probe` needs; validated on construction."""

    backend: str = "pod"
    image: str = DEFAULT_IMAGE
    ssh_user: str = DEFAULT_USER
    ssh_key: Path | None = None
    ssh_hosts: tuple[tuple[str, SshTarget], ...] = ()
    ssh_known_hosts: Path | None = None
    ssh_insecure: bool = False
    ssh_sudo: bool = False
    hosts_dir: Path | None = None

    @property
    def host_map(self) -> dict[str, SshTarget]:
        return dict(self.ssh_hosts)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"--node-probe {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        if self.backend == "pod" and (not self.image or any(c.isspace() for c in self.image)):
            raise ValueError(f"--probe-image {self.image!r} is not an image reference")
        if self.backend == "ssh":
            self._check_ssh()
        if self.backend == "simulated":
            if self.hosts_dir is None:
                raise ValueError("--node-probe simulated needs --hosts-dir DIR (the emulated cluster's hosts)")
            if not self.hosts_dir.is_dir():
                raise ValueError(f"--hosts-dir {self.hosts_dir}: not a directory")

    def _check_ssh(self) -> None:
        if not self.ssh_hosts:
            raise ValueError("--node-probe ssh needs --ssh-hosts FILE or --ssh-host NODE=ADDRESS")
        if not self.ssh_user:
            raise ValueError("--ssh-user is empty")
        if self.ssh_key is None:
            raise ValueError("--node-probe ssh needs --ssh-key FILE")
        if not self.ssh_key.is_file() or not os.access(self.ssh_key, os.R_OK):
            raise ValueError(f"--ssh-key {self.ssh_key}: no readable file there")
        if self.ssh_known_hosts is not None and not self.ssh_known_hosts.is_file():
            raise ValueError(f"--ssh-known-hosts {self.ssh_known_hosts}: no such file")
        if self.ssh_known_hosts is not None and self.ssh_insecure:
            raise ValueError("--ssh-known-hosts and --ssh-insecure-host-keys exclude each other")


def settings_from(getoption: Callable[[str], Any]) -> ProbeSettings:
    """ProbeSettings from option values (`config.getoption`); ValueError names the bad option."""

    def path(name: str) -> Path | None:
        value = getoption(name)
        return Path(value).expanduser() if value else None

    backend = getoption("node_probe")
    hosts_dir = path("hosts_dir")
    if backend is None:
        emulated = emulated_hosts_dir(_option(getoption, "kubeconfig") or os.environ.get("KUBECONFIG"))
        backend = "simulated" if emulated else "pod"
        hosts_dir = hosts_dir or emulated
    hosts: dict[str, SshTarget] = {}
    if backend == "ssh":  # parse the map only when it is used: a stale file must not break pod runs
        hosts_file = path("ssh_hosts")
        if hosts_file is not None:
            hosts.update(load_host_map(hosts_file))
        hosts.update(parse_host_pairs(getoption("ssh_host") or []))
    return ProbeSettings(
        backend=backend,
        image=getoption("probe_image") or DEFAULT_IMAGE,
        ssh_user=getoption("ssh_user") or DEFAULT_USER,
        ssh_key=path("ssh_key"),
        ssh_hosts=tuple(sorted(hosts.items())),
        ssh_known_hosts=path("ssh_known_hosts"),
        ssh_insecure=bool(getoption("ssh_insecure_host_keys")),
        ssh_sudo=bool(getoption("ssh_sudo")),
        hosts_dir=hosts_dir,
    )


SIMULATED_HOSTS_TITLE = "# Simulated hosts"  # the first line of the emulator's hosts/README.md


def emulated_hosts_dir(kubeconfig: str | None) -> Path | None:
    """The simulated hosts of the emulated cluster whose kubeconfig this is (`hosts/` beside it,
    holding the emulator's README), or None for any other kubeconfig."""
    if not kubeconfig:
        return None
    first = kubeconfig.split(os.pathsep)[0]
    hosts = Path(first).expanduser().parent / "hosts"
    try:
        with open(hosts / "README.md") as readme:
            return hosts if readme.readline().strip() == SIMULATED_HOSTS_TITLE else None
    except OSError:
        return None


def _option(getoption: Callable[[str], Any], name: str) -> Any:
    """An option that may not be registered (ValueError from pytest, KeyError from a mapping)."""
    try:
        return getoption(name)
    except (KeyError, ValueError):
        return None


class ProbeOptions:
    """The node probe's pytest options, offered by `run` too: each is passed on to pytest only
    when given, so that the plugin applies the defaults."""

    def __init__(self, p: argparse.ArgumentParser) -> None:
        self.parser = p
        self.actions: list[argparse.Action] = []

    def addoption(self, *flags: str, **kwargs: object) -> None:
        kwargs["default"] = [] if kwargs.get("action") == "append" else None
        self.actions.append(self.parser.add_argument(*flags, **kwargs))  # type: ignore[arg-type]

    def argv(self, args: argparse.Namespace) -> list[str]:
        out: list[str] = []
        for action in self.actions:
            value, flag = getattr(args, action.dest), action.option_strings[0]
            if isinstance(action, argparse._StoreTrueAction):
                out += [flag] if value else []
            elif isinstance(value, list):
                out += [a for v in value for a in (flag, str(v))]
            elif value is not None:
                out += [flag, str(value)]
        return out
